package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/client/apitype"
	"github.com/latchkey/latchkey/integrations"
	"github.com/latchkey/latchkey/integrations/docebo"
	"github.com/latchkey/latchkey/integrations/docebo/sandbox"
	"github.com/latchkey/latchkey/integrations/document360"
	"github.com/latchkey/latchkey/internal/testenv"
	"github.com/latchkey/latchkey/vault/keychain"
)

// harness runs a real daemon (real SQLite, real loopback HTTP, a
// passphrase-sealed file keychain) against a real Docebo sandbox.
type harness struct {
	t      *testing.T
	dir    string
	paths  Paths
	sb     *sandbox.Server
	sbURL  string
	kc     keychain.Keychain
	logs   *testenv.Buffer
	d      *Daemon
	cancel context.CancelFunc
	done   chan error
	cl     *client.Client
	// desktop: run the tray and hotkey (needs a display), opening URLs
	// with openCommand.
	desktop     bool
	openCommand []string
	displayPoll time.Duration // display_linux.go's poll, when set
	saltCheck   time.Duration // the salt watch's interval, when set
}

func testRegistry() *integrations.Registry {
	return integrations.NewRegistry(map[string]integrations.Factory{"docebo": docebo.Factory, "document360": document360.Factory})
}

func newHarness(t *testing.T, so sandbox.Options) *harness {
	t.Helper()
	return newHarnessWith(t, so, func(*harness) {})
}

// newHarnessWith lets setup adjust the harness before the daemon starts.
func newHarnessWith(t *testing.T, so sandbox.Options, setup func(*harness)) *harness {
	t.Helper()
	dir, err := os.MkdirTemp("", "lk") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	h := &harness{t: t, dir: dir, logs: &testenv.Buffer{}}
	h.paths = Paths{
		StateDir: filepath.Join(dir, "state", "latchkey"), ConfigDir: filepath.Join(dir, "config", "latchkey"),
		DataDir: filepath.Join(dir, "data", "latchkey"), RuntimeDir: filepath.Join(dir, "run", "latchkey"),
	}
	so.AutoApprove = true
	h.sb = sandbox.New(so)
	srv := httptest.NewServer(h.sb)
	t.Cleanup(srv.Close)
	h.sbURL = srv.URL
	if err := ensureDir(h.paths.DataDir, "XDG_DATA_HOME"); err != nil {
		t.Fatal(err)
	}
	h.kc, err = keychain.File(filepath.Join(h.paths.DataDir, "kc"), []byte("test passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	err = SaveFileConfig(h.paths.ConfigFile(), func(c *Config) error {
		c.Integrations = map[string]IntegrationConfig{"docebo": {URL: srv.URL, ClientID: sandbox.DefaultClientID}}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	setup(h)
	h.start()
	if err := h.d.SetClientSecret("docebo", sandbox.DefaultClientSecret); err != nil {
		t.Fatal(err)
	}
	return h
}

// start opens and runs the daemon, and waits until its control socket answers.
func (h *harness) start() {
	t := h.t
	cfg, err := LoadConfig(h.paths.ConfigFile(), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen = "127.0.0.1:0"
	cfg.NoTray = !h.desktop
	cfg.OpenCommand = h.openCommand
	d, err := Open(context.Background(), Options{
		Paths: h.paths, Config: cfg, Registry: testRegistry(), Keychain: h.kc, User: "alice", Version: "test",
		Logger: slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	d.displayPoll = h.displayPoll
	d.saltCheckInterval = h.saltCheck
	ctx, cancel := context.WithCancel(context.Background())
	h.d, h.cancel, h.done = d, cancel, make(chan error, 1)
	go func() { h.done <- d.Run(ctx) }()
	h.cl = &client.Client{Socket: h.paths.SocketPath()}
	deadline := time.Now().Add(10 * time.Second)
	for h.cl.Ping(context.Background()) != nil {
		select {
		case err := <-h.done:
			t.Fatalf("daemon exited: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("daemon did not answer on its control socket")
		}
		time.Sleep(10 * time.Millisecond) // polling an observable condition, bounded
	}
	t.Cleanup(h.stop)
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	if err := <-h.done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		h.t.Errorf("daemon Run: %v", err)
	}
	h.d.Close()
	h.cancel = nil
}

func (h *harness) restart() {
	h.stop()
	h.start()
}

// connect runs the authorization-code flow the way a browser would.
func (h *harness) connect() {
	t := h.t
	resp, err := h.cl.Connect(context.Background(), "docebo", apitype.GrantRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.URL == "" || resp.Flow == "" {
		t.Fatalf("connect answered %+v", resp)
	}
	r, err := http.Get(resp.URL) // auto-approve: sandbox → 302 → daemon's /docebo/connected
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, r.Body)
	r.Body.Close()
	if err := h.cl.WaitFlow(context.Background(), resp.Flow); err != nil {
		t.Fatalf("connect flow: %v", err)
	}
}

func (h *harness) api(method, path string, out any) int {
	h.t.Helper()
	tok, err := h.d.MintToken(apitype.TokenRequest{})
	if err != nil {
		h.t.Fatal(err)
	}
	req, _ := http.NewRequest(method, "http://"+h.d.listenAddr+path, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 || os.Getenv("LK_DEBUG") != "" {
		h.t.Logf("%s %s → %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			h.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

func (h *harness) state(name string) string {
	st, err := h.d.StatusDoc(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	for _, in := range st.Integrations {
		if in.Name == name {
			return in.State
		}
	}
	return ""
}

func TestConnectCoursesSearchAndStatus(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{})
	if got := h.state("docebo"); got != "disconnected" {
		t.Fatalf("state before connect = %q", got)
	}
	h.connect()
	st, err := h.d.StatusDoc(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var doc apitype.IntegrationStatus
	for _, in := range st.Integrations {
		if in.Name == "docebo" {
			doc = in
		}
	}
	if doc.State != "connected" || doc.Account == nil || doc.Account.Username == "" || doc.TokenExpiry == nil {
		t.Fatalf("docebo status after connect: %+v", doc)
	}
	if len(st.KeyID) != 16 {
		t.Fatalf("key_id %q", st.KeyID)
	}
	var courses struct {
		Items []integrations.Course `json:"items"`
	}
	if code := h.api("GET", "/v1/courses", &courses); code != 200 || len(courses.Items) == 0 {
		t.Fatalf("courses: %d, %d items", code, len(courses.Items))
	}
	var search struct {
		Results []integrations.SearchResult `json:"results"`
	}
	if code := h.api("GET", "/v1/search?q=go", &search); code != 200 || len(search.Results) == 0 {
		t.Fatalf("search: %d, %d results", code, len(search.Results))
	}
	for _, r := range search.Results {
		if r.Integration != "docebo" || r.ID == "" || r.Title == "" || r.URL == "" {
			t.Fatalf("bad result %+v", r)
		}
	}
	var acct map[string]any
	if code := h.api("GET", "/v1/proxy/docebo/manage/v1/user/session", &acct); code != 200 || acct["data"] == nil {
		t.Fatalf("proxy session: %d %v", code, acct)
	}
}

func TestStateIsSingleUse(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{})
	resp, err := h.cl.Connect(context.Background(), "docebo", apitype.GrantRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// Follow the consent by hand to capture the redirect.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	r, err := noFollow.Get(resp.URL)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	redirect := r.Header.Get("Location")
	if !strings.Contains(redirect, "/docebo/connected") {
		t.Fatalf("sandbox redirect %q", redirect)
	}
	for i, want := range []int{200, 400} {
		r, err := http.Get(redirect)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if (r.StatusCode < 300) != (want == 200) {
			t.Fatalf("redirect #%d: status %d", i+1, r.StatusCode)
		}
	}
	// A forged state is refused too.
	u, _ := url.Parse(redirect)
	q := u.Query()
	q.Set("state", "forged")
	u.RawQuery = q.Encode()
	if r, err := http.Get(u.String()); err != nil || r.StatusCode < 400 {
		t.Fatalf("forged state accepted: %v %v", r, err)
	}
}

func TestRefreshOnceForConcurrentCallersAndAfterRestart(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{RotateRefresh: true})
	h.connect()
	h.sb.ExpireAccessTokens()
	// Make the stored token look expired too, so every caller refreshes.
	tok, _, err := h.d.vault.LoadToken(context.Background(), "docebo")
	if err != nil {
		t.Fatal(err)
	}
	tok.Expiry = time.Now().Add(-time.Minute)
	if err := h.d.saveToken(context.Background(), "docebo", tok, nil); err != nil {
		t.Fatal(err)
	}
	before := h.sb.GrantCalls("refresh_token")
	if failed := concurrentTokenFailures(h.d.tokens("docebo"), 1000); failed != 0 {
		t.Fatalf("%d callers failed", failed)
	}
	if got := h.sb.GrantCalls("refresh_token") - before; got != 1 {
		t.Fatalf("refresh grant called %d times, want 1", got)
	}
	// The proxy's per-call token is the refreshed access token alone.
	full, _, err := h.d.vault.LoadToken(context.Background(), "docebo")
	if err != nil {
		t.Fatal(err)
	}
	call, err := h.d.tokens("docebo").CallToken(context.Background())
	if err != nil || call.AccessToken != full.AccessToken || call.AccessToken == tok.AccessToken || call.RefreshToken != "" {
		t.Fatalf("per-call token after the refresh: %v (refresh token present: %t)", err, call != nil && call.RefreshToken != "")
	}
	// The rotated refresh token was persisted: after a restart, another
	// refresh works (the old one would be reuse → invalid_grant).
	h.restart()
	h.sb.ExpireAccessTokens()
	var session map[string]any
	if code := h.api("GET", "/v1/proxy/docebo/manage/v1/user/session", &session); code != 200 {
		t.Fatalf("after restart: %d", code)
	}
	if got := h.sb.GrantCalls("refresh_token") - before; got != 2 {
		t.Fatalf("refresh grant calls after restart = %d, want 2", got)
	}
	if h.state("docebo") != "connected" {
		t.Fatalf("state %q", h.state("docebo"))
	}
}

func TestInvalidGrantMarksReconnectNeeded(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{RotateRefresh: true})
	h.connect()
	// Steal-and-reuse: refresh once behind the daemon's back with the stored
	// refresh token, so the daemon's next refresh is a reuse.
	tok, _, err := h.d.vault.LoadToken(context.Background(), "docebo")
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken},
		"client_id": {sandbox.DefaultClientID}, "client_secret": {sandbox.DefaultClientSecret}}
	r, err := http.PostForm(h.sbURL+"/oauth2/token", form)
	if err != nil || r.StatusCode != 200 {
		t.Fatalf("out-of-band refresh: %v %v", r, err)
	}
	r.Body.Close()
	h.sb.ExpireAccessTokens()
	code := h.api("GET", "/v1/proxy/docebo/manage/v1/user/session", nil)
	if code < 400 {
		t.Fatalf("proxy after invalid_grant: %d", code)
	}
	if got := h.state("docebo"); got != "reconnect_needed" {
		t.Fatalf("state = %q, want reconnect_needed", got)
	}
	if strings.Contains(h.logs.String(), tok.RefreshToken) || strings.Contains(h.logs.String(), tok.AccessToken) {
		t.Fatal("a token appeared in the logs")
	}
}

func TestSecondDaemonRefuses(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{})
	d2, err := Open(context.Background(), Options{Paths: h.paths, Config: Config{Listen: "127.0.0.1:0", Keychain: "file", SearchDeadline: Duration{time.Second}},
		Registry: testRegistry(), Keychain: h.kc, User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	err = d2.Run(context.Background())
	if !errors.Is(err, ErrAlreadyRunning) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("second daemon: %v", err)
	}
}

func TestDisconnect(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{})
	h.connect()
	if err := h.cl.Disconnect(context.Background(), "docebo"); err != nil {
		t.Fatal(err)
	}
	if got := h.state("docebo"); got != "disconnected" {
		t.Fatalf("state %q", got)
	}
	if _, _, err := h.d.vault.LoadToken(context.Background(), "docebo"); err == nil {
		t.Fatal("sealed token still there")
	}
}

// A refresh that fails transiently (the provider answers 503) is not retried
// by every queued caller: one token-endpoint call answers the whole burst.
func TestFailedRefreshIsNotStampeded(t *testing.T) {
	t.Parallel()
	var tokenCalls atomic.Int32
	var failing atomic.Bool
	var front *httptest.Server
	h := newHarnessWith(t, sandbox.Options{}, func(h *harness) {
		target, _ := url.Parse(h.sbURL)
		proxy := httputil.NewSingleHostReverseProxy(target)
		front = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/oauth2/token" && failing.Load() {
				tokenCalls.Add(1)
				http.Error(w, `{"error":"temporarily_unavailable"}`, http.StatusServiceUnavailable)
				return
			}
			proxy.ServeHTTP(w, r)
		}))
		t.Cleanup(front.Close)
		if err := SaveFileConfig(h.paths.ConfigFile(), func(c *Config) error {
			c.Integrations["docebo"] = IntegrationConfig{URL: front.URL, ClientID: sandbox.DefaultClientID}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	})
	h.connect()
	tok, _, err := h.d.vault.LoadToken(context.Background(), "docebo")
	if err != nil {
		t.Fatal(err)
	}
	tok.Expiry = time.Now().Add(-time.Minute)
	if err := h.d.saveToken(context.Background(), "docebo", tok, nil); err != nil {
		t.Fatal(err)
	}
	failing.Store(true)
	if failed := concurrentTokenFailures(h.d.tokens("docebo"), 200); failed != 200 {
		t.Fatalf("%d of 200 callers failed, want all (the provider is down)", failed)
	}
	if n := tokenCalls.Load(); n != 1 {
		t.Fatalf("the token endpoint was called %d times for one burst, want 1", n)
	}
	if h.state("docebo") != "connected" {
		t.Fatalf("a transient failure changed the state to %q", h.state("docebo"))
	}
}

// concurrentTokenFailures asks tm for its token from n goroutines at once
// and returns how many calls failed.
func concurrentTokenFailures(tm *tokenManager, n int) int {
	var wg sync.WaitGroup
	var failed atomic.Int32
	for i := range n {
		// Half ask as API clients do, half as the proxy does.
		get := tm.Token
		if i%2 == 1 {
			get = tm.CallToken
		}
		wg.Go(func() {
			if _, err := get(context.Background()); err != nil {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	return int(failed.Load())
}

// controlRaw sends a bodiless request on the control socket, as the CLI
// does, and returns the answer's bytes unparsed (for assertions on what the
// wire carries).
func (h *harness) controlRaw(method, path string) []byte {
	h.t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", h.paths.SocketPath())
	}}}
	req, err := http.NewRequest(method, "http://latchkey.sock"+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		h.t.Fatalf("%s %s: %d %v", method, path, resp.StatusCode, err)
	}
	return b
}
