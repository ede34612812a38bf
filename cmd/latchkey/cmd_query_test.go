package main

import (
	"testing"
	"time"
)

func TestRoundDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		342658 * time.Nanosecond:      "343µs",
		12345678 * time.Nanosecond:    "12.3ms",
		1234567890 * time.Nanosecond:  "1.23s",
		0:                             "0s",
		61234567890 * time.Nanosecond: "1m1.23s",
	} {
		if got := roundDuration(d).String(); got != want {
			t.Errorf("roundDuration(%d) = %s, want %s", d, got, want)
		}
	}
}
