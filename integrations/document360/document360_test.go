package document360_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/integrations"
	"github.com/latchkey/latchkey/integrations/document360"
	"github.com/latchkey/latchkey/integrations/document360/sandbox"
	"github.com/latchkey/latchkey/internal/testenv"
	"golang.org/x/oauth2"
)

const (
	testToken  = "d360-test-api-token-5f0c1e2d3b4a"
	testKey    = "d360_sk_test-v3-key-9a8b7c6d5e4f"
	testSecret = "widget-client-secret-0123456789abcdef"
	testWidget = "widget-42"
)

// staticTokens is what the daemon gives an api_token integration: the sealed
// token, and no way to refresh it.
type staticTokens struct {
	tok       string
	refreshes atomic.Int32
}

func (s *staticTokens) Token(context.Context) (*oauth2.Token, error) {
	return &oauth2.Token{AccessToken: s.tok}, nil
}

func (s *staticTokens) Refresh(context.Context, *oauth2.Token) (*oauth2.Token, error) {
	s.refreshes.Add(1)
	return nil, integrations.ErrReconnectNeeded
}

// env is one sandbox on loopback plus what it saw.
type env struct {
	sb   *sandbox.Server
	srv  *httptest.Server
	mu   sync.Mutex
	urls []string // every request URL the sandbox received
}

func newEnv(t *testing.T, opts sandbox.Options) *env {
	t.Helper()
	if opts.APIToken == "" {
		opts.APIToken = testToken
	}
	if opts.APIKey == "" {
		opts.APIKey = testKey
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = testSecret
	}
	e := &env{sb: sandbox.New(opts)}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.urls = append(e.urls, r.URL.String())
		e.mu.Unlock()
		e.sb.ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *env) requestURLs() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.urls...)
}

// integration builds a Document360 against the sandbox with settings on top
// of sensible defaults; logs go to the returned buffer.
func (e *env) integration(t *testing.T, settings map[string]string) (*document360.Document360, *testenv.Buffer) {
	t.Helper()
	s := map[string]string{
		"project":       sandbox.DefaultProjectID,
		"version":       sandbox.DefaultVersionID,
		"identity_url":  e.srv.URL,
		"widget_id":     testWidget,
		"reader_groups": "group1, group2",
	}
	for k, v := range settings {
		if v == "" {
			delete(s, k)
		} else {
			s[k] = v
		}
	}
	buf := &testenv.Buffer{}
	d, err := document360.New(integrations.Config{
		Name: document360.Name, BaseURL: e.srv.URL, Secret: testSecret, Settings: s,
	}, document360.Options{
		Logger:     slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})),
		HTTPClient: e.srv.Client(),
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return d, buf
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func checkResults(t *testing.T, e *env, rs []integrations.SearchResult) {
	t.Helper()
	seen := map[string]bool{}
	prev := 1.0
	for i, r := range rs {
		if r.Integration != document360.Name || r.Kind != "article" || r.ID == "" || r.Title == "" {
			t.Errorf("result %d incomplete: %+v", i, r)
		}
		if seen[r.ID] {
			t.Errorf("result %d: duplicate id %s", i, r.ID)
		}
		seen[r.ID] = true
		if !strings.HasPrefix(r.URL, e.srv.URL+"/docs/") {
			t.Errorf("result %d: url %q is not the article page", i, r.URL)
		}
		if strings.ContainsAny(r.Snippet, "<>") && strings.Contains(r.Snippet, "<em>") {
			t.Errorf("result %d: snippet still has markup: %q", i, r.Snippet)
		}
		if r.Score <= 0 || r.Score > 1 || r.Score > prev {
			t.Errorf("result %d: score %v out of range or above the previous %v", i, r.Score, prev)
		}
		prev = r.Score
	}
}

func TestSearchPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Options{})
	d, _ := e.integration(t, map[string]string{"page_size": "5"})
	tok := &staticTokens{tok: testToken}

	rs, err := d.Search(ctxT(t, 10*time.Second), tok, "go", 12)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 12 {
		t.Fatalf("got %d results, want 12", len(rs))
	}
	checkResults(t, e, rs)
	if got := e.sb.Stats().Search; got != 3 {
		t.Errorf("search pages requested = %d, want 3 (5+5+2)", got)
	}

	// Fewer hits than the limit: paging stops at nb_pages.
	before := e.sb.Stats().Search
	rs, err = d.Search(ctxT(t, 10*time.Second), tok, "onboarding", 100)
	if err != nil {
		t.Fatal(err)
	}
	checkResults(t, e, rs)
	if len(rs) == 0 || len(rs) >= 15 {
		t.Fatalf("onboarding: %d results", len(rs))
	}
	want := (len(rs) + 1 + 4) / 5 // the hidden article is a hit too, filtered by the client
	if got := e.sb.Stats().Search - before; got != want {
		t.Errorf("onboarding: %d pages requested, want %d", got, want)
	}
	for _, r := range rs {
		if strings.Contains(r.Title, "Internal onboarding notes") {
			t.Errorf("hidden article returned: %+v", r)
		}
	}
}

func TestSearchRankingAndSnippets(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Options{})
	d, _ := e.integration(t, nil)
	tok := &staticTokens{tok: testToken}

	rs, err := d.Search(ctxT(t, 10*time.Second), tok, "onboarding", 20)
	if err != nil {
		t.Fatal(err)
	}
	checkResults(t, e, rs)
	inTitle := func(r integrations.SearchResult) bool {
		return strings.Contains(strings.ToLower(r.Title), "onboarding")
	}
	if !inTitle(rs[0]) {
		t.Fatalf("top result %q has no title match", rs[0].Title)
	}
	lastTitle, firstBody := -1, -1
	for i, r := range rs {
		if inTitle(r) {
			lastTitle = i
		} else if firstBody < 0 {
			firstBody = i
		}
	}
	if firstBody < 0 || lastTitle > firstBody {
		t.Fatalf("title matches should all rank above body-only matches: %v", titles(rs))
	}
	if rs[lastTitle].Score <= rs[firstBody].Score {
		t.Errorf("title match score %v should beat body match %v", rs[lastTitle].Score, rs[firstBody].Score)
	}

	rs, err = d.Search(ctxT(t, 10*time.Second), tok, "golang", 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) == 0 || !strings.Contains(strings.ToLower(rs[0].Title), "golang") && !strings.Contains(rs[0].Title, "Go") {
		t.Fatalf("golang: %v", titles(rs))
	}

	// Snippets: entities decoded, highlight tags gone, script text dropped.
	rs, err = d.Search(ctxT(t, 10*time.Second), tok, "concatenation", 5)
	if err != nil || len(rs) != 1 {
		t.Fatalf("concatenation: %v %v", titles(rs), err)
	}
	sn := rs[0].Snippet
	if !strings.Contains(sn, "concatenation: <script>alert(1)</script> in a name") {
		t.Errorf("snippet %q: want the decoded text", sn)
	}
	if strings.Contains(sn, "<em>") || strings.Contains(sn, "&lt;") || strings.Contains(sn, "<p>") {
		t.Errorf("snippet %q still has markup or entities", sn)
	}
	rs, err = d.Search(ctxT(t, 10*time.Second), tok, "xss", 5)
	if err != nil || len(rs) != 1 {
		t.Fatalf("xss: %v %v", titles(rs), err)
	}
	if strings.Contains(rs[0].Snippet, "must never reach") {
		t.Errorf("script element text leaked into snippet %q", rs[0].Snippet)
	}

	// Drafts are not returned.
	rs, err = d.Search(ctxT(t, 10*time.Second), tok, "generics", 5)
	if err != nil || len(rs) != 0 {
		t.Errorf("generics (a draft): %v %v", titles(rs), err)
	}
}

func titles(rs []integrations.SearchResult) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Title)
	}
	return out
}

func TestArticleURLs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Options{})
	d, _ := e.integration(t, nil)
	tok := &staticTokens{tok: testToken}
	rs, err := d.Search(ctxT(t, 10*time.Second), tok, "go", 6)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.sb.Stats().Article; got != len(rs) {
		t.Fatalf("article lookups = %d, want %d", got, len(rs))
	}
	if _, err := d.Search(ctxT(t, 10*time.Second), tok, "go", 6); err != nil {
		t.Fatal(err)
	}
	if got := e.sb.Stats().Article; got != len(rs) {
		t.Errorf("article lookups after a repeated search = %d, want %d (cached)", got, len(rs))
	}

	// With public_url the URL is built from the slug, without lookups.
	d2, _ := e.integration(t, map[string]string{"public_url": "https://kb.example.com/"})
	before := e.sb.Stats().Article
	rs, err = d2.Search(ctxT(t, 10*time.Second), tok, "pprof", 5)
	if err != nil || len(rs) != 1 {
		t.Fatalf("pprof: %v %v", titles(rs), err)
	}
	if rs[0].URL != "https://kb.example.com/docs/profiling-go-pprof" {
		t.Errorf("url = %q", rs[0].URL)
	}
	if e.sb.Stats().Article != before {
		t.Errorf("article lookups with public_url")
	}
}

func TestVersionDiscovery(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Options{})
	d, _ := e.integration(t, map[string]string{"version": "", "public_url": "https://kb.example.com"})
	tok := &staticTokens{tok: testToken}
	for range 2 {
		if rs, err := d.Search(ctxT(t, 10*time.Second), tok, "vpn", 5); err != nil || len(rs) != 1 {
			t.Fatalf("vpn: %v %v", titles(rs), err)
		}
	}
	if got := e.sb.Stats().Versions; got != 1 {
		t.Errorf("version list requested %d times, want once", got)
	}
}

func TestV3Search(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Options{})
	d, _ := e.integration(t, map[string]string{"api": "v3", "version": "", "page_size": "3"})
	tok := &staticTokens{tok: testKey}
	rs, err := d.Search(ctxT(t, 10*time.Second), tok, "go", 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 7 {
		t.Fatalf("%d results, want 7", len(rs))
	}
	checkResults(t, e, rs)
	if got := e.sb.Stats().Search; got != 3 {
		t.Errorf("v3 pages = %d, want 3", got)
	}

	// A v2 token on v3: 401 with an empty body.
	_, err = d.Search(ctxT(t, 10*time.Second), &staticTokens{tok: testToken}, "go", 3)
	var pe *integrations.ProviderError
	if !errors.As(err, &pe) || pe.Status != http.StatusUnauthorized || !errors.Is(err, integrations.ErrReconnectNeeded) {
		t.Fatalf("v2 token on v3: %v", err)
	}
}

func TestRateLimitedThenSuccess(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Options{})
	d, _ := e.integration(t, map[string]string{"public_url": "https://kb.example.com", "search_cache_ttl": "0"})
	tok := &staticTokens{tok: testToken}
	e.sb.RateLimitNext(1, time.Second)
	rs, err := d.Search(ctxT(t, 10*time.Second), tok, "vpn", 5)
	if err != nil || len(rs) != 1 {
		t.Fatalf("after one 429: %v %v", titles(rs), err)
	}
	if st := e.sb.Stats(); st.RateLimited != 1 || st.Search != 1 {
		t.Errorf("stats %+v: want one 429 then a retry", st)
	}

	// A 429 longer than the deadline: a RateLimitError, without waiting.
	e.sb.RateLimitNext(5, 30*time.Second)
	_, err = d.Search(ctxT(t, 2*time.Second), tok, "vpn", 5)
	var rl *integrations.RateLimitError
	if !errors.As(err, &rl) || rl.Status != http.StatusTooManyRequests || rl.RetryAfter != 30*time.Second {
		t.Fatalf("want RateLimitError(429, 30s), got %v", err)
	}
}

func TestRemainingZeroWaitsForReset(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Options{RateLimit: 2, RateWindow: time.Second})
	d, _ := e.integration(t, map[string]string{"public_url": "https://kb.example.com", "search_cache_ttl": "0"})
	tok := &staticTokens{tok: testToken}
	for i := range 2 {
		if _, err := d.Search(ctxT(t, 10*time.Second), tok, "vpn", 5); err != nil {
			t.Fatalf("search %d: %v", i, err)
		}
	}
	// Remaining is 0 now: a call whose deadline ends before the reset fails
	// at once, without spending a request.
	before := e.sb.Stats().Search
	_, err := d.Search(ctxT(t, 100*time.Millisecond), tok, "vpn", 5)
	var rl *integrations.RateLimitError
	if !errors.As(err, &rl) {
		t.Fatalf("want RateLimitError, got %v", err)
	}
	if e.sb.Stats().Search != before {
		t.Errorf("a request was sent although the window was used up")
	}
	// With time to wait, the call waits for the reset and succeeds; the
	// sandbox never had to answer 429.
	if rs, err := d.Search(ctxT(t, 10*time.Second), tok, "vpn", 5); err != nil || len(rs) != 1 {
		t.Fatalf("after reset: %v %v", titles(rs), err)
	}
	if st := e.sb.Stats(); st.RateLimited != 0 {
		t.Errorf("sandbox answered %d 429s; the client should have waited for the reset", st.RateLimited)
	}
}

func TestOutage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Options{})
	d, logs := e.integration(t, map[string]string{"public_url": "https://kb.example.com"})
	tok := &staticTokens{tok: testToken}

	e.sb.SetDown(true)
	_, err := d.Search(ctxT(t, 5*time.Second), tok, "vpn", 5)
	if err == nil || errors.As(err, new(*integrations.RateLimitError)) {
		t.Fatalf("down: want a plain error, got %v", err)
	}
	if !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("down: error %q does not say the API is unreachable", err)
	}
	e.sb.SetDown(false)

	e.sb.FailNext(1, http.StatusServiceUnavailable)
	_, err = d.Search(ctxT(t, 5*time.Second), tok, "vpn", 5)
	var pe *integrations.ProviderError
	if !errors.As(err, &pe) || pe.Status != http.StatusServiceUnavailable || !strings.Contains(pe.Message, "Injected failure") {
		t.Fatalf("503: want ProviderError with the description, got %v", err)
	}

	e.sb.SetLatency(5 * time.Second)
	_, err = d.Search(ctxT(t, 100*time.Millisecond), tok, "vpn", 5)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow: want a deadline error, got %v", err)
	}
	e.sb.SetLatency(0)

	if rs, err := d.Search(ctxT(t, 5*time.Second), tok, "vpn", 5); err != nil || len(rs) != 1 {
		t.Fatalf("recovered: %v %v", titles(rs), err)
	}
	_ = logs
}

func TestProviderErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Options{})
	d, _ := e.integration(t, nil)

	bad := &staticTokens{tok: "not-the-token"}
	_, err := d.Search(ctxT(t, 5*time.Second), bad, "go", 5)
	var pe *integrations.ProviderError
	if !errors.As(err, &pe) || pe.Status != 401 || !strings.Contains(pe.Message, "api_token is missing or invalid") {
		t.Fatalf("bad token: %v", err)
	}
	if !errors.Is(err, integrations.ErrReconnectNeeded) || bad.refreshes.Load() != 1 {
		t.Errorf("bad token: want ErrReconnectNeeded after one refresh attempt, got %v (%d refreshes)", err, bad.refreshes.Load())
	}

	d2, _ := e.integration(t, map[string]string{"version": "0000-wrong"})
	_, err = d2.Search(ctxT(t, 5*time.Second), &staticTokens{tok: testToken}, "go", 5)
	if !errors.As(err, &pe) || pe.Status != 400 || !strings.Contains(pe.Message, "0000-wrong does not exist") {
		t.Fatalf("bad version: %v", err)
	}

	if _, err := d.Search(ctxT(t, 5*time.Second), nil, "go", 5); !errors.Is(err, integrations.ErrNotConnected) {
		t.Errorf("no tokens: %v", err)
	}
}

func TestNoRedirects(t *testing.T) {
	t.Parallel()
	var leaked atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("api_token") != "" {
			leaked.Add(1)
		}
	}))
	defer other.Close()
	redir := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusFound)
	}))
	defer redir.Close()
	d, err := document360.New(integrations.Config{BaseURL: redir.URL, Settings: map[string]string{"version": "v1"}},
		document360.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Search(ctxT(t, 5*time.Second), &staticTokens{tok: testToken}, "go", 5)
	var pe *integrations.ProviderError
	if !errors.As(err, &pe) || pe.Status != http.StatusFound {
		t.Errorf("redirect: want ProviderError 302, got %v", err)
	}
	if leaked.Load() != 0 {
		t.Fatal("the API token followed a redirect to another host")
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		cfg  integrations.Config
		want string // substring of the error, "" = ok
	}{
		{"region eu", integrations.Config{Settings: map[string]string{"region": "eu"}}, ""},
		{"no region", integrations.Config{Settings: map[string]string{}}, "set region"},
		{"bad region", integrations.Config{Settings: map[string]string{"region": "mars"}}, "want eu, us or ca"},
		{"http remote", integrations.Config{BaseURL: "http://example.com"}, "https"},
		{"bad api", integrations.Config{Settings: map[string]string{"region": "eu", "api": "v4"}}, "want v2 or v3"},
		{"v3 no project", integrations.Config{Settings: map[string]string{"region": "eu", "api": "v3"}}, "set project"},
		{"bad validity", integrations.Config{Settings: map[string]string{"region": "eu", "token_validity": "soon"}}, "token_validity"},
		{"bad version", integrations.Config{Settings: map[string]string{"region": "eu", "version": "../x"}}, "version"},
		{"bad lang", integrations.Config{Settings: map[string]string{"region": "eu", "lang": "e n"}}, "lang"},
		{"bad public", integrations.Config{Settings: map[string]string{"region": "eu", "public_url": "javascript:alert(1)"}}, "public_url"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := document360.Factory(c.cfg)
			if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Errorf("err = %v, want %q", err, c.want)
			}
		})
	}
	in, err := document360.Factory(integrations.Config{Settings: map[string]string{"region": "us"}})
	if err != nil {
		t.Fatal(err)
	}
	if in.Name() != "document360" || in.BaseURL().String() != "https://apihub.us.document360.io" {
		t.Errorf("us: %s %s", in.Name(), in.BaseURL())
	}
}

func BenchmarkSearch(b *testing.B) {
	sb := sandbox.New(sandbox.Options{APIToken: testToken})
	srv := httptest.NewServer(sb)
	defer srv.Close()
	d, err := document360.New(integrations.Config{BaseURL: srv.URL, Settings: map[string]string{
		"version": sandbox.DefaultVersionID}}, document360.Options{Logger: slog.New(slog.DiscardHandler), HTTPClient: srv.Client()})
	if err != nil {
		b.Fatal(err)
	}
	tok := &staticTokens{tok: testToken}
	ctx := context.Background()
	for b.Loop() {
		if rs, err := d.Search(ctx, tok, "go", 20); err != nil || len(rs) == 0 {
			b.Fatal(len(rs), err)
		}
	}
}

// TestConcurrentSearches shares one integration between goroutines (the
// injector's fan-out does), under -race.
func TestConcurrentSearches(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Options{RateLimit: 1000})
	d, _ := e.integration(t, map[string]string{"version": "", "rate_limit": "1000"})
	tok := &staticTokens{tok: testToken}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := []string{"go", "onboarding", "vpn", "golang"}[i%4]
			rs, err := d.Search(ctxT(t, 10*time.Second), tok, q, 10)
			if err == nil && len(rs) == 0 {
				err = errors.New("no results for " + q)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}
