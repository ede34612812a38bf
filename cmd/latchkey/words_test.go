package main

import (
	"testing"
	"time"
)

func TestPrefixedOnce(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"document360: document360: search: 503": "document360: search: 503",
		"search: 503":                           "document360: search: 503",
	} {
		if got := prefixed("document360", in); got != want {
			t.Errorf("prefixed(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRelTimeAndStatusWords(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	for d, want := range map[time.Duration]string{
		-10 * time.Second: "just now", -3 * time.Minute: "3 min ago", -5 * time.Hour: "5 h ago",
		-72 * time.Hour: "3 days ago", 2 * time.Hour: "in 2 h",
	} {
		if got := relTime(now.Add(d), now); got != want {
			t.Errorf("relTime(%v) = %q, want %q", d, got, want)
		}
	}
	if got := statusWord("in_progress"); got != "in progress" {
		t.Errorf("statusWord(in_progress) = %q", got)
	}
}
