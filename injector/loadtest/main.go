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
	role := flag.String("role", "", "internal: run as the upstream or the injector child process")
	dur := flag.Duration("d", 5*time.Second, "duration of each wrk run")
	runs := flag.Int("runs", 5, "rounds per concurrency (the median is reported; this machine varies by ±10% run to run)")
	conns := flag.String("c", "1,16,64", "concurrencies")
	threads := flag.Int("t", 1, "wrk threads")
	cpuprofile := flag.String("cpuprofile", "", "write the injector's CPU profile here")
	injProcs := flag.Int("injprocs", 0, "GOMAXPROCS of the injector process; 0: Go's default, as the daemon runs by default (max_procs)")
	abBin := flag.String("ab-bin", "", "A/B: also measure, as target d in the same rounds, the injector of this loadtest binary (another build)")
	abEnv := flag.String("ab-env", "", "A/B: also measure, as target d, the injector with these extra environment variables (KEY=VALUE,…; e.g. GOGC=400)")
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
		res, err = Run(ctx, Options{Duration: *dur, Runs: *runs, Conns: cs, Threads: *threads, CPUProfile: *cpuprofile, ABBinary: *abBin, ABEnv: splitList(*abEnv), InjectorProcs: *injProcs, Out: os.Stderr})
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
	Duration   time.Duration
	Runs       int
	Conns      []int
	Threads    int
	CPUProfile string
	// ABBinary and ABEnv add target d: the injector role of another
	// loadtest build, or of this one with more environment, measured in the
	// same rounds as c so that the ratio d/c is not blurred by the machine.
	ABBinary string
	ABEnv    []string
	// InjectorProcs is the injector's GOMAXPROCS (0: Go's default).
	InjectorProcs int
	Out           io.Writer // progress
}

// Sample is one wrk run.
type Sample struct {
	RPS      float64
	P50, P99 time.Duration
	Requests int64
	// ProxyCPU and UpstreamCPU are the CPU time (user + system) the proxy
	// (nginx's workers or the injector) and the upstream spent per request.
	ProxyCPU, UpstreamCPU time.Duration
}

// Results holds every sample: [target][conns] → samples in round order.
type Results struct {
	Conns   []int
	Samples map[string]map[int][]Sample
	Opts    Options
	Targets []string
}

var targets = []string{"a direct", "b nginx", "c injector"}

const targetAB = "d variant"

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
	return startChildExe(ctx, exe, env, args, want...)
}

// startChildExe starts exe (with env added to this process's) and waits for
// the KEY lines in want.
func startChildExe(ctx context.Context, exe string, env, args []string, want ...string) (*child, error) {
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

// Run starts the three targets and measures them.
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
	up, err := startChild(ctx, nil, []string{"-role", "upstream"}, "ADDR")
	if err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	defer up.stop()
	upAddr := up.vals["ADDR"]

	ng, err := startNginx(ctx, upAddr)
	if err != nil {
		return nil, fmt.Errorf("nginx: %w", err)
	}
	defer ng.stop()

	injArgs := []string{"-role", "injector"}
	if o.CPUProfile != "" {
		abs, _ := filepath.Abs(o.CPUProfile)
		injArgs = append(injArgs, "-cpuprofile", abs)
	}
	injEnv := []string{"LATCHKEY_BENCH_UPSTREAM=" + upAddr}
	if o.InjectorProcs > 0 {
		injEnv = append(injEnv, "LATCHKEY_BENCH_PROCS="+strconv.Itoa(o.InjectorProcs))
	}
	injCmd, err := startChild(ctx, injEnv, injArgs, "ADDR", "JWT")
	if err != nil {
		return nil, fmt.Errorf("injector: %w", err)
	}
	defer injCmd.stop()
	tgts := targets
	urls := map[string]string{
		targets[0]: "http://" + upAddr + "/api/v1/data",
		targets[1]: "http://" + ng.addr + "/api/v1/data",
		targets[2]: "http://" + injCmd.vals["ADDR"] + "/v1/proxy/bench/api/v1/data",
	}
	headers := map[string]string{
		targets[0]: "Authorization: Bearer " + upstreamToken,
		targets[1]: "",
		targets[2]: "Authorization: Bearer " + injCmd.vals["JWT"],
	}
	proxyPIDs := map[string]func() []int{
		targets[0]: func() []int { return nil },
		targets[1]: func() []int { return childPIDs(ng.cmd.Process.Pid) },
		targets[2]: func() []int { return []int{injCmd.cmd.Process.Pid} },
	}
	if o.ABBinary != "" || len(o.ABEnv) > 0 {
		exe := o.ABBinary
		if exe == "" {
			if exe, err = os.Executable(); err != nil {
				return nil, err
			}
		}
		ab, err := startChildExe(ctx, exe, append(slices.Clone(injEnv), o.ABEnv...), []string{"-role", "injector"}, "ADDR", "JWT")
		if err != nil {
			return nil, fmt.Errorf("injector (variant): %w", err)
		}
		defer ab.stop()
		tgts = append(slices.Clone(targets), targetAB)
		urls[targetAB] = "http://" + ab.vals["ADDR"] + "/v1/proxy/bench/api/v1/data"
		headers[targetAB] = "Authorization: Bearer " + ab.vals["JWT"]
		proxyPIDs[targetAB] = func() []int { return []int{ab.cmd.Process.Pid} }
	}
	upPID := []int{up.cmd.Process.Pid}

	res := &Results{Conns: o.Conns, Samples: map[string]map[int][]Sample{}, Opts: o, Targets: tgts}
	for _, t := range tgts {
		res.Samples[t] = map[int][]Sample{}
		// Warm-up: connections, caches, JIT-free but page cache and pools.
		if _, err := runWrk(ctx, urls[t], headers[t], 16, o.Threads, time.Second); err != nil {
			return nil, fmt.Errorf("%s warm-up: %w", t, err)
		}
	}
	for _, c := range o.Conns {
		for r := 0; r < o.Runs; r++ {
			for _, t := range tgts {
				pp := proxyPIDs[t]()
				p0, u0 := cpuTime(pp), cpuTime(upPID)
				s, err := runWrk(ctx, urls[t], headers[t], c, o.Threads, o.Duration)
				if err != nil {
					return nil, fmt.Errorf("%s c=%d: %w", t, c, err)
				}
				if s.Requests > 0 {
					s.ProxyCPU = (cpuTime(pp) - p0) / time.Duration(s.Requests)
					s.UpstreamCPU = (cpuTime(upPID) - u0) / time.Duration(s.Requests)
				}
				fmt.Fprintf(o.Out, "  c=%-3d round %d %-11s %9.0f req/s  p50 %-9s p99 %s\n", c, r+1, t, s.RPS, s.P50, s.P99)
				res.Samples[t][c] = append(res.Samples[t][c], s)
			}
		}
	}
	return res, nil
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

// Ratio is the median over rounds of target x's throughput over y's.
func (r *Results) Ratio(x, y string, c int) float64 {
	var xs []float64
	for i := range r.Samples[x][c] {
		if i < len(r.Samples[y][c]) && r.Samples[y][c][i].RPS > 0 {
			xs = append(xs, r.Samples[x][c][i].RPS/r.Samples[y][c][i].RPS)
		}
	}
	return median(xs)
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
	return time.Duration(r.med(t, c, p50) - r.med(targets[0], c, p50))
}

// Print writes the table and the targets' verdicts.
func (r *Results) Print(w io.Writer) {
	procs := "Go default"
	if r.Opts.InjectorProcs > 0 {
		procs = strconv.Itoa(r.Opts.InjectorProcs)
	}
	fmt.Fprintf(w, "injector load test: %d round(s) of %s per target and concurrency, wrk -t%d, %d CPUs, injector GOMAXPROCS %s\n"+
		"(c/a and c/b are medians of per-round ratios; a, b and c of a round run back to back;\n"+
		" CPU/req is user+system time per request of the proxy (nginx's workers, the injector) and of the upstream)\n\n",
		r.Opts.Runs, r.Opts.Duration, r.Opts.Threads, numCPU(), procs)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "conns\ttarget\treq/s (median)\tp50\tp99\tc/a\tc/b\tproxy CPU/req\tupstream CPU/req\t")
	for _, c := range r.Conns {
		for i, t := range r.Targets {
			ca, cb := "", ""
			if i >= 2 {
				ca = fmt.Sprintf("%.2f", r.Ratio(t, targets[0], c))
				cb = fmt.Sprintf("%.2f", r.Ratio(t, targets[1], c))
			}
			pcpu := ""
			if i > 0 {
				pcpu = cpuCell(r.med(t, c, proxyCPU))
			}
			fmt.Fprintf(tw, "%d\t%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t\n", c, t, r.med(t, c, rps),
				time.Duration(r.med(t, c, p50)).Round(time.Microsecond), time.Duration(r.med(t, c, p99)).Round(time.Microsecond), ca, cb,
				pcpu, cpuCell(r.med(t, c, upstreamCPU)))
		}
	}
	tw.Flush()
	fmt.Fprintln(w)
	if slices.Contains(r.Targets, targetAB) {
		for _, c := range r.Conns {
			fmt.Fprintf(w, "A/B at c=%d: d/c %.3f (median of per-round ratios)\n", c, r.Ratio(targetAB, targets[2], c))
		}
	}
	if slices.Contains(r.Conns, 64) {
		cb := r.Ratio(targets[2], targets[1], 64)
		fmt.Fprintf(w, "target c/b >= 0.80 at c=64: %.3f %s\n", cb, verdict(cb >= 0.8))
	}
	if slices.Contains(r.Conns, 1) {
		an, ai := r.AddedP50(targets[1], 1), r.AddedP50(targets[2], 1)
		ratio := float64(ai) / float64(max(an, time.Microsecond))
		fmt.Fprintf(w, "target added p50 at c=1 <= 1.5x nginx's: nginx adds %s, injector adds %s (%.2fx) %s\n",
			an.Round(time.Microsecond), ai.Round(time.Microsecond), ratio, verdict(ratio <= 1.5))
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
