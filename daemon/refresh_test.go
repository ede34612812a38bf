package daemon

import (
	"bufio"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
	_ "modernc.org/sqlite"

	"github.com/latchkey/latchkey/client/apitype"
	"github.com/latchkey/latchkey/integrations/docebo/sandbox"
	d360 "github.com/latchkey/latchkey/integrations/document360/sandbox"
	"github.com/latchkey/latchkey/vault/keychain"
)

// expireStored makes the stored token of name look expired, so that the
// next call refreshes it first.
func (h *harness) expireStored(name string) {
	h.t.Helper()
	tok, _, err := h.d.vault.LoadToken(context.Background(), name)
	if err != nil {
		h.t.Fatal(err)
	}
	tok.Expiry = time.Now().Add(-time.Minute)
	if err := h.d.saveToken(context.Background(), name, tok, nil); err != nil {
		h.t.Fatal(err)
	}
}

// rawGet is a local API GET that returns the status and body as they are.
func (h *harness) rawGet(path string) (int, string) {
	h.t.Helper()
	tok, err := h.d.MintToken(apitype.TokenRequest{})
	if err != nil {
		h.t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "http://"+h.d.listenAddr+path, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (h *harness) integrationStatus(name string) apitype.IntegrationStatus {
	h.t.Helper()
	st, err := h.d.StatusDoc(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	for _, in := range st.Integrations {
		if in.Name == name {
			return in
		}
	}
	h.t.Fatalf("no status for %s", name)
	return apitype.IntegrationStatus{}
}

// Item 3: the proxy sends Document360's API token in its own header, and a
// 401 on a static API token goes back to the caller: nothing is marked,
// nothing deleted.
func TestProxyDocument360TokenHeaderAndNo401Deletion(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{})
	sb := withDocument360(t, h, d360.Options{})
	path := "/v1/proxy/document360/v2/ProjectVersions"
	if code, body := h.rawGet(path); code != 200 {
		t.Fatalf("proxied Document360 call: %d %s", code, body)
	}
	if h.state("document360") != "connected" {
		t.Fatalf("state after a proxied call: %q", h.state("document360"))
	}
	// The upstream refuses the token: the 401 is the caller's answer.
	sb.FailNext(3, http.StatusUnauthorized)
	for i := range 3 {
		if code, body := h.rawGet(path); code != http.StatusUnauthorized {
			t.Fatalf("call %d with the upstream refusing: %d %s, want its 401", i+1, code, body)
		}
	}
	if got := h.state("document360"); got != "connected" {
		t.Fatalf("state after upstream 401s: %q, want connected", got)
	}
	if _, _, err := h.d.vault.LoadToken(context.Background(), "document360"); err != nil {
		t.Fatalf("the API token is gone after an upstream 401: %v", err)
	}
	if code, body := h.rawGet(path); code != 200 {
		t.Fatalf("once the upstream takes the token again: %d %s", code, body)
	}
	// Through search (Document360's own client) likewise.
	sb.FailNext(1, http.StatusUnauthorized)
	var doc searchDoc
	if code := h.api("GET", "/v1/search?q=go", &doc); code != 200 || len(doc.Errors) != 1 || doc.Errors[0].Integration != "document360" {
		t.Fatalf("search with the upstream refusing the token: %d %+v", code, doc.Errors)
	}
	if got := h.state("document360"); got != "connected" {
		t.Fatalf("state after a search 401: %q, want connected", got)
	}
	if _, _, err := h.d.vault.LoadToken(context.Background(), "document360"); err != nil {
		t.Fatalf("the API token is gone after a search 401: %v", err)
	}
}

// Item 7: a path that always answers 401 costs one refresh, not one per call.
func TestAlways401RefreshesOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{RotateRefresh: true})
	h.connect()
	before := h.sb.GrantCalls("refresh_token")
	for i := range 10 {
		if code, body := h.rawGet("/v1/proxy/docebo/manage/v1/sandbox/refused"); code != http.StatusUnauthorized {
			t.Fatalf("call %d: %d %s, want the upstream's 401", i+1, code, body)
		}
	}
	if got := h.sb.GrantCalls("refresh_token") - before; got != 1 {
		t.Fatalf("10 calls to an always-401 path made %d refreshes, want 1", got)
	}
	if h.state("docebo") != "connected" {
		t.Fatalf("state %q", h.state("docebo"))
	}
	// Other paths work with the token the one refresh produced.
	if code, body := h.rawGet("/v1/proxy/docebo/manage/v1/user/session"); code != 200 {
		t.Fatalf("session after the 401s: %d %s", code, body)
	}
	if got := h.sb.GrantCalls("refresh_token") - before; got != 1 {
		t.Fatalf("refreshes after a good call: %d, want 1", got)
	}
}

// Item 11: a caller that gives up does not take the refresh with it: the
// rotated token is stored, and the next refresh presents it.
func TestRefreshOutlivesItsCaller(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{RotateRefresh: true})
	h.connect()
	h.expireStored("docebo")
	h.sb.SetTokenLatency(3 * time.Second)
	before := h.sb.GrantCalls("refresh_token")
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_, err := h.d.tokens("docebo").CallToken(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a caller with 1 s against a 3 s provider: %v, want its deadline", err)
	}
	// The next caller gets the refresh that went on (it waits for it).
	tok, err := h.d.tokens("docebo").CallToken(context.Background())
	if err != nil {
		t.Fatalf("the next call: %v", err)
	}
	h.sb.SetTokenLatency(0)
	if got := h.sb.GrantCalls("refresh_token") - before; got != 1 {
		t.Fatalf("refreshes: %d, want 1", got)
	}
	stored, _, err := h.d.vault.LoadLatestToken(context.Background(), "docebo")
	if err != nil || stored.AccessToken != tok.AccessToken {
		t.Fatalf("the refreshed token is not the stored one (%v)", err)
	}
	// After a restart, the next refresh presents the rotated refresh token.
	h.restart()
	h.expireStored("docebo")
	if code, body := h.rawGet("/v1/proxy/docebo/manage/v1/user/session"); code != 200 {
		t.Fatalf("after restart: %d %s", code, body)
	}
	if n := h.sb.RefreshReuses(); n != 0 {
		t.Fatalf("the provider saw %d reuses of a rotated refresh token", n)
	}
	if got := h.sb.GrantCalls("refresh_token") - before; got != 2 {
		t.Fatalf("refreshes: %d, want 2", got)
	}
	if h.state("docebo") != "connected" {
		t.Fatalf("state %q", h.state("docebo"))
	}
}

// Item 12: a refreshed token the database does not take (locked by another
// process past the busy timeout) is served from memory, shown in status,
// and stored once the database takes writes again.
func TestRefreshedTokenKeptUntilStored(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{RotateRefresh: true})
	h.connect()
	h.expireStored("docebo")
	old, _, err := h.d.vault.LoadLatestToken(context.Background(), "docebo")
	if err != nil {
		t.Fatal(err)
	}
	before := h.sb.GrantCalls("refresh_token")

	// Another process's connection holds the write lock.
	db, err := sql.Open("sqlite", h.paths.DBPath()+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	released := false
	release := func() {
		if !released {
			released = true
			if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
				t.Error(err)
			}
		}
	}
	defer release()

	if code, body := h.rawGet("/v1/proxy/docebo/manage/v1/user/session"); code != 200 {
		t.Fatalf("call while the database is locked: %d %s", code, body)
	}
	st := h.integrationStatus("docebo")
	if !strings.Contains(st.Unsaved, "not yet saved") {
		t.Fatalf("status while the token is not stored: %+v", st)
	}
	// Served from memory: no second refresh though the database still holds
	// the expired token.
	if code, body := h.rawGet("/v1/proxy/docebo/manage/v1/user/session"); code != 200 {
		t.Fatalf("second call while locked: %d %s", code, body)
	}
	if got := h.sb.GrantCalls("refresh_token") - before; got != 1 {
		t.Fatalf("refreshes while locked: %d, want 1", got)
	}
	served, err := h.d.tokens("docebo").CallToken(context.Background())
	if err != nil || served.AccessToken == old.AccessToken {
		t.Fatalf("the token served while locked is not the refreshed one (%v)", err)
	}

	release()
	waitFor(t, "the refreshed token is stored", func() bool { return h.integrationStatus("docebo").Unsaved == "" })
	stored, _, err := h.d.vault.LoadLatestToken(context.Background(), "docebo")
	if err != nil || stored.AccessToken != served.AccessToken || stored.RefreshToken == old.RefreshToken {
		t.Fatalf("the stored token is not the refreshed one (%v)", err)
	}
	h.restart()
	h.expireStored("docebo")
	if code, body := h.rawGet("/v1/proxy/docebo/manage/v1/user/session"); code != 200 {
		t.Fatalf("after restart: %d %s", code, body)
	}
	if n := h.sb.RefreshReuses(); n != 0 || h.state("docebo") != "connected" {
		t.Fatalf("reuses %d, state %q", n, h.state("docebo"))
	}
}

// Item 13: with 5 s access tokens, 100 concurrent calls make one
// token-endpoint call: waiting callers take the token the refresh produced.
func TestShortLivedTokensRefreshOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{RotateRefresh: true, AccessTokenTTL: 5 * time.Second})
	h.connect()
	h.expireStored("docebo")
	before := h.sb.TokenCalls()
	start := make(chan struct{})
	var wg sync.WaitGroup
	codes := make(chan int, 100)
	for range 100 {
		wg.Go(func() {
			<-start
			code, _ := h.rawGet("/v1/proxy/docebo/manage/v1/user/session")
			codes <- code
		})
	}
	close(start)
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 200 {
			t.Fatalf("a call answered %d", c)
		}
	}
	if got := h.sb.TokenCalls() - before; got != 1 {
		t.Fatalf("100 concurrent calls with 5 s tokens made %d token-endpoint calls, want 1", got)
	}
	if m := margin(&oauth2.Token{ExpiresIn: 5}); m >= 5*time.Second || m <= 0 {
		t.Fatalf("margin of a 5 s token: %s", m)
	}
}

// Item 14: the one-daemon lock is in the state directory, so a second
// daemon with another runtime directory refuses.
func TestOneDaemonPerStateDir(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{})
	other := h.paths
	other.RuntimeDir = filepath.Join(h.dir, "run2", "latchkey")
	d2, err := Open(context.Background(), Options{Paths: other, Config: Config{Listen: "127.0.0.1:0", Keychain: "file", SearchDeadline: Duration{time.Second}},
		Registry: testRegistry(), Keychain: h.kc, User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- d2.Run(ctx) }()
	select {
	case err = <-ran:
	case <-time.After(10 * time.Second):
		cancel()
		<-ran
		t.Fatal("a second daemon started on the same state directory with another runtime directory")
	}
	if !errors.Is(err, ErrAlreadyRunning) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("a second daemon on the same state directory, another runtime directory: %v", err)
	}
	if pid, ok := RunningPID(other); !ok || pid != os.Getpid() {
		t.Fatalf("RunningPID with another runtime directory: %d %t", pid, ok)
	}
}

// Item 14: a refresh is exclusive across processes: this daemon and
// another process on the same state directory refreshing the same token at
// once make one refresh.
func TestRefreshExclusiveAcrossProcesses(t *testing.T) {
	h := newHarness(t, sandbox.Options{RotateRefresh: true})
	h.connect()

	h.expireStored("docebo")
	h.sb.SetTokenLatency(500 * time.Millisecond) // the two refreshes overlap
	before := h.sb.GrantCalls("refresh_token")
	cmd := exec.Command(os.Args[0], "-test.run=^TestRefreshHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "LK_REFRESH_HELPER="+h.dir)
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || lines.Text() != "ready" {
		t.Fatalf("helper: %q %v", lines.Text(), lines.Err())
	}
	var mine string
	var mineErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		tok, err := h.d.tokens("docebo").Token(context.Background())
		mineErr = err
		if err == nil {
			mine = digest(tok.AccessToken)
		}
	}()
	fmt.Fprintln(stdin, "go")
	if !lines.Scan() {
		t.Fatalf("helper gave no answer: %v", lines.Err())
	}
	theirs := lines.Text()
	<-done
	stdin.Close()
	if mineErr != nil || !strings.HasPrefix(theirs, "ok ") {
		t.Fatalf("this daemon: %v; the other process: %s", mineErr, theirs)
	}
	if got := h.sb.GrantCalls("refresh_token") - before; got != 1 {
		t.Fatalf("two processes refreshing at once made %d refreshes, want 1", got)
	}
	if n := h.sb.RefreshReuses(); n != 0 {
		t.Fatalf("the provider saw %d reuses of a rotated refresh token", n)
	}
	if theirs != "ok "+mine {
		t.Fatal("the two processes ended with different tokens")
	}
	if h.state("docebo") != "connected" {
		t.Fatalf("state %q", h.state("docebo"))
	}
}

// TestRefreshHelperProcess is the other process of
// TestRefreshExclusiveAcrossProcesses (it does nothing in a normal run): it
// opens the same state directory offline, as the CLI does, and asks for the
// token when told to, printing a digest of it.
func TestRefreshHelperProcess(t *testing.T) {
	dir := os.Getenv("LK_REFRESH_HELPER")
	if dir == "" {
		t.Skip("helper process of TestRefreshExclusiveAcrossProcesses")
	}
	p := Paths{
		StateDir: filepath.Join(dir, "state", "latchkey"), ConfigDir: filepath.Join(dir, "config", "latchkey"),
		DataDir: filepath.Join(dir, "data", "latchkey"), RuntimeDir: filepath.Join(dir, "run3", "latchkey"),
	}
	kc, err := keychain.File(filepath.Join(p.DataDir, "kc"), []byte("test passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(p.ConfigFile(), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	d, err := Open(context.Background(), Options{Paths: p, Config: cfg, Registry: testRegistry(), Keychain: kc, User: "alice", Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	// Read the (expired) token first, as a caller does before refreshing.
	if _, _, err := d.vault.LoadToken(context.Background(), "docebo"); err != nil {
		t.Fatal(err)
	}
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	if !in.Scan() {
		t.Fatal("no go")
	}
	tok, err := d.tokens("docebo").Token(context.Background())
	if err != nil {
		fmt.Println("err " + strings.ReplaceAll(err.Error(), "\n", " "))
		return
	}
	fmt.Println("ok " + digest(tok.AccessToken))
}

// digest names a token without showing it.
func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:8])
}
