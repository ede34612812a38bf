package integrations

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// rotatingTokens hands out "old" until a Refresh of it, then "new"; after
// a refresh, Refresh hands back the token it was given (nothing more to
// refresh). refreshErr makes Refresh fail.
type rotatingTokens struct {
	mu         sync.Mutex
	current    string
	refreshes  int
	refused    []string
	refreshErr error
	// entered, when set, makes Refresh signal on it and then wait for its
	// context to end.
	entered chan struct{}
}

func (r *rotatingTokens) Token(ctx context.Context) (*oauth2.Token, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return &oauth2.Token{AccessToken: r.current}, nil
}

func (r *rotatingTokens) Refresh(ctx context.Context, rejected *oauth2.Token) (*oauth2.Token, error) {
	if r.entered != nil {
		close(r.entered)
		<-ctx.Done()
		return nil, ctx.Err()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refreshes++
	if r.refreshErr != nil {
		return nil, r.refreshErr
	}
	if rejected.AccessToken == "old" {
		r.current = "new"
	}
	return &oauth2.Token{AccessToken: r.current}, nil
}

func (r *rotatingTokens) Refused(tok *oauth2.Token) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refused = append(r.refused, tok.AccessToken)
}

// upstream records what each request carried and answers 401 to the
// tokens in reject.
type upstream struct {
	srv    *httptest.Server
	mu     sync.Mutex
	seen   []string // credential header of each request
	bodies []string
	reject map[string]bool
	header string
}

func newUpstream(t *testing.T, header string, reject ...string) *upstream {
	t.Helper()
	u := &upstream{reject: map[string]bool{}, header: header}
	for _, r := range reject {
		u.reject[r] = true
	}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		cred := r.Header.Get(u.header)
		u.mu.Lock()
		u.seen = append(u.seen, cred)
		u.bodies = append(u.bodies, string(b))
		rejected := u.reject[strings.TrimPrefix(cred, "Bearer ")]
		u.mu.Unlock()
		if rejected {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"invalid token `+cred+`"}`)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) requests() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.seen...)
}

func (u *upstream) sentBodies() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.bodies...)
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestTransportSetsTheCredentialOnAClone(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name           string
		header, prefix string
		want           string
	}{
		{"bearer by default", "", "", "Bearer old"},
		{"the integration's header", "api_token", "", "old"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := tc.header
			if h == "" {
				h = "Authorization"
			}
			up := newUpstream(t, h)
			tr := &Transport{Tokens: &rotatingTokens{current: "old"}, Header: tc.header, Prefix: tc.prefix, Base: up.srv.Client().Transport}
			req, _ := http.NewRequest(http.MethodGet, up.srv.URL, nil)
			req.Header.Set(h, "caller's own")
			resp, err := tr.Client(5 * time.Second).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := up.requests(); !equal(got, []string{tc.want}) {
				t.Fatalf("upstream saw %q, want %q", got, tc.want)
			}
			if req.Header.Get(h) != "caller's own" {
				t.Fatalf("the caller's request was changed: %q", req.Header.Get(h))
			}
		})
	}
}

// A 401 refreshes once and sends the request again, body included, with
// the new token.
func TestTransportRefreshesOnceAndReplaysTheBody(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, "Authorization", "old")
	tokens := &rotatingTokens{current: "old"}
	hc := (&Transport{Tokens: tokens, Base: up.srv.Client().Transport}).Client(5 * time.Second)
	req, _ := http.NewRequest(http.MethodPost, up.srv.URL, bytes.NewReader([]byte(`{"q":1}`)))
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || tokens.refreshes != 1 {
		t.Fatalf("status %d after %d refreshes, want 200 after 1", resp.StatusCode, tokens.refreshes)
	}
	if got := up.requests(); !equal(got, []string{"Bearer old", "Bearer new"}) {
		t.Fatalf("upstream saw %q", got)
	}
	if got := up.sentBodies(); !equal(got, []string{`{"q":1}`, `{"q":1}`}) {
		t.Fatalf("bodies %q", got)
	}
	if len(tokens.refused) != 0 {
		t.Fatalf("a token that worked was reported refused: %q", tokens.refused)
	}
}

// The retry refused too: the 401 goes back and the new token is reported
// refused (one refresh per token).
func TestTransportReportsARefreshedTokenRefused(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, "Authorization", "old", "new")
	tokens := &rotatingTokens{current: "old"}
	resp, err := (&Transport{Tokens: tokens, Base: up.srv.Client().Transport}).Client(5 * time.Second).Get(up.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || len(up.requests()) != 2 {
		t.Fatalf("status %d after %d requests, want 401 after 2", resp.StatusCode, len(up.requests()))
	}
	if !equal(tokens.refused, []string{"new"}) {
		t.Fatalf("refused %q, want [new]", tokens.refused)
	}
}

// Refresh with nothing new (a static token): the 401 goes back as it
// came, without a second request.
func TestTransportHandsBackA401WithNoNewToken(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, "Authorization", "static")
	tokens := &rotatingTokens{current: "static"}
	resp, err := (&Transport{Tokens: tokens, Base: up.srv.Client().Transport}).Client(5 * time.Second).Get(up.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "invalid token") {
		t.Fatalf("%d %q, want the upstream's 401", resp.StatusCode, body)
	}
	if n := len(up.requests()); n != 1 || tokens.refreshes != 1 {
		t.Fatalf("%d requests and %d refreshes, want 1 and 1", n, tokens.refreshes)
	}
}

// A body that cannot be sent again is not: the token is refreshed for the
// next request and the 401 goes back.
func TestTransportDoesNotReplayABodyItCannotRewind(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, "Authorization", "old")
	tokens := &rotatingTokens{current: "old"}
	req, _ := http.NewRequest(http.MethodPost, up.srv.URL, io.NopCloser(strings.NewReader("once")))
	req.GetBody = nil
	resp, err := (&Transport{Tokens: tokens, Base: up.srv.Client().Transport}).Client(5 * time.Second).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || len(up.requests()) != 1 || tokens.refreshes != 1 {
		t.Fatalf("status %d, %d requests, %d refreshes; want 401, 1, 1", resp.StatusCode, len(up.requests()), tokens.refreshes)
	}
}

// A failed refresh is a *RefreshError with the refresh's error and the
// 401, the token scrubbed from its body.
func TestTransportRefreshErrorCarriesThe401WithoutTheToken(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, "Authorization", "old-secret-token")
	tokens := &rotatingTokens{current: "old-secret-token", refreshErr: ErrReconnectNeeded}
	_, err := (&Transport{Tokens: tokens, Base: up.srv.Client().Transport}).Client(5 * time.Second).Get(up.srv.URL)
	var re *RefreshError
	if !errors.As(err, &re) || !errors.Is(err, ErrReconnectNeeded) || re.Status != http.StatusUnauthorized {
		t.Fatalf("err %v, want a RefreshError for ErrReconnectNeeded", err)
	}
	if !strings.Contains(string(re.Body), "invalid token") || strings.Contains(string(re.Body), "old-secret-token") {
		t.Fatalf("401 body kept as %q", re.Body)
	}
	if strings.Contains(err.Error(), "old-secret-token") {
		t.Fatalf("the error names the token: %v", err)
	}
}

func TestTransportWithoutATokenIsNotConnected(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, "Authorization")
	for name, tokens := range map[string]Tokens{"no source": nil, "empty token": &rotatingTokens{}} {
		_, err := (&Transport{Tokens: tokens, Base: up.srv.Client().Transport}).Client(time.Second).Get(up.srv.URL)
		if !errors.Is(err, ErrNotConnected) {
			t.Errorf("%s: %v, want ErrNotConnected", name, err)
		}
	}
	if n := len(up.requests()); n != 0 {
		t.Fatalf("%d requests sent without a token", n)
	}
}

// The request's context reaches the refresh: cancelling it ends a refresh
// that would otherwise wait.
func TestTransportHonoursTheRequestContext(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, "Authorization", "old")
	tokens := &rotatingTokens{current: "old", entered: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, up.srv.URL, nil)
	done := make(chan error, 1)
	go func() {
		_, err := (&Transport{Tokens: tokens, Base: up.srv.Client().Transport}).Client(0).Do(req)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("returned before the refresh: %v", err)
	case <-tokens.entered:
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}

// No redirect is followed: the token never reaches the redirect's target.
func TestTransportClientFollowsNoRedirect(t *testing.T) {
	t.Parallel()
	var reached atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached.Add(1) }))
	defer other.Close()
	redir := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/elsewhere", http.StatusTemporaryRedirect)
	}))
	defer redir.Close()
	tr := &Transport{Tokens: &rotatingTokens{current: "old"}, Base: redir.Client().Transport}
	resp, err := tr.Client(time.Second).Get(redir.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || reached.Load() != 0 {
		t.Fatalf("status %d, target reached %d times; want the 307 and 0", resp.StatusCode, reached.Load())
	}
	eg := EgressClient(time.Second)
	eg.Transport = redir.Client().Transport
	if resp, err := eg.Get(redir.URL); err != nil || resp.StatusCode != http.StatusTemporaryRedirect || reached.Load() != 0 {
		t.Fatalf("EgressClient followed a redirect: %v %v", resp, err)
	}
}

// The egress transport ignores the environment's proxy settings.
func TestEgressTransportUsesNoProxy(t *testing.T) {
	t.Setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
	t.Setenv("HTTP_PROXY", "http://proxy.invalid:3128")
	if EgressTransport().Proxy != nil {
		req := &http.Request{URL: &url.URL{Scheme: "https", Host: "lms.example"}}
		p, _ := EgressTransport().Proxy(req)
		t.Fatalf("egress transport has a proxy function (gives %v)", p)
	}
	if EgressClient(time.Second).Transport != EgressTransport() {
		t.Fatal("EgressClient does not use the egress transport")
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2015, 10, 21, 7, 28, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"3", 3 * time.Second, true},
		{" 0 ", 0, true},
		{"Wed, 21 Oct 2015 07:28:05 GMT", 5 * time.Second, true},
		{"Wednesday, 21-Oct-15 07:28:05 GMT", 5 * time.Second, true}, // RFC 850
		{"Wed, 21 Oct 2015 07:27:00 GMT", 0, true},                   // past
		{"999999", 24 * time.Hour, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{"1.5", 0, false},
		{"", 0, false},
	} {
		got, ok := RetryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("RetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestRefreshRejected(t *testing.T) {
	t.Parallel()
	next, err := RefreshRejected(context.Background(), &rotatingTokens{current: "old"}, &oauth2.Token{AccessToken: "old"})
	if err != nil || next == nil || next.AccessToken != "new" {
		t.Fatalf("a refreshable token: %v %v", next, err)
	}
	next, err = RefreshRejected(context.Background(), &rotatingTokens{current: "static"}, &oauth2.Token{AccessToken: "static"})
	if err != nil || next != nil {
		t.Fatalf("a static token: %v %v, want nothing to retry with", next, err)
	}
	_, err = RefreshRejected(context.Background(), &rotatingTokens{current: "old", refreshErr: ErrReconnectNeeded}, &oauth2.Token{AccessToken: "old"})
	if !errors.Is(err, ErrReconnectNeeded) {
		t.Fatalf("a failing refresh: %v", err)
	}
}
