package redact

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestSecretNeverPrints(t *testing.T) {
	t.Parallel()
	const value = "tok-ABCDEF123456"
	s := New(value)
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "secret", s, "nested", struct{ S Secret }{s})
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "secret", s)
	j, _ := json.Marshal(map[string]any{"s": s})
	outs := []string{
		fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q %x", s, s, s, s, s, s),
		fmt.Sprintf("%v", struct{ S Secret }{s}), logs.String(), string(j),
	}
	for _, o := range outs {
		if strings.Contains(o, value) {
			t.Fatalf("secret leaked: %s", o)
		}
		if !strings.Contains(o, Placeholder) {
			t.Fatalf("placeholder missing: %s", o)
		}
	}
	if s.Reveal() != value {
		t.Fatal("Reveal lost the value")
	}
}
