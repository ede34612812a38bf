package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// daemonIntegration is the integration the daemon under test connects: the
// harness's upstream configured as a Docebo platform.
const daemonIntegration = "docebo"

// daemonDataPath is what wrk asks the daemon for: the upstream's data path
// through the proxy route.
const daemonDataPath = "/v1/proxy/" + daemonIntegration + "/api/v1/data"

// latchkeyDaemon is a `latchkey daemon` process set up as a user would:
// configured, started, connected with client_credentials, and a local JWT
// obtained with `latchkey token`.
type latchkeyDaemon struct {
	bin  string
	env  []string
	home string
	cmd  *exec.Cmd
	addr string
	jwt  string
	log  bytes.Buffer // the daemon's stderr, shown when it fails
	done chan struct{}
}

// startDaemon runs bin (a latchkey binary) in a home of its own: isolated
// XDG_STATE_HOME, XDG_DATA_HOME, XDG_CONFIG_HOME and XDG_RUNTIME_DIR, the
// caller's Secret Service keychain (the private one scripts/with-keyring.sh
// starts), the harness's upstream as its Docebo platform. procs > 0 sets
// max_procs (LATCHKEY_MAX_PROCS); extra is added to the environment.
func startDaemon(ctx context.Context, bin, upstream string, procs int, extra []string) (*latchkeyDaemon, error) {
	if err := needPrivateKeyring(); err != nil {
		return nil, err
	}
	home, err := os.MkdirTemp("", "latchkey-bench-daemon-")
	if err != nil {
		return nil, err
	}
	d := &latchkeyDaemon{bin: bin, home: home, done: make(chan struct{})}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "XDG_") || strings.HasPrefix(k, "LATCHKEY_") || k == "GOMAXPROCS" {
			continue
		}
		d.env = append(d.env, kv)
	}
	for _, k := range []string{"XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_RUNTIME_DIR"} {
		dir := filepath.Join(home, strings.ToLower(strings.TrimPrefix(k, "XDG_")))
		if err := os.Mkdir(dir, 0o700); err != nil {
			os.RemoveAll(home)
			return nil, err
		}
		d.env = append(d.env, k+"="+dir)
	}
	if procs > 0 {
		d.env = append(d.env, "LATCHKEY_MAX_PROCS="+strconv.Itoa(procs))
	}
	d.env = append(d.env, extra...)
	fail := func(err error) (*latchkeyDaemon, error) {
		d.stop()
		if log := strings.TrimSpace(d.log.String()); log != "" {
			err = fmt.Errorf("%w (daemon log: %s)", err, lastLines([]byte(log)))
		}
		return nil, err
	}

	if _, err := d.run(ctx, upstreamClientSecret, "configure", daemonIntegration,
		"--url", "http://"+upstream, "--client-id", benchClientID); err != nil {
		return fail(err)
	}
	if d.addr, err = freePort(); err != nil {
		return fail(err)
	}
	d.cmd = exec.Command(bin, "daemon", "--listen", d.addr, "--no-tray", "--log-format", "text")
	d.cmd.Env = d.env
	d.cmd.Stdout, d.cmd.Stderr = &d.log, &d.log
	if err := d.cmd.Start(); err != nil {
		close(d.done)
		return fail(fmt.Errorf("start %s daemon: %w", bin, err))
	}
	go func() { d.cmd.Wait(); close(d.done) }()
	if err := d.waitHealthy(ctx, 30*time.Second); err != nil {
		return fail(err)
	}
	if _, err := d.run(ctx, "", "connect", daemonIntegration, "--grant", "client_credentials", "--timeout", "1m"); err != nil {
		return fail(err)
	}
	out, err := d.run(ctx, "", "token", "--integrations", daemonIntegration, "--ttl", "24h")
	if err != nil {
		return fail(err)
	}
	if d.jwt = strings.TrimSpace(out); d.jwt == "" {
		return fail(errors.New("latchkey token printed no token"))
	}
	return d, nil
}

// run runs the CLI with stdin and returns its stdout; an error carries its
// stderr (the CLI's one-line error).
func (d *latchkeyDaemon) run(ctx context.Context, stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.bin, args...)
	cmd.Env = d.env
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("latchkey %s: %v: %s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// waitHealthy polls /healthz until the daemon answers 200, exits, or
// within passes (nothing else tells when its listener is up).
func (d *latchkeyDaemon) waitHealthy(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		select {
		case <-d.done:
			return errors.New("latchkey daemon exited during start")
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		resp, err := http.Get("http://" + d.addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("latchkey daemon did not answer /healthz on %s within %v", d.addr, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// check makes one proxied call as wrk will and compares the answer with the
// upstream's own.
func (d *latchkeyDaemon) check(direct string) error {
	get := func(url, auth string) (int, []byte, error) {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			return 0, nil, err
		}
		req.Header.Set("Authorization", auth)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, b, err
	}
	_, want, err := get(direct, "Bearer "+upstreamToken)
	if err != nil {
		return err
	}
	st, got, err := get("http://"+d.addr+daemonDataPath, "Bearer "+d.jwt)
	if err != nil {
		return err
	}
	if st != http.StatusOK || !bytes.Equal(got, want) {
		return fmt.Errorf("GET %s through the daemon: status %d, %d bytes (want 200 and the upstream's %d bytes): %.200s", daemonDataPath, st, len(got), len(want), got)
	}
	return nil
}

// auditCount is how many of the daemon's audit entries (at most limit, the
// newest) are proxied calls to the integration that got a 200.
func (d *latchkeyDaemon) auditCount(ctx context.Context, limit int) (int, error) {
	out, err := d.run(ctx, "", "audit", "--json", "--limit", strconv.Itoa(limit))
	if err != nil {
		return 0, err
	}
	var doc struct {
		Entries []struct {
			Integration string `json:"integration"`
			Path        string `json:"path"`
			Status      int    `json:"status"`
		} `json:"entries"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		return 0, fmt.Errorf("latchkey audit --json: %w", err)
	}
	n := 0
	for _, e := range doc.Entries {
		if e.Integration == daemonIntegration && e.Status == http.StatusOK && strings.HasSuffix(e.Path, "/api/v1/data") {
			n++
		}
	}
	return n, nil
}

func (d *latchkeyDaemon) pid() []int {
	if d.cmd == nil || d.cmd.Process == nil {
		return nil
	}
	return []int{d.cmd.Process.Pid}
}

// stop ends the daemon with SIGTERM (it drains its audit queue on a clean
// stop), waits for it, and removes its home.
func (d *latchkeyDaemon) stop() {
	if d.cmd != nil && d.cmd.Process != nil {
		d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(15 * time.Second):
			d.cmd.Process.Kill()
			<-d.done
		}
	}
	os.RemoveAll(d.home)
}

// needPrivateKeyring refuses to start a daemon outside the private keychain
// scripts/with-keyring.sh starts (LATCHKEY_TEST_KEYRING), so that the
// benchmark's salt never lands in a desktop user's own keyring.
func needPrivateKeyring() error {
	if os.Getenv("LATCHKEY_TEST_KEYRING") == "" {
		return errors.New("the daemon needs a private Secret Service keychain: run the load test through `make bench` or scripts/with-keyring.sh (it never uses your own keyring)")
	}
	return nil
}

// buildLatchkey builds ./cmd/latchkey of the module this harness runs in
// into dir, without cgo (no tray: the harness runs it with --no-tray).
func buildLatchkey(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" || strings.TrimSpace(string(out)) == os.DevNull {
		return "", errors.New("cannot find the latchkey module to build the daemon: give -latchkey PATH (make build writes bin/latchkey)")
	}
	bin := filepath.Join(dir, "latchkey")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/latchkey")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(out)))
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/latchkey: %v: %s", err, lastLines(b))
	}
	return bin, nil
}
