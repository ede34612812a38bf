package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

func main() {
	role := flag.String("role", "", "internal: run as the upstream or the in-process injector child process")
	dur := flag.Duration("d", 5*time.Second, "duration of each wrk run")
	runs := flag.Int("runs", 5, "rounds per concurrency (the median and the range are reported; this machine varies by ±10% run to run)")
	conns := flag.String("c", "1,64", "concurrencies")
	threads := flag.Int("t", 1, "wrk threads")
	latchkey := flag.String("latchkey", "", "the latchkey binary to start as the daemon (make bench passes bin/latchkey); empty: build ./cmd/latchkey without cgo")
	procs := flag.Int("procs", 0, "CPUs of each proxy: nginx worker_processes and the daemon's max_procs; 0: every CPU, as both run by default")
	inProcess := flag.Bool("inprocess", false, "also measure, as a second row, the injector assembled inside this harness (not the daemon binary)")
	cpuprofile := flag.String("cpuprofile", "", "write the in-process injector's CPU profile here (with -inprocess)")
	abBin := flag.String("ab-bin", "", "A/B: also measure, in the same rounds, a daemon started from this other latchkey binary")
	abEnv := flag.String("ab-env", "", "A/B: also measure, in the same rounds, a daemon with these extra environment variables (KEY=VALUE,…; e.g. GOGC=400)")
	flag.Parse()

	var err error
	switch *role {
	case "upstream":
		err = runUpstream()
	case "injector":
		err = runInjector(*cpuprofile)
	case "":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		var cs []int
		for _, f := range strings.Split(*conns, ",") {
			n, perr := strconv.Atoi(strings.TrimSpace(f))
			if perr != nil || n < 1 {
				fmt.Fprintf(os.Stderr, "loadtest: bad -c %q\n", *conns)
				os.Exit(2)
			}
			cs = append(cs, n)
		}
		var res *Results
		res, err = Run(ctx, Options{Duration: *dur, Runs: *runs, Conns: cs, Threads: *threads, Latchkey: *latchkey,
			Procs: *procs, InProcess: *inProcess, CPUProfile: *cpuprofile, ABBinary: *abBin, ABEnv: splitList(*abEnv), Out: os.Stderr})
		if err == nil {
			res.Print(os.Stdout)
		}
	default:
		err = fmt.Errorf("unknown role %q", *role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

// Options configures a harness run.
type Options struct {
	Duration time.Duration
	Runs     int
	Conns    []int
	Threads  int
	// Latchkey is the latchkey binary started as the daemon; empty: the
	// harness builds ./cmd/latchkey (without cgo) into a temporary directory.
	Latchkey string
	// Procs is each proxy's CPUs: nginx's worker_processes and the daemon's
	// max_procs (0: every CPU, both programs' default).
	Procs int
	// InProcess adds the injector assembled inside the harness (the
	// injector package with a vault on SQLite, not the daemon) as a row.
	InProcess  bool
	CPUProfile string // the in-process injector's CPU profile
	// ABBinary and ABEnv add a second daemon: started from another latchkey
	// binary, or from this one with more environment, measured in the same
	// rounds as the daemon so that their ratio is not blurred by the machine.
	ABBinary string
	ABEnv    []string
	Out      io.Writer // progress
}

// Sample is one wrk run.
type Sample struct {
	RPS      float64
	P50, P99 time.Duration
	Requests int64
	// ProxyCPU and UpstreamCPU are the CPU time (user + system) the proxy
	// (nginx's workers or the daemon) and the upstream spent per request.
	ProxyCPU, UpstreamCPU time.Duration
}

// Results holds every sample: [target][conns] → samples in round order.
type Results struct {
	Conns   []int
	Samples map[string]map[int][]Sample
	Opts    Options
	Targets []string
	// Procs is the CPUs each proxy had; NginxVersion is `nginx -v`'s.
	Procs        int
	NginxVersion string
	// LoadStart and LoadEnd are the machine's 1-minute load average when
	// the rounds began and ended (other work on the machine moves the
	// figures).
	LoadStart, LoadEnd float64
	// Audited is how many of the daemon's newest audit entries are the
	// benchmark's proxied calls (the audit trail was on and written).
	Audited int
}

// The targets: the upstream directly, nginx adding a static header, the
// latchkey daemon; optionally the in-process injector and a daemon variant.
const (
	tDirect  = "a direct"
	tNginx   = "b nginx"
	tDaemon  = "c latchkey daemon"
	tInProc  = "d in-process injector"
	tVariant = "e daemon variant"
)

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// child is a started helper process that printed "KEY value" lines.
type child struct {
	cmd  *exec.Cmd
	vals map[string]string
}

// startChild starts this executable in another role (with env added to
// this process's) and waits for the KEY lines in want.
func startChild(ctx context.Context, env, args []string, want ...string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.Stderr = os.Stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, vals: map[string]string{}}
	sc := bufio.NewScanner(out)
	for len(c.vals) < len(want) && sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), " ")
		c.vals[k] = v
	}
	for _, k := range want {
		if c.vals[k] == "" {
			c.stop()
			return nil, fmt.Errorf("child %v did not report %s", args, k)
		}
	}
	go io.Copy(io.Discard, out)
	return c, nil
}

func (c *child) stop() {
	c.cmd.Process.Signal(syscall.SIGTERM)
	c.cmd.Wait()
}

// target is one thing wrk drives.
type target struct {
	url, header string
	pids        func() []int // the proxy's processes (nil: none)
}

// Run starts the upstream, nginx and the daemon (and the optional rows) and
// measures them.
func Run(ctx context.Context, o Options) (*Results, error) {
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Threads < 1 {
		o.Threads = 1
	}
	for _, bin := range []string{"nginx", "wrk"} {
		if _, err := lookPath(bin); err != nil {
			return nil, fmt.Errorf("%s not found: install it with `apt-get install -y nginx-light wrk`", bin)
		}
	}
	if err := needPrivateKeyring(); err != nil {
		return nil, err
	}
	procs := o.Procs
	if procs <= 0 {
		procs = numCPU()
	}
	bin := o.Latchkey
	if bin == "" {
		dir, err := os.MkdirTemp("", "latchkey-bench-bin-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		fmt.Fprintln(o.Out, "building ./cmd/latchkey (CGO_ENABLED=0; -latchkey PATH uses a built one)")
		if bin, err = buildLatchkey(ctx, dir); err != nil {
			return nil, err
		}
	} else if abs, err := filepath.Abs(bin); err == nil {
		bin = abs
	}

	up, err := startChild(ctx, nil, []string{"-role", "upstream"}, "ADDR")
	if err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	defer up.stop()
	upAddr := up.vals["ADDR"]
	direct := "http://" + upAddr + "/api/v1/data"

	ng, err := startNginx(ctx, upAddr, o.Procs)
	if err != nil {
		return nil, fmt.Errorf("nginx: %w", err)
	}
	defer ng.stop()

	dm, err := startDaemon(ctx, bin, upAddr, o.Procs, nil)
	if err != nil {
		return nil, fmt.Errorf("latchkey daemon: %w", err)
	}
	defer dm.stop()
	if err := dm.check(direct); err != nil {
		return nil, fmt.Errorf("latchkey daemon: %w", err)
	}

	tgts := []string{tDirect, tNginx, tDaemon}
	ts := map[string]target{
		tDirect: {url: direct, header: "Authorization: Bearer " + upstreamToken, pids: func() []int { return nil }},
		tNginx:  {url: "http://" + ng.addr + "/api/v1/data", pids: func() []int { return childPIDs(ng.cmd.Process.Pid) }},
		tDaemon: {url: "http://" + dm.addr + daemonDataPath, header: "Authorization: Bearer " + dm.jwt, pids: dm.pid},
	}
	if o.InProcess {
		injArgs := []string{"-role", "injector"}
		if o.CPUProfile != "" {
			abs, _ := filepath.Abs(o.CPUProfile)
			injArgs = append(injArgs, "-cpuprofile", abs)
		}
		injEnv := []string{"LATCHKEY_BENCH_UPSTREAM=" + upAddr, "LATCHKEY_BENCH_PROCS=" + strconv.Itoa(procs)}
		inj, err := startChild(ctx, injEnv, injArgs, "ADDR", "JWT")
		if err != nil {
			return nil, fmt.Errorf("in-process injector: %w", err)
		}
		defer inj.stop()
		tgts = append(tgts, tInProc)
		ts[tInProc] = target{url: "http://" + inj.vals["ADDR"] + "/v1/proxy/bench/api/v1/data",
			header: "Authorization: Bearer " + inj.vals["JWT"], pids: func() []int { return []int{inj.cmd.Process.Pid} }}
	}
	if o.ABBinary != "" || len(o.ABEnv) > 0 {
		abBin := bin
		if o.ABBinary != "" {
			if abBin, err = filepath.Abs(o.ABBinary); err != nil {
				return nil, err
			}
		}
		ab, err := startDaemon(ctx, abBin, upAddr, o.Procs, o.ABEnv)
		if err != nil {
			return nil, fmt.Errorf("latchkey daemon (variant): %w", err)
		}
		defer ab.stop()
		if err := ab.check(direct); err != nil {
			return nil, fmt.Errorf("latchkey daemon (variant): %w", err)
		}
		tgts = append(tgts, tVariant)
		ts[tVariant] = target{url: "http://" + ab.addr + daemonDataPath, header: "Authorization: Bearer " + ab.jwt, pids: ab.pid}
	}
	upPID := []int{up.cmd.Process.Pid}

	res := &Results{Conns: o.Conns, Samples: map[string]map[int][]Sample{}, Opts: o, Targets: tgts, Procs: procs, NginxVersion: nginxVersion()}
	for _, t := range tgts {
		res.Samples[t] = map[int][]Sample{}
		// Warm-up: connections, page cache, pools, the JWT cache.
		if _, err := runWrk(ctx, ts[t].url, ts[t].header, 16, o.Threads, time.Second); err != nil {
			return nil, fmt.Errorf("%s warm-up: %w", t, err)
		}
	}
	res.LoadStart = loadAverage()
	for _, c := range o.Conns {
		for r := 0; r < o.Runs; r++ {
			// Alternate the order from round to round, so that neither
			// proxy always runs right after the other.
			order := slices.Clone(tgts)
			if r%2 == 1 {
				slices.Reverse(order)
			}
			for _, t := range order {
				pp := ts[t].pids()
				p0, u0 := cpuTime(pp), cpuTime(upPID)
				s, err := runWrk(ctx, ts[t].url, ts[t].header, c, o.Threads, o.Duration)
				if err != nil {
					return nil, fmt.Errorf("%s c=%d: %w", t, c, err)
				}
				if s.Requests > 0 {
					s.ProxyCPU = (cpuTime(pp) - p0) / time.Duration(s.Requests)
					s.UpstreamCPU = (cpuTime(upPID) - u0) / time.Duration(s.Requests)
				}
				fmt.Fprintf(o.Out, "  c=%-3d round %d %-22s %9.0f req/s  p50 %-9s p99 %s\n", c, r+1, t, s.RPS, s.P50, s.P99)
				res.Samples[t][c] = append(res.Samples[t][c], s)
			}
		}
	}
	res.LoadEnd = loadAverage()
	// The audit trail was on: the daemon recorded the calls. Its queue is
	// committed within about 50 ms of a call; poll until entries show.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		n, err := dm.auditCount(ctx, 100)
		if err != nil {
			return nil, fmt.Errorf("latchkey daemon: %w", err)
		}
		if n > 0 {
			res.Audited = n
			break
		}
		if time.Now().After(deadline) {
			return nil, errors.New("latchkey daemon: `latchkey audit` lists none of the benchmark's calls: the audit trail did not record them")
		}
	}
	return res, nil
}

// loadAverage is the machine's 1-minute load average (0 if unknown).
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// nginxVersion is "nginx/1.22.1" or "nginx".
func nginxVersion() string {
	bin, err := lookPath("nginx")
	if err != nil {
		return "nginx"
	}
	out, _ := exec.Command(bin, "-v").CombinedOutput()
	if _, v, ok := strings.Cut(strings.TrimSpace(string(out)), "version: "); ok {
		return v
	}
	return "nginx"
}

func lookPath(bin string) (string, error) {
	if p, err := exec.LookPath(bin); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/usr/local/sbin", "/sbin"} {
		p := filepath.Join(d, bin)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", errors.New("not found")
}

var (
	reRPS     = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	reReqs    = regexp.MustCompile(`(\d+) requests in`)
	reLat     = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
	reNon2xx  = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`)
	reSockErr = regexp.MustCompile(`Socket errors:.*`)
)

func runWrk(ctx context.Context, url, header string, conns, threads int, d time.Duration) (Sample, error) {
	wrk, _ := lookPath("wrk")
	args := []string{"-t", strconv.Itoa(min(threads, conns)), "-c", strconv.Itoa(conns),
		"-d", fmt.Sprintf("%ds", max(int(d/time.Second), 1)), "--latency"}
	if header != "" {
		args = append(args, "-H", header)
	}
	args = append(args, url)
	out, err := exec.CommandContext(ctx, wrk, args...).CombinedOutput()
	if err != nil {
		return Sample{}, fmt.Errorf("wrk: %v: %s", err, lastLines(out))
	}
	return parseWrk(string(out))
}

func parseWrk(out string) (Sample, error) {
	var s Sample
	m := reRPS.FindStringSubmatch(out)
	if m == nil {
		return s, fmt.Errorf("no Requests/sec in wrk output: %s", out)
	}
	s.RPS, _ = strconv.ParseFloat(m[1], 64)
	if m := reReqs.FindStringSubmatch(out); m != nil {
		s.Requests, _ = strconv.ParseInt(m[1], 10, 64)
	}
	for _, lm := range reLat.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(lm[2], 64)
		unit := map[string]float64{"us": 1e3, "ms": 1e6, "s": 1e9}[lm[3]]
		d := time.Duration(math.Round(v * unit))
		if lm[1] == "50" {
			s.P50 = d
		} else {
			s.P99 = d
		}
	}
	if s.P50 == 0 || s.P99 == 0 {
		return s, fmt.Errorf("no latency distribution in wrk output: %s", out)
	}
	if m := reNon2xx.FindStringSubmatch(out); m != nil && m[1] != "0" {
		return s, fmt.Errorf("%s non-2xx responses (the target refused requests)", m[1])
	}
	if m := reSockErr.FindString(out); m != "" {
		return s, fmt.Errorf("wrk: %s", m)
	}
	return s, nil
}

func lastLines(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, " | ")
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func (r *Results) med(t string, c int, f func(Sample) float64) float64 {
	var xs []float64
	for _, s := range r.Samples[t][c] {
		xs = append(xs, f(s))
	}
	return median(xs)
}

// Spread is a median over rounds with the rounds' lowest and highest.
type Spread struct{ Median, Min, Max float64 }

func spread(xs []float64) Spread {
	if len(xs) == 0 {
		return Spread{}
	}
	return Spread{Median: median(xs), Min: slices.Min(xs), Max: slices.Max(xs)}
}

func (s Spread) String() string {
	if s.Min == s.Max {
		return fmt.Sprintf("%.2f", s.Median)
	}
	return fmt.Sprintf("%.2f (%.2f–%.2f)", s.Median, s.Min, s.Max)
}

// Ratio is, over rounds, target x's throughput over y's in the same round.
func (r *Results) Ratio(x, y string, c int) Spread {
	var xs []float64
	for i := range r.Samples[x][c] {
		if i < len(r.Samples[y][c]) && r.Samples[y][c][i].RPS > 0 {
			xs = append(xs, r.Samples[x][c][i].RPS/r.Samples[y][c][i].RPS)
		}
	}
	return spread(xs)
}

// AddedRatio is, over rounds, the latency target x adds over direct at p50
// divided by what nginx adds, in the same round (nginx's added latency
// counted as at least 1µs).
func (r *Results) AddedRatio(x string, c int) Spread {
	var xs []float64
	a, b, t := r.Samples[tDirect][c], r.Samples[tNginx][c], r.Samples[x][c]
	for i := range t {
		if i < len(a) && i < len(b) {
			xs = append(xs, float64(t[i].P50-a[i].P50)/float64(max(b[i].P50-a[i].P50, time.Microsecond)))
		}
	}
	return spread(xs)
}

func rps(s Sample) float64         { return s.RPS }
func p50(s Sample) float64         { return float64(s.P50) }
func p99(s Sample) float64         { return float64(s.P99) }
func proxyCPU(s Sample) float64    { return float64(s.ProxyCPU) }
func upstreamCPU(s Sample) float64 { return float64(s.UpstreamCPU) }

func cpuCell(d float64) string {
	if d <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fµs", d/1e3)
}

// AddedP50 is how much target t adds over direct at p50 (median of rounds).
func (r *Results) AddedP50(t string, c int) time.Duration {
	return time.Duration(r.med(t, c, p50) - r.med(tDirect, c, p50))
}

// Print writes the table and the targets' verdicts.
func (r *Results) Print(w io.Writer) {
	fmt.Fprintf(w, "latchkey load test: the daemon binary (`latchkey daemon`, connected to its upstream with client_credentials)\n"+
		"against %s as a tuned reverse proxy; the upstream serves 2 KB of JSON.\n"+
		"%d round(s) of %s per target and concurrency, the order reversed every other round; wrk -t%d; %d CPUs on the machine,\n"+
		"each proxy may use %d (nginx worker_processes, the daemon's max_procs); load average %.1f at the start, %.1f at the end.\n",
		r.NginxVersion, r.Opts.Runs, r.Opts.Duration, r.Opts.Threads, numCPU(), r.Procs, r.LoadStart, r.LoadEnd)
	fmt.Fprintf(w, "  b nginx: %s.\n", nginxTuning)
	fmt.Fprintf(w, "  c latchkey daemon: as a user runs it: caller JWT checked, token opened from the vault (SQLite, salt in the\n"+
		"    Secret Service keychain) per request, audit trail ON (every call to SQLite; %d of `latchkey audit`'s newest 100\n"+
		"    entries are this run's calls), log level info (no line per request).\n", r.Audited)
	if slices.Contains(r.Targets, tInProc) {
		fmt.Fprintln(w, "  d in-process injector: NOT the daemon: the injector package assembled inside the harness (vault on SQLite,\n"+
			"    file keychain, audit to SQLite), to tell the daemon's own cost from the injector's.")
	}
	if slices.Contains(r.Targets, tVariant) {
		what := r.Opts.ABBinary
		if what == "" {
			what = strings.Join(r.Opts.ABEnv, " ")
		}
		fmt.Fprintf(w, "  e daemon variant: %s.\n", what)
	}
	fmt.Fprintln(w, "x/b: the median of the rounds' throughput ratios to nginx (lowest–highest); added p50 / nginx's: what the target adds\n"+
		"over direct at p50 divided by what nginx adds, per round; CPU/req: user+system time per request.")
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "conns\ttarget\treq/s (median)\tp50\tp99\tx/b\tadded p50 / nginx's\tproxy CPU/req\tupstream CPU/req\t")
	for _, c := range r.Conns {
		for _, t := range r.Targets {
			xb, added := "", ""
			if t != tDirect && t != tNginx {
				xb = r.Ratio(t, tNginx, c).String()
				added = r.AddedRatio(t, c).String()
			}
			pcpu := ""
			if t != tDirect {
				pcpu = cpuCell(r.med(t, c, proxyCPU))
			}
			fmt.Fprintf(tw, "%d\t%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t\n", c, t, r.med(t, c, rps),
				time.Duration(r.med(t, c, p50)).Round(time.Microsecond), time.Duration(r.med(t, c, p99)).Round(time.Microsecond), xb, added,
				pcpu, cpuCell(r.med(t, c, upstreamCPU)))
		}
	}
	tw.Flush()
	fmt.Fprintln(w)
	if slices.Contains(r.Targets, tVariant) {
		for _, c := range r.Conns {
			fmt.Fprintf(w, "A/B at c=%d: e/c %s (per-round throughput ratios)\n", c, r.Ratio(tVariant, tDaemon, c))
		}
	}
	if slices.Contains(r.Conns, 64) {
		cb := r.Ratio(tDaemon, tNginx, 64)
		fmt.Fprintf(w, "target c/b >= 0.80 at c=64 (the daemon's throughput over tuned nginx's): %s %s\n", cb, verdict(cb.Median >= 0.8))
	}
	if slices.Contains(r.Conns, 1) {
		an, ai := r.AddedP50(tNginx, 1), r.AddedP50(tDaemon, 1)
		ratio := r.AddedRatio(tDaemon, 1)
		fmt.Fprintf(w, "target added p50 at c=1 <= 1.5x nginx's: nginx adds %s, the daemon %s (medians); per round %s %s\n",
			an.Round(time.Microsecond), ai.Round(time.Microsecond), ratio, verdict(ratio.Median <= 1.5))
	}
}

func verdict(ok bool) string {
	if ok {
		return "MET"
	}
	return "NOT MET"
}

// freePort returns a loopback address with a port free right now.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
