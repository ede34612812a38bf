package document360_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/integrations"
	"github.com/latchkey/latchkey/integrations/document360"
	"github.com/latchkey/latchkey/integrations/document360/sandbox"
)

// The tests of this file check the behaviour of the real Document360 API
// that the sandbox implements (docs/document360.md lists the facts).

// The widget token endpoint is the URL shown in the widget's JWT settings:
// configurable, /connect/token on the identity server by default.
func TestWidgetTokenURLConfigurable(t *testing.T) {
	t.Parallel()
	const path = "/portal/widget/jwt-token"
	e := newEnv(t, sandbox.Options{WidgetTokenPath: path})
	d, _ := e.integration(t, map[string]string{"widget_token_url": e.srv.URL + path})
	wt, err := d.WidgetToken(ctxT(t, 5*time.Second), reader)
	if err != nil || wt.AccessToken == "" {
		t.Fatalf("widget token from %s: %+v %v", path, wt, err)
	}
	if n := len(e.sb.WidgetRequests()); n != 1 {
		t.Fatalf("the sandbox saw %d widget requests at %s", n, path)
	}
	// Without the setting the default /connect/token is asked, which this
	// sandbox does not serve.
	d2, _ := e.integration(t, nil)
	if _, err := d2.WidgetToken(ctxT(t, 5*time.Second), reader); err == nil {
		t.Fatal("the default endpoint answered although the sandbox serves another path")
	}
	for _, bad := range []string{"http://identity.example.com/connect/token", "https://identity.example.com/t?x=1", "token"} {
		_, err := document360.Factory(integrations.Config{Settings: map[string]string{"region": "eu", "widget_token_url": bad}})
		if err == nil || !strings.Contains(err.Error(), "widget_token_url") {
			t.Errorf("widget_token_url %q: %v", bad, err)
		}
	}
}

// Links are built like the site's: a template with {lang}, {version} and
// {slug}, in a sub-folder or with language and version segments, without an
// article lookup per hit; language codes keep their case.
func TestArticleLinkTemplates(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Options{Lang: "pt-BR"})
	tok := &staticTokens{tok: testToken}
	cases := []struct {
		tmpl, slug, want string
		versionCalls     int
	}{
		{"https://kb.example.com/help/docs/{slug}", "", "https://kb.example.com/help/docs/profiling-go-pprof", 0},
		{"https://kb.example.com/{version}/docs/{lang}/{slug}", "", "https://kb.example.com/v1/docs/pt-BR/profiling-go-pprof", 1},
		{"https://kb.example.com/{version}/docs/{lang}/{slug}", "current", "https://kb.example.com/current/docs/pt-BR/profiling-go-pprof", 0},
	}
	for _, c := range cases {
		d, _ := e.integration(t, map[string]string{"lang": "pt-BR", "article_url": c.tmpl, "version_slug": c.slug, "search_cache_ttl": "0"})
		before := e.sb.Stats()
		for range 2 {
			rs, err := d.Search(ctxT(t, 10*time.Second), tok, "pprof", 5)
			if err != nil || len(rs) != 1 {
				t.Fatalf("%s: %v %v", c.tmpl, titles(rs), err)
			}
			if rs[0].URL != c.want {
				t.Errorf("%s: url %q, want %q", c.tmpl, rs[0].URL, c.want)
			}
		}
		st := e.sb.Stats()
		if st.Article != before.Article {
			t.Errorf("%s: %d article lookups, want none", c.tmpl, st.Article-before.Article)
		}
		if got := st.Versions - before.Versions; got != c.versionCalls {
			t.Errorf("%s: %d version lists, want %d", c.tmpl, got, c.versionCalls)
		}
	}
	for _, bad := range []string{
		"https://kb.example.com/docs/",                  // no {slug}
		"https://kb.example.com/docs/{category}/{slug}", // unknown placeholder
		"https://{lang}.example.com/docs/{slug}",        // placeholder in the host
		"http://kb.example.com/docs/{slug}",             // not https
		"https://kb.example.com/docs/{slug}?ref=x",      // a query
	} {
		_, err := document360.Factory(integrations.Config{Settings: map[string]string{"region": "eu", "article_url": bad}})
		if err == nil || !strings.Contains(err.Error(), "article_url") {
			t.Errorf("article_url %q: %v", bad, err)
		}
	}
}

// A language code is sent as configured (pt-BR), in the search and in the
// article lookup.
func TestLanguageCaseKept(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Options{Lang: "pt-BR"})
	d, _ := e.integration(t, map[string]string{"lang": "pt-BR"})
	rs, err := d.Search(ctxT(t, 10*time.Second), &staticTokens{tok: testToken}, "vpn", 5)
	if err != nil || len(rs) != 1 || !strings.HasPrefix(rs[0].URL, e.srv.URL+"/docs/") {
		t.Fatalf("pt-BR: %v %v", rs, err)
	}
	for _, u := range e.requestURLs() {
		if strings.Contains(u, "pt-br") {
			t.Errorf("language lower-cased in %s", u)
		}
	}
}

// Hits the knowledge base hides are skipped: excluded from search, deleted,
// categories; private ones unless show_private.
func TestHiddenHitsSkipped(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Options{})
	tok := &staticTokens{tok: testToken}
	for _, api := range []string{"v2", "v3"} {
		for _, show := range []string{"", "false", "true"} {
			settings := map[string]string{"public_url": "https://kb.example.com", "show_private": show, "api": api}
			tk := tok
			if api == "v3" {
				tk = &staticTokens{tok: testKey}
			}
			d, _ := e.integration(t, settings)
			rs, err := d.Search(ctxT(t, 10*time.Second), tk, "sabbatical", 20)
			if err != nil {
				t.Fatal(err)
			}
			got := titles(rs)
			slices.Sort(got)
			want := []string{"Sabbatical policy"}
			if show == "true" && api == "v2" {
				want = []string{"Sabbatical pay for managers", "Sabbatical policy"}
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s show_private=%q: %q, want %q", api, show, got, want)
			}
		}
	}
	if _, err := document360.Factory(integrations.Config{Settings: map[string]string{"region": "eu", "show_private": "maybe"}}); err == nil {
		t.Error("show_private=maybe accepted")
	}
}

// The article lookup asks for the published version: the latest one may be
// a draft whose URL is not on the site.
func TestArticleLookupPublished(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Options{})
	for _, c := range []struct {
		api string
		tok string
	}{{"v2", testToken}, {"v3", testKey}} {
		d, _ := e.integration(t, map[string]string{"api": c.api})
		rs, err := d.Search(ctxT(t, 10*time.Second), &staticTokens{tok: c.tok}, "parental", 5)
		if err != nil || len(rs) != 1 {
			t.Fatalf("%s parental: %v %v", c.api, titles(rs), err)
		}
		if want := e.srv.URL + "/docs/parental-leave"; rs[0].URL != want {
			t.Errorf("%s: url %q, want the published %q", c.api, rs[0].URL, want)
		}
	}
}

// Uncached searches cost one call each when links can be built; repeated
// ones are answered from the cache; the cache is per token.
func TestSearchCallBudget(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Options{RateLimit: 60})
	d, _ := e.integration(t, map[string]string{"public_url": "https://kb.example.com"})
	tok := &staticTokens{tok: testToken}
	queries := []string{"vpn", "pprof", "travel", "Expense", "SSO"}
	calls := func() int { st := e.sb.Stats(); return st.Search + st.Article + st.Versions }
	for _, q := range queries {
		if _, err := d.Search(ctxT(t, 10*time.Second), tok, q, 10); err != nil {
			t.Fatal(err)
		}
	}
	if got := calls(); got != len(queries) {
		t.Fatalf("%d uncached searches cost %d calls, want %d", len(queries), got, len(queries))
	}
	for _, q := range queries {
		if _, err := d.Search(ctxT(t, 10*time.Second), tok, "  "+strings.ToUpper(q)+" ", 10); err != nil {
			t.Fatal(err)
		}
	}
	if got := calls(); got != len(queries) {
		t.Errorf("repeated searches cost %d more calls, want none (cached)", got-len(queries))
	}
	// The budget the provider reported: 60 a minute, 5 used.
	b, ok := d.RateBudget()
	if !ok || b.Remaining != 55 || b.Limit != 60 || b.Source != "provider" || b.WindowSeconds != 60 {
		t.Errorf("rate budget %+v %v, want 55 of 60 left (provider)", b, ok)
	}
	// Another token does not see the cached results.
	if _, err := d.Search(ctxT(t, 10*time.Second), &staticTokens{tok: "another-token"}, "vpn", 10); err == nil {
		t.Error("a search with another token was answered from the cache")
	}
	if _, err := d.Search(ctxT(t, 10*time.Second), nil, "vpn", 10); !errors.Is(err, integrations.ErrNotConnected) {
		t.Errorf("a search without tokens: %v, want ErrNotConnected", err)
	}
}

// Calls are paced to rate_limit a minute: once it is spent, a call that
// cannot wait fails at once with the time to wait, without a request.
func TestSearchPacedToBudget(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Options{})
	d, _ := e.integration(t, map[string]string{"public_url": "https://kb.example.com", "rate_limit": "3"})
	tok := &staticTokens{tok: testToken}
	for _, q := range []string{"vpn", "pprof", "expense"} {
		if _, err := d.Search(ctxT(t, 10*time.Second), tok, q, 10); err != nil {
			t.Fatal(err)
		}
	}
	b, ok := d.RateBudget()
	if !ok || b.Remaining != 0 || b.Limit != 3 || b.Source != "local" {
		t.Errorf("rate budget %+v %v, want 0 of 3 left (local)", b, ok)
	}
	before := e.sb.Stats().Search
	_, err := d.Search(ctxT(t, 2*time.Second), tok, "travel", 10)
	var rl *integrations.RateLimitError
	if !errors.As(err, &rl) || rl.RetryAfter < 50*time.Second || rl.RetryAfter > time.Minute {
		t.Fatalf("fourth search in the minute: %v, want a RateLimitError of about a minute", err)
	}
	if e.sb.Stats().Search != before {
		t.Error("a request was sent beyond the budget")
	}
	if _, err := d.Search(ctxT(t, 2*time.Second), tok, "vpn", 10); err != nil {
		t.Errorf("a cached search needs no budget: %v", err)
	}
	// A 429 from the provider is reported with its Retry-After.
	d2, _ := e.integration(t, map[string]string{"public_url": "https://kb.example.com"})
	e.sb.RateLimitNext(3, 40*time.Second)
	_, err = d2.Search(ctxT(t, 2*time.Second), tok, "travel", 10)
	if !errors.As(err, &rl) || rl.RetryAfter != 40*time.Second || !strings.Contains(err.Error(), "retry after 40s") {
		t.Fatalf("429: %v, want a RateLimitError with Retry-After 40s", err)
	}
}
