package injector

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/injector/auth"
	"github.com/latchkey/latchkey/integrations"
	"github.com/latchkey/latchkey/internal/testenv"
)

// clock is an injectable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// recorder is an upstream (or a foreign host) that records what arrives.
type recorder struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []recorded
}

type recorded struct {
	Method, Path, RawPath, Query string
	Header                       http.Header
	Body                         string
}

func (rc *recorder) record(r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.reqs = append(rc.reqs, recorded{r.Method, r.URL.Path, r.URL.RawPath, r.URL.RawQuery, r.Header.Clone(), string(b)})
	rc.mu.Unlock()
}

func (rc *recorder) all() []recorded {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]recorded(nil), rc.reqs...)
}

func (rc *recorder) count() int { return len(rc.all()) }

// tokens is a test integrations.Tokens: a current access token, refreshed
// to "<prefix>-refreshed-N".
type tokens struct {
	mu        sync.Mutex
	cur       string
	gets      atomic.Int64
	refreshes atomic.Int64
	err       error
}

func (tk *tokens) Token(ctx context.Context) (*oauth2.Token, error) {
	tk.gets.Add(1)
	tk.mu.Lock()
	defer tk.mu.Unlock()
	if tk.err != nil {
		return nil, tk.err
	}
	return &oauth2.Token{AccessToken: tk.cur, TokenType: "Bearer"}, nil
}

func (tk *tokens) Refresh(ctx context.Context, rejected *oauth2.Token) (*oauth2.Token, error) {
	tk.mu.Lock()
	defer tk.mu.Unlock()
	if rejected.AccessToken == tk.cur {
		n := tk.refreshes.Add(1)
		tk.cur = fmt.Sprintf("%s-refreshed-%d", strings.SplitN(tk.cur, "-refreshed", 2)[0], n)
	}
	return &oauth2.Token{AccessToken: tk.cur, TokenType: "Bearer"}, nil
}

// integ is a test integration with optional search/courses behaviour.
type integ struct {
	name    string
	base    *url.URL
	search  func(ctx context.Context, q string) ([]integrations.SearchResult, error)
	courses func(ctx context.Context) ([]integrations.Course, error)
}

func (i *integ) Name() string      { return i.name }
func (i *integ) BaseURL() *url.URL { return i.base }

type searchInteg struct{ *integ }

func (i searchInteg) Search(ctx context.Context, tk integrations.Tokens, q string, limit int) ([]integrations.SearchResult, error) {
	return i.search(ctx, q)
}
func (i searchInteg) Courses(ctx context.Context, tk integrations.Tokens) ([]integrations.Course, error) {
	if i.courses == nil {
		return nil, nil
	}
	return i.courses(ctx)
}

// backend is the test Backend.
type backend struct {
	mu      sync.Mutex
	conns   []ConnectedIntegration
	audit   []AuditEntry
	clients map[string]string // id → secret
	scopes  map[string][]string
	expires map[string]time.Time // client id → expiry (none: never)
	started []string
	finish  []url.Values
}

func (b *backend) Status(ctx context.Context) (any, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var names []map[string]string
	for _, c := range b.conns {
		names = append(names, map[string]string{"name": c.Integration.Name(), "state": "connected"})
	}
	return map[string]any{"key_id": "0123456789abcdef", "integrations": names}, nil
}
func (b *backend) Connected(ctx context.Context) ([]ConnectedIntegration, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]ConnectedIntegration(nil), b.conns...), nil
}
func (b *backend) Lookup(name string) (ConnectedIntegration, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.conns {
		if c.Integration.Name() == name {
			return c, true
		}
	}
	return ConnectedIntegration{}, false
}
func (b *backend) StartConnect(ctx context.Context, name string) (string, error) {
	b.mu.Lock()
	b.started = append(b.started, name)
	b.mu.Unlock()
	return "https://provider.example/oauth2/authorize?state=s1", nil
}
func (b *backend) FinishConnect(ctx context.Context, name string, q url.Values) error {
	b.mu.Lock()
	b.finish = append(b.finish, q)
	b.mu.Unlock()
	if q.Get("state") != "good-state" {
		return fmt.Errorf("the state does not match a connect flow in progress: %w", ErrUnknownConnectState)
	}
	if e := q.Get("error"); e != "" {
		return fmt.Errorf("%s refused: %s", name, e)
	}
	return nil
}
func (b *backend) Disconnect(ctx context.Context, name string) error { return nil }
func (b *backend) Audit(ctx context.Context, entries []AuditEntry) {
	b.mu.Lock()
	b.audit = append(b.audit, entries...)
	b.mu.Unlock()
}
func (b *backend) Reader(ctx context.Context) integrations.Reader {
	return integrations.Reader{Username: "alice", Email: "alice@example.com"}
}
func (b *backend) AuthenticateClient(ctx context.Context, id, secret string) ([]string, time.Time, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s, ok := b.clients[id]; ok && s == secret {
		return b.scopes[id], b.expires[id], nil
	}
	return nil, time.Time{}, fmt.Errorf("unknown client")
}

func (b *backend) audits() []AuditEntry {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]AuditEntry(nil), b.audit...)
}

// env is one running injector on loopback with its upstreams.
type env struct {
	t        *testing.T
	srv      *Server
	addr     string // 127.0.0.1:port
	base     string // http://addr
	issuer   *auth.Issuer
	verifier *auth.Verifier
	be       *backend
	up       *recorder // docebo's upstream
	other    *recorder // a foreign host
	tk       *tokens   // docebo's tokens
	tk360    *tokens
	clk      *clock
	logs     *testenv.Buffer
	hang     chan struct{}
	release  chan struct{} // lets /api/sse-live send its second event
	secrets  []string      // every token string used, for the log grep
}

var (
	testKeysMu      sync.Mutex
	testPrivateKeys = map[*auth.Issuer]ed25519.PrivateKey{}
)

func newEnv(t *testing.T, mut ...func(*Config)) *env {
	t.Helper()
	e := &env{t: t, be: &backend{clients: map[string]string{}, scopes: map[string][]string{}},
		clk: &clock{t: time.Now()}, logs: &testenv.Buffer{}, hang: make(chan struct{}), release: make(chan struct{})}
	t.Cleanup(func() { close(e.hang) })

	e.other = &recorder{}
	e.other.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.other.record(r)
		io.WriteString(w, "other host")
	}))
	t.Cleanup(e.other.srv.Close)

	e.up = &recorder{}
	e.up.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.up.record(r)
		switch strings.TrimPrefix(r.URL.Path, "/base") {
		case "/api/setcookie":
			http.SetCookie(w, &http.Cookie{Name: "sess", Value: "upstream-session"})
			w.Header().Set("X-Frame-Options", "ALLOWALL")
			w.Header().Set("Access-Control-Allow-Origin", "*")
			io.WriteString(w, `{"ok":true}`)
		case "/api/redirect-other":
			http.Redirect(w, r, e.other.srv.URL+"/steal", http.StatusFound)
		case "/api/redirect-same":
			http.Redirect(w, r, "/base/api/echo?x=1", http.StatusFound)
		case "/api/strict":
			e.tk.mu.Lock()
			want := "Bearer " + e.tk.cur
			e.tk.mu.Unlock()
			if r.Header.Get("Authorization") != want || !strings.Contains(want, "refreshed") {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			io.WriteString(w, `{"ok":"refreshed"}`)
		case "/api/ratelimit":
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
		case "/api/sse":
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: one\n\n")
		case "/api/sse-live":
			// One event, then the next only once the test has read it.
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: first\n\n")
			w.(http.Flusher).Flush()
			select {
			case <-e.release:
			case <-e.hang:
			}
			io.WriteString(w, "data: second\n\n")
		case "/api/big":
			// 200 KiB in pieces, without a Content-Length.
			for i := range 200 {
				w.Write(bytes.Repeat([]byte{byte('a' + i%26)}, 1024))
			}
		case "/api/small-chunked":
			io.WriteString(w, "part one, ")
			w.(http.Flusher).Flush()
			io.WriteString(w, "part two")
		case "/api/reply": // answers with each "h" query value ("Name: value") as a header
			for _, h := range r.URL.Query()["h"] {
				k, v, _ := strings.Cut(h, ": ")
				w.Header().Add(k, v)
			}
			w.WriteHeader(http.StatusFound)
		case "/api/echo-body": // what record read of the body
			all := e.up.all()
			io.WriteString(w, all[len(all)-1].Body)
		default:
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]string{"path": r.URL.Path, "auth_seen": fmt.Sprint(r.Header.Get("Authorization") != "")})
		}
	}))
	t.Cleanup(e.up.srv.Close)

	upURL, _ := url.Parse(e.up.srv.URL + "/base")
	otherURL, _ := url.Parse(e.other.srv.URL)
	e.tk = &tokens{cur: "docebo-upstream-secret-AAAA"}
	e.tk360 = &tokens{cur: "d360-upstream-secret-BBBB"}
	tkHung := &tokens{cur: "hung-upstream-secret-CCCC"}
	docebo := &integ{name: "docebo", base: upURL,
		search: func(ctx context.Context, q string) ([]integrations.SearchResult, error) {
			return []integrations.SearchResult{
				{Kind: "course", ID: "1", Title: "Go basics", URL: "https://lms/1", Score: 0.9},
				{Kind: "course", ID: "2", Title: "Go advanced", URL: "https://lms/2", Score: 0.4},
			}, nil
		},
		courses: func(ctx context.Context) ([]integrations.Course, error) {
			p50, p10 := 50.0, 10.0
			return []integrations.Course{
				{ID: "c1", Title: "Done course", Status: "completed"},
				{ID: "c2", Title: "Half course", Status: "in_progress", Progress: &p50},
				{ID: "c3", Title: "New course", Status: "not_started"},
				{ID: "c4", Title: "Started course", Status: "in_progress", Progress: &p10},
			}, nil
		}}
	d360 := &integ{name: "document360", base: otherURL,
		search: func(ctx context.Context, q string) ([]integrations.SearchResult, error) {
			return []integrations.SearchResult{{Kind: "article", ID: "a1", Title: "Go article", URL: "https://kb/a1", Score: 0.7}}, nil
		}}
	hung := &integ{name: "hung", base: otherURL,
		search: func(ctx context.Context, q string) ([]integrations.SearchResult, error) {
			<-e.hang // ignores its context: the injector must not wait for it
			return nil, nil
		}}
	e.be.conns = []ConnectedIntegration{
		{Integration: searchInteg{docebo}, Tokens: e.tk},
		{Integration: searchWidget{searchInteg{d360}}, Tokens: e.tk360},
		{Integration: searchInteg{hung}, Tokens: tkHung},
	}
	e.secrets = []string{e.tk.cur, e.tk360.cur, tkHung.cur}

	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	e.issuer = auth.NewIssuer(priv, auth.DefaultIssuer, "latchkey-injector")
	testKeysMu.Lock()
	testPrivateKeys[e.issuer] = priv
	testKeysMu.Unlock()
	v, err := auth.NewVerifier(auth.VerifierConfig{Local: e.issuer})
	if err != nil {
		t.Fatal(err)
	}
	e.verifier = v
	cfg := Config{
		Backend:        e.be,
		Verifier:       v,
		Issuer:         e.issuer,
		SearchDeadline: 300 * time.Millisecond,
		Logger:         slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:            e.clk.Now,
		Menu: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "menu page "+r.URL.Path)
		}),
	}
	for _, m := range mut {
		m(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = s
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = ln.Addr().String()
	e.base = "http://" + e.addr
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	// Serve has registered the listener once /healthz answers.
	for deadline := time.Now().Add(5 * time.Second); ; {
		if resp, err := http.Get(e.base + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("server did not come up")
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		s.Close()
		e.checkNoSecrets()
	})
	return e
}

type searchWidget struct{ searchInteg }

func (searchWidget) WidgetToken(ctx context.Context, r integrations.Reader) (integrations.WidgetToken, error) {
	return integrations.WidgetToken{AccessToken: "widget-for-" + r.Username, ExpiresIn: 300}, nil
}

// checkNoSecrets greps every log line and audit entry for every token.
func (e *env) checkNoSecrets() {
	logs := e.logs.String()
	ab, _ := json.Marshal(e.be.audits())
	for _, s := range e.secrets {
		if s == "" {
			continue
		}
		if strings.Contains(logs, s) {
			e.t.Errorf("a token appears in the logs")
		}
		if strings.Contains(string(ab), s) {
			e.t.Errorf("a token appears in the audit trail")
		}
	}
}

func (e *env) mint(scope ...string) string {
	tok, err := e.issuer.Mint("alice", scope, time.Hour)
	if err != nil {
		e.t.Fatal(err)
	}
	e.secrets = append(e.secrets, tok)
	return tok
}

// do sends a request with a bearer token (if not empty) and returns the
// response with its body read.
func (e *env) do(method, path, bearer string, hdr map[string]string, body io.Reader) (*http.Response, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.base+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// raw writes a request verbatim on a new connection and reads the status.
func (e *env) raw(reqText string) (*http.Response, string) {
	e.t.Helper()
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		e.t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, reqText); err != nil {
		e.t.Fatal(err)
	}
	var req *http.Request
	if strings.HasPrefix(reqText, "HEAD ") {
		req = &http.Request{Method: "HEAD"}
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), req)
	if err != nil {
		e.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}
