package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testenv"
)

// TestMain lets this test binary play the harness's child roles, since Run
// re-executes os.Executable.
func TestMain(m *testing.M) {
	if len(os.Args) >= 3 && os.Args[1] == "-role" {
		var err error
		switch os.Args[2] {
		case "upstream":
			err = runUpstream()
		case "injector":
			err = runInjector("")
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestParseWrk(t *testing.T) {
	out := `Running 1s test @ http://127.0.0.1:1/
  1 threads and 1 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    52.00us   10.00us   1.00ms   90.00%
  Latency Distribution
     50%   48.00us
     75%   55.00us
     90%   60.00us
     99%    8.20ms
  10000 requests in 1.00s, 20.00MB read
Requests/sec:  10000.50
Transfer/sec:     20.00MB
`
	s, err := parseWrk(out)
	if err != nil || s.RPS != 10000.5 || s.P50 != 48*time.Microsecond || s.P99 != 8200*time.Microsecond { // 8.2 × 1e6 is 8199999.999… in floating point
		t.Fatalf("%+v %v", s, err)
	}
	if _, err := parseWrk(strings.Replace(out, "Transfer", "  Non-2xx or 3xx responses: 12\nTransfer", 1)); err == nil {
		t.Fatal("non-2xx responses not reported")
	}
}

// TestHarness runs the real harness briefly: nginx, wrk, the upstream and
// the injector all answer, and every request was a 2xx (parseWrk fails on
// anything else: the injector really injected the sealed token).
func TestHarness(t *testing.T) {
	testenv.Require(t, testenv.Bench)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Run(ctx, Options{Duration: time.Second, Runs: 1, Conns: []int{1, 8}, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range targets {
		for _, c := range []int{1, 8} {
			if s := res.Samples[tg][c]; len(s) != 1 || s[0].RPS <= 0 {
				t.Fatalf("%s c=%d: %+v", tg, c, s)
			}
		}
	}
	var b strings.Builder
	res.Print(&b)
	if !strings.Contains(b.String(), "c injector") || !strings.Contains(b.String(), "c/b") {
		t.Fatalf("table:\n%s", b.String())
	}
}
