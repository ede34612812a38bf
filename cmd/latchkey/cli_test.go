package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/integrations/docebo/sandbox"
	"github.com/latchkey/latchkey/internal/testenv"
)

// These tests drive the real binary the way a user or a script does: built
// once, run with isolated XDG directories, against a Docebo sandbox on
// loopback.

var binPath string

// buildFirst runs the tests after building the binary they drive (binPath).
// TestMain (script_test.go) hands it to testscript, which runs it only when
// the test binary is not being run as the latchkey command of a script.
type buildFirst struct{ m *testing.M }

func (b buildFirst) Run() int {
	if sock := os.Getenv("LATCHKEY_TEST_IMPOSTOR"); sock != "" {
		runImpostor(sock) // this binary, run as another user (rundir_test.go)
		return 1
	}
	dir, err := os.MkdirTemp("", "lkbin")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	binPath = filepath.Join(dir, "latchkey")
	out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
	if err != nil {
		os.Stderr.Write(out)
		panic(err)
	}
	return b.m.Run()
}

type cliUser struct {
	t   *testing.T
	env []string
	dir string
}

// newUser isolates a user by the XDG variables. With systemKeychain the real
// Secret Service of the test's session bus is used; else the opt-in file
// keychain.
func newUser(t *testing.T, systemKeychain bool) *cliUser {
	dir, err := os.MkdirTemp("", "lkcli")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	u := &cliUser{t: t, dir: dir}
	for _, d := range []string{"state", "data", "config", "run"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	u.env = append(os.Environ(),
		"XDG_STATE_HOME="+filepath.Join(dir, "state"), "XDG_DATA_HOME="+filepath.Join(dir, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "XDG_RUNTIME_DIR="+filepath.Join(dir, "run"),
		"LATCHKEY_NO_TRAY=1", "LATCHKEY_LOG_LEVEL=debug",
	)
	if !systemKeychain {
		u.env = append(u.env, "LATCHKEY_KEYCHAIN=file", "LATCHKEY_KEYCHAIN_PASSPHRASE=cli test passphrase")
	}
	return u
}

func (u *cliUser) cmd(ctx context.Context, args ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, binPath, args...)
	c.Env = u.env
	return c
}

// run runs latchkey to completion and returns stdout, stderr and the exit code.
func (u *cliUser) run(stdin string, args ...string) (string, string, int) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := u.cmd(ctx, args...)
	c.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		u.t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// startDaemon runs `latchkey daemon --listen 127.0.0.1:PORT` and waits for
// its first stdout line.
func (u *cliUser) startDaemon(listen string) (*exec.Cmd, *testenv.Buffer) {
	u.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := u.cmd(ctx, "daemon", "--listen", listen)
	logs := &testenv.Buffer{}
	c.Stderr = logs
	stdout, err := c.StdoutPipe()
	if err != nil {
		u.t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		u.t.Fatal(err)
	}
	u.t.Cleanup(func() {
		c.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cancel()
			<-done
		}
		cancel()
	})
	br := bufio.NewReader(stdout)
	line, err := br.ReadString('\n')
	// A notice (the vault key was lost, say) may come first.
	for i := 0; i < 3 && err == nil && strings.HasPrefix(line, "latchkey: ") && !strings.Contains(line, "listening on"); i++ {
		line, err = br.ReadString('\n')
	}
	if err != nil {
		u.t.Fatalf("daemon did not start: %v\n%s", err, logs.String())
	}
	if !strings.Contains(line, "listening on http://"+listen) {
		u.t.Fatalf("daemon said %q", line)
	}
	go io.Copy(io.Discard, br)
	return c, logs
}

func freeAddr(t *testing.T) string {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.Listener.Addr().String()
	srv.Close()
	return addr
}

func TestCLIFixedPointsFileKeychain(t *testing.T) { cliFixedPoints(t, false) }

func TestCLIFixedPointsSystemKeychain(t *testing.T) {
	testenv.Require(t, testenv.Keyring)
	cliFixedPoints(t, true)
}

func cliFixedPoints(t *testing.T, systemKeychain bool) {
	sb := sandbox.New(sandbox.Options{AutoApprove: true})
	srv := httptest.NewServer(sb)
	defer srv.Close()
	u := newUser(t, systemKeychain)

	// Not running yet: exit code 3 and one clear line.
	if _, errOut, code := u.run("", "courses", "--json"); code != exitNotRunning || !strings.Contains(errOut, "not running") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("courses without a daemon: code %d, %q", code, errOut)
	}
	// Plain-http base URLs are refused unless loopback.
	if _, errOut, code := u.run("x\n", "configure", "docebo", "--url", "http://example.com", "--client-id", "c"); code == 0 || !strings.Contains(errOut, "https") {
		t.Fatalf("http base URL accepted: %d %q", code, errOut)
	}

	listen := freeAddr(t)
	_, logs := u.startDaemon(listen)
	if _, errOut, code := u.run("", "daemon", "--listen", freeAddr(t)); code == 0 || !strings.Contains(errOut, "already running") || !strings.Contains(errOut, "pid") {
		t.Fatalf("second daemon: %d %q", code, errOut)
	}

	out, errOut, code := u.run(sandbox.DefaultClientSecret+"\n", "configure", "docebo", "--url", srv.URL, "--client-id", sandbox.DefaultClientID)
	if code != 0 {
		t.Fatalf("configure: %d %s", code, errOut)
	}
	if strings.Contains(out+errOut, sandbox.DefaultClientSecret) {
		t.Fatal("configure echoed the secret")
	}
	cfg, _ := os.ReadFile(filepath.Join(u.dir, "config", "latchkey", "config.toml"))
	if strings.Contains(string(cfg), sandbox.DefaultClientSecret) || !strings.Contains(string(cfg), srv.URL) {
		t.Fatalf("config file: %s", cfg)
	}

	// connect --no-browser prints the consent URL alone on a line, waits,
	// and exits 0 once the redirect reached the daemon.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := u.cmd(ctx, "connect", "docebo", "--no-browser")
	stdout, _ := c.StdoutPipe()
	var cerr bytes.Buffer
	c.Stderr = &cerr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	consent, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	consent = strings.TrimSpace(consent)
	if !strings.HasPrefix(consent, srv.URL+"/oauth2/authorize?") {
		t.Fatalf("consent line %q", consent)
	}
	resp, err := http.Get(consent)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := c.Wait(); err != nil {
		t.Fatalf("connect: %v: %s", err, cerr.String())
	}

	out, _, code = u.run("", "status", "--json")
	var st struct {
		KeyID        string `json:"key_id"`
		Integrations []struct{ Name, State string }
	}
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || len(st.KeyID) != 16 {
		t.Fatalf("status: %d %s", code, out)
	}
	state := map[string]string{}
	for _, in := range st.Integrations {
		state[in.Name] = in.State
	}
	if state["docebo"] != "connected" {
		t.Fatalf("docebo state %q", state["docebo"])
	}

	out, _, code = u.run("", "courses", "--json")
	var courses struct {
		Items []map[string]any `json:"items"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &courses) != nil || len(courses.Items) == 0 {
		t.Fatalf("courses: %d %s", code, out)
	}
	for _, it := range courses.Items {
		for _, k := range []string{"integration", "id", "title", "url"} {
			if s, _ := it[k].(string); s == "" {
				t.Fatalf("course without %s: %v", k, it)
			}
		}
	}
	out, _, code = u.run("", "search", "go", "--json")
	var search struct {
		Results []map[string]any `json:"results"`
		Errors  []any            `json:"errors"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &search) != nil || len(search.Results) == 0 || search.Errors == nil {
		t.Fatalf("search: %d %s", code, out)
	}
	out, _, code = u.run("", "token")
	tok := strings.TrimSpace(out)
	if code != 0 || strings.Count(tok, ".") != 2 || strings.Count(out, "\n") != 1 {
		t.Fatalf("token: %d %q", code, out)
	}
	req, _ := http.NewRequest("GET", "http://"+listen+"/v1/courses", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != 200 {
		t.Fatalf("curl-like call with latchkey token: %v %v", r, err)
	}
	out, _, code = u.run("", "audit", "--json")
	if code != 0 || !strings.Contains(out, `"integration": "docebo"`) {
		t.Fatalf("audit: %d %s", code, out)
	}
	// An integration this build does not know is a usage error, as in every verb.
	if _, errOut, code := u.run("", "connect", "nosuch", "--no-browser"); code != exitUsage || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("connect unknown: %d %q", code, errOut)
	}
	// The listing has an ID column (open takes the ID) and statuses in words.
	out, _, code = u.run("", "courses")
	if first, _, _ := strings.Cut(out, "\n"); code != 0 || !strings.HasPrefix(first, "ID ") || strings.Contains(out, "in_progress") || strings.Contains(out, "not_started") {
		t.Fatalf("courses listing: %d %q", code, out)
	}
	// open refuses a course that is not one of the user's.
	if out, errOut, code := u.run("", "open", "docebo", "99999", "--print-url"); code != exitError || out != "" || !strings.Contains(errOut, `no course "99999"`) {
		t.Fatalf("open an unknown course: %d %q %q", code, out, errOut)
	}
	// Without a browser, menu prints its URL (as connect does) and succeeds.
	saved := u.env
	u.env = append(slices.Clone(u.env), "LATCHKEY_OPEN_COMMAND=/nonexistent/opener")
	out, errOut, code = u.run("", "menu")
	u.env = saved
	if code != 0 || !strings.Contains(out, "/menu#code=") || !strings.Contains(errOut, "Could not open a browser (no browser is installed here)") {
		t.Fatalf("menu without a browser: %d %q %q", code, out, errOut)
	}
	// A client name in use, a signing key in place: replaced only with --force.
	if _, errOut, code := u.run("", "clients", "create", "reporting"); code != 0 {
		t.Fatalf("clients create: %d %q", code, errOut)
	}
	if _, errOut, code := u.run("", "clients", "create", "reporting"); code != exitError || !strings.Contains(errOut, `a client named "reporting" exists already`) || !strings.Contains(errOut, "--force") {
		t.Fatalf("clients create, the same name again: %d %q", code, errOut)
	}
	if _, errOut, code := u.run("", "clients", "create", "reporting", "--force"); code != 0 {
		t.Fatalf("clients create --force: %d %q", code, errOut)
	}
	if _, errOut, code := u.run("", "keys", "generate", "docebo"); code != 0 {
		t.Fatalf("keys generate: %d %q", code, errOut)
	}
	if out, errOut, code := u.run("", "keys", "generate", "docebo"); code != exitError || out != "" || !strings.Contains(errOut, "--force") {
		t.Fatalf("keys generate over a key: %d %q %q", code, out, errOut)
	}
	if out, _, code := u.run("", "keys", "generate", "docebo", "--force"); code != 0 || !strings.Contains(out, "PUBLIC KEY") {
		t.Fatalf("keys generate --force: %d %q", code, out)
	}
	// Another set of directories (the demo's .demo/env not sourced): no daemon
	// of theirs, but one answers on the port: the line says so.
	other := newUser(t, false)
	other.env = append(other.env, "LATCHKEY_LISTEN="+listen)
	if _, errOut, code := other.run("", "courses"); code != exitNotRunning || !strings.Contains(errOut, "one answers on "+listen) || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("courses from other directories: %d %q", code, errOut)
	}
	if strings.Contains(logs.String(), sandbox.DefaultClientSecret) {
		t.Fatal("the client secret appeared in the daemon's logs")
	}
}

// TestCLIJWTAudience: `latchkey configure docebo --jwt-audience HOST` makes
// the JWT-bearer grant work against a platform that expects that "aud"
// (a custom domain whose assertions must name its docebosaas.com host).
func TestCLIJWTAudience(t *testing.T) {
	sb := sandbox.New(sandbox.Options{Audience: "acme.docebosaas.com"})
	srv := httptest.NewServer(sb)
	defer srv.Close()
	u := newUser(t, false)
	u.startDaemon(freeAddr(t))
	if _, errOut, code := u.run(sandbox.DefaultClientSecret+"\n", "configure", "docebo", "--url", srv.URL, "--client-id", sandbox.DefaultClientID); code != 0 {
		t.Fatalf("configure: %d %s", code, errOut)
	}
	pub, errOut, code := u.run("", "keys", "generate", "docebo")
	if code != 0 {
		t.Fatalf("keys generate: %d %s", code, errOut)
	}
	if err := sb.AddJWTKeyPEM([]byte(pub)); err != nil {
		t.Fatal(err)
	}
	// The default aud (the --url host) is refused by this platform…
	if _, errOut, code := u.run("", "connect", "docebo", "--grant", "jwt-bearer", "--username", "ada"); code == 0 || !strings.Contains(errOut, "audience") {
		t.Fatalf("connect with the default aud: %d %q", code, errOut)
	}
	// …a malformed audience is refused with one line naming the setting…
	if _, errOut, code := u.run("", "configure", "docebo", "--jwt-audience", "https://acme.docebosaas.com", "--secret", "none"); code == 0 ||
		!strings.Contains(errOut, "jwt_audience") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("configure --jwt-audience URL: %d %q", code, errOut)
	}
	// …and the configured one is accepted.
	if _, errOut, code := u.run("", "configure", "docebo", "--jwt-audience", "acme.docebosaas.com", "--secret", "none"); code != 0 {
		t.Fatalf("configure --jwt-audience: %d %s", code, errOut)
	}
	cfg, _ := os.ReadFile(filepath.Join(u.dir, "config", "latchkey", "config.toml"))
	if !strings.Contains(string(cfg), `jwt_audience = "acme.docebosaas.com"`) {
		t.Fatalf("config file: %s", cfg)
	}
	if _, errOut, code := u.run("", "connect", "docebo", "--grant", "jwt-bearer", "--username", "ada"); code != 0 {
		t.Fatalf("connect with --jwt-audience: %d %s", code, errOut)
	}
}

func TestCLIInstallUninstall(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the systemd user unit is Linux's")
	}
	u := newUser(t, false)
	out, errOut, code := u.run("", "install", "--listen", "127.0.0.1:7799")
	if code != 0 {
		t.Fatalf("install: %d %s %s", code, out, errOut)
	}
	unit := filepath.Join(u.dir, "config", "systemd", "user", "latchkey.service")
	b, err := os.ReadFile(unit)
	if err != nil {
		t.Fatalf("unit file: %v (output %q)", err, out)
	}
	for _, want := range []string{"ExecStart=", binPath, "daemon", "--listen", "127.0.0.1:7799"} {
		if !strings.Contains(string(b), want) {
			t.Fatalf("unit lacks %q:\n%s", want, b)
		}
	}
	if _, errOut, code := u.run("", "uninstall"); code != 0 {
		t.Fatalf("uninstall: %d %s", code, errOut)
	}
	if _, err := os.Stat(unit); !os.IsNotExist(err) {
		t.Fatalf("unit still there after uninstall: %v", err)
	}
}
