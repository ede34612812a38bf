package injector

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/integrations"
)

// Cancelling Serve's context lets an in-flight proxied request finish.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	entered := make(chan struct{})
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "finished")
	}))
	defer slow.Close()
	base, _ := url.Parse(slow.URL)
	be := &backend{conns: []ConnectedIntegration{{Integration: &integ{name: "slow", base: base}, Tokens: &tokens{cur: "slow-token"}}}}
	s, err := New(Config{Backend: be, Verifier: e.verifier, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()

	type result struct {
		status int
		body   string
		err    error
	}
	got := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/v1/proxy/slow/x", nil)
		req.Header.Set("Authorization", "Bearer "+e.mint("slow"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			got <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- result{status: resp.StatusCode, body: string(b)}
	}()
	<-entered
	cancel()
	// The listener closes promptly: new connections are refused.
	for {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			break
		}
		c.Close()
	}
	close(release)
	r := <-got
	if r.err != nil || r.status != 200 || r.body != "finished" {
		t.Fatalf("in-flight request: %+v", r)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve returned %v", err)
	}
}

// waitingTokens is a token source whose Refresh waits for its context to
// end, after saying so on entered.
type waitingTokens struct{ entered chan struct{} }

func (w *waitingTokens) Token(context.Context) (*oauth2.Token, error) {
	return &oauth2.Token{AccessToken: "stale-token"}, nil
}

func (w *waitingTokens) Refresh(ctx context.Context, _ *oauth2.Token) (*oauth2.Token, error) {
	close(w.entered)
	<-ctx.Done()
	return nil, ctx.Err()
}

// shutdownReaches starts a server for be, sends one request to path with a
// token for scope, and once started has been closed cancels Serve's
// context: the request must be answered and Serve return well within the
// 30 s grace period, which they would not if what the request waits on did
// not see the shutdown.
func shutdownReaches(t *testing.T, e *env, be *backend, cfg Config, path, scope string, started chan struct{}) {
	t.Helper()
	cfg.Backend, cfg.Verifier, cfg.Logger = be, e.verifier, slog.New(slog.DiscardHandler)
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	answered := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+path, nil)
		req.Header.Set("Authorization", "Bearer "+e.mint(scope))
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		answered <- err
	}()
	<-started
	cancel()
	guard := time.After(10 * time.Second)
	select {
	case <-answered: // an answer or a cut connection: either way, not left waiting
	case <-guard:
		t.Fatal("the request was still waiting 10 s after the shutdown began")
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve returned %v", err)
		}
	case <-guard:
		t.Fatal("Serve had not returned 10 s after the shutdown began")
	}
}

// The shutdown reaches a proxied request's token refresh.
func TestShutdownEndsAProxyRefresh(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer up.Close()
	base, _ := url.Parse(up.URL)
	tk := &waitingTokens{entered: make(chan struct{})}
	be := &backend{conns: []ConnectedIntegration{{Integration: &integ{name: "waits", base: base}, Tokens: tk}}}
	shutdownReaches(t, e, be, Config{}, "/v1/proxy/waits/x", "waits", tk.entered)
}

// The shutdown reaches a net/http route's context (the courses fan-out,
// whose own deadline is an hour here).
func TestShutdownEndsANetHTTPRoute(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	entered := make(chan struct{})
	base, _ := url.Parse("https://lms.example")
	in := searchInteg{&integ{name: "lms", base: base, courses: func(ctx context.Context) ([]integrations.Course, error) {
		close(entered)
		<-ctx.Done()
		return nil, ctx.Err()
	}}}
	be := &backend{conns: []ConnectedIntegration{{Integration: in, Tokens: &tokens{cur: "lms-token"}}}}
	shutdownReaches(t, e, be, Config{CoursesDeadline: time.Hour}, "/v1/courses", "lms", entered)
}

type signInInteg struct{ *integ }

func (signInInteg) SignInURL(ctx context.Context, tk integrations.Tokens, target string) (string, error) {
	return "https://lms.example/learn/course/" + target + ";type=oauth2_response;access_token=short-lived-XYZ", nil
}

func TestOpen(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	base, _ := url.Parse("https://lms.example")
	e.be.mu.Lock()
	e.be.conns = append(e.be.conns, ConnectedIntegration{Integration: signInInteg{&integ{name: "lms", base: base}}, Tokens: &tokens{cur: "lms-token"}})
	e.be.mu.Unlock()
	e.secrets = append(e.secrets, "short-lived-XYZ")
	tok := e.mint("lms")
	resp, _ := e.do("GET", "/v1/open/lms/42", tok, nil, nil)
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), "https://lms.example/learn/course/42;") {
		t.Fatalf("open: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body := e.do("GET", "/v1/open/lms/42", tok, map[string]string{"Accept": "application/json"}, nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `"url":"https://lms.example/learn/course/42;`) {
		t.Fatalf("open json: %d %s", resp.StatusCode, body)
	}
	sess := e.openMenu().session
	if resp, _ := e.do("GET", "/v1/open/lms/42", "", map[string]string{MenuSessionHeader: sess}, nil); resp.StatusCode != http.StatusFound {
		t.Fatalf("open from the menu: %d", resp.StatusCode)
	}
	if resp, _ := e.do("GET", "/v1/open/lms/42", e.mint("docebo"), nil, nil); resp.StatusCode != 403 {
		t.Fatalf("open out of scope: %d", resp.StatusCode)
	}
	if resp, _ := e.do("GET", "/v1/open/docebo/42", e.mint("docebo"), nil, nil); resp.StatusCode != 404 {
		t.Fatalf("open without SignIn: %d", resp.StatusCode)
	}
}
