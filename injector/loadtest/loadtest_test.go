package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"strings"
	"sync"
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
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func TestParseWrk(t *testing.T) {
	t.Parallel()
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

// latchkeyBin builds ./cmd/latchkey once for the tests that start the daemon.
var latchkeyBin = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "latchkey-loadtest-bin-")
	if err != nil {
		return "", err
	}
	binDir = dir
	return buildLatchkey(context.Background(), dir)
})

var binDir string

func needDaemon(t *testing.T) string {
	t.Helper()
	testenv.Require(t, testenv.Bench)
	testenv.Require(t, testenv.Keyring)
	bin, err := latchkeyBin()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestDaemonAsUser starts the real daemon binary as the harness does
// (configured, `latchkey daemon`, connected with client_credentials to the
// harness's upstream, a JWT from `latchkey token`) and gets the upstream's
// 2 KB answer through its proxy route; a caller without a valid JWT is
// refused, and the call is in `latchkey audit`.
func TestDaemonAsUser(t *testing.T) {
	bin := needDaemon(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	up, err := startChild(ctx, nil, []string{"-role", "upstream"}, "ADDR")
	if err != nil {
		t.Fatal(err)
	}
	defer up.stop()
	dm, err := startDaemon(ctx, bin, up.vals["ADDR"], 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dm.stop()
	if err := dm.check("http://" + up.vals["ADDR"] + "/api/v1/data"); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+dm.addr+daemonDataPath, nil)
	req.Header.Set("Authorization", "Bearer "+dm.jwt+"x")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a forged caller JWT got %d through the daemon, want 401", resp.StatusCode)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		n, err := dm.auditCount(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("latchkey audit lists %d proxied 200 calls, want 1", n)
		}
	}
}

// TestHarness runs the real harness briefly: nginx, wrk, the upstream, the
// daemon and the in-process injector all answer, every request was a 2xx
// (parseWrk fails on anything else: the daemon really injected the token it
// got with client_credentials), and the daemon's audit trail has the calls.
func TestHarness(t *testing.T) {
	bin := needDaemon(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := Run(ctx, Options{Duration: time.Second, Runs: 2, Conns: []int{1, 8}, Threads: 1, Latchkey: bin, InProcess: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range []string{tDirect, tNginx, tDaemon, tInProc} {
		for _, c := range []int{1, 8} {
			if s := res.Samples[tg][c]; len(s) != 2 || s[0].RPS <= 0 || s[1].RPS <= 0 {
				t.Fatalf("%s c=%d: %+v", tg, c, s)
			}
		}
	}
	if res.Audited == 0 {
		t.Fatal("the daemon's audit trail has none of the calls")
	}
	var b strings.Builder
	res.Print(&b)
	for _, want := range []string{"c latchkey daemon", "d in-process injector: NOT the daemon", "audit trail ON", "multi_accept on", "x/b", "added p50 at c=1"} {
		if !strings.Contains(b.String(), want) {
			t.Fatalf("table lacks %q:\n%s", want, b.String())
		}
	}
}

// TestPrint checks the table's ratios and verdicts on made-up samples:
// per-round ratios, their range, and the targets.
func TestPrint(t *testing.T) {
	t.Parallel()
	us := time.Microsecond
	r := &Results{Conns: []int{1, 64}, Targets: []string{tDirect, tNginx, tDaemon}, Procs: 2, NginxVersion: "nginx/1.22.1",
		Opts: Options{Runs: 2, Duration: time.Second, Threads: 1}, Samples: map[string]map[int][]Sample{
			tDirect: {1: {{RPS: 10000, P50: 50 * us, P99: 90 * us}, {RPS: 10000, P50: 50 * us, P99: 90 * us}},
				64: {{RPS: 60000, P50: 900 * us, P99: 2000 * us}, {RPS: 60000, P50: 900 * us, P99: 2000 * us}}},
			tNginx: {1: {{RPS: 6000, P50: 130 * us, P99: 200 * us}, {RPS: 6000, P50: 150 * us, P99: 200 * us}},
				64: {{RPS: 30000, P50: 2000 * us, P99: 4000 * us}, {RPS: 32000, P50: 2000 * us, P99: 4000 * us}}},
			tDaemon: {1: {{RPS: 5000, P50: 170 * us, P99: 300 * us}, {RPS: 5000, P50: 250 * us, P99: 300 * us}},
				64: {{RPS: 24000, P50: 2500 * us, P99: 5000 * us}, {RPS: 28800, P50: 2400 * us, P99: 5000 * us}}},
		}}
	if got := r.Ratio(tDaemon, tNginx, 64); !near(got, Spread{Median: 0.85, Min: 0.8, Max: 0.9}) {
		t.Fatalf("c/b at 64: %+v", got)
	}
	// Added p50 over direct, daemon / nginx: 120/80 = 1.5 and 200/100 = 2.
	if got := r.AddedRatio(tDaemon, 1); !near(got, Spread{Median: 1.75, Min: 1.5, Max: 2}) {
		t.Fatalf("added p50 ratio at 1: %+v", got)
	}
	var b strings.Builder
	r.Print(&b)
	for _, want := range []string{
		"target c/b >= 0.80 at c=64 (the daemon's throughput over tuned nginx's): 0.85 (0.80–0.90) MET",
		"target added p50 at c=1 <= 1.5x nginx's: nginx adds 90µs, the daemon 160µs (medians); per round 1.75 (1.50–2.00) NOT MET",
	} {
		if !strings.Contains(b.String(), want) {
			t.Fatalf("table lacks %q:\n%s", want, b.String())
		}
	}
}

func near(a, b Spread) bool {
	const eps = 1e-9
	return math.Abs(a.Median-b.Median) < eps && math.Abs(a.Min-b.Min) < eps && math.Abs(a.Max-b.Max) < eps
}
