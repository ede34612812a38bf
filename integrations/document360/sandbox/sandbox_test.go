package sandbox

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	tok    = "sandbox-test-token"
	key    = "d360_sk_sandbox-test"
	secret = "sandbox-client-secret"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func start(t *testing.T, o Options) (*Server, *httptest.Server) {
	t.Helper()
	o.APIToken, o.APIKey, o.ClientSecret = tok, key, secret
	s := New(o)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv
}

func get(t *testing.T, srv *httptest.Server, path string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestV2SearchShape(t *testing.T) {
	t.Parallel()
	_, srv := start(t, Options{})
	path := "/v2/ProjectVersions/" + DefaultVersionID + "/en?searchQuery=go&page=1&hitsPerPage=4"
	resp, body := get(t, srv, path, map[string]string{"api_token": tok})
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var env struct {
		Data struct {
			Hits []struct {
				ArticleID string `json:"article_id"`
				Title     string `json:"title"`
				Slug      string `json:"slug"`
				Snippet   struct {
					Content struct {
						Value      string `json:"value"`
						MatchLevel string `json:"match_level"`
					} `json:"content"`
				} `json:"_snippet_result"`
				Highlight struct {
					Title struct {
						Value string `json:"value"`
					} `json:"title"`
				} `json:"_highlight_result"`
			} `json:"hits"`
			NbHits  int `json:"nb_hits"`
			Page    int `json:"page"`
			NbPages int `json:"nb_pages"`
			PerPage int `json:"hits_per_page"`
		} `json:"data"`
		Success bool  `json:"success"`
		Errors  []any `json:"errors"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatal(err)
	}
	d := env.Data
	if !env.Success || d.Page != 1 || d.PerPage != 4 || len(d.Hits) != 4 || d.NbHits < 10 || d.NbPages != (d.NbHits+3)/4 {
		t.Fatalf("envelope: %+v", env)
	}
	for _, h := range d.Hits {
		if h.ArticleID == "" || h.Slug == "" || !strings.Contains(h.Snippet.Content.Value, "<em>") {
			t.Errorf("hit %+v", h)
		}
	}
	// The last page is short, and past it there are no hits.
	last := "/v2/ProjectVersions/" + DefaultVersionID + "/en?searchQuery=go&hitsPerPage=4&page="
	_, body = get(t, srv, last+"99", map[string]string{"api_token": tok})
	if !strings.Contains(string(body), `"hits":[]`) {
		t.Errorf("page 99: %s", body)
	}
}

func TestAuthShapes(t *testing.T) {
	t.Parallel()
	_, srv := start(t, Options{})
	resp, body := get(t, srv, "/v2/ProjectVersions", nil)
	if resp.StatusCode != 401 || !strings.Contains(string(body), `"description":"Unauthorized.`) {
		t.Errorf("v2 without token: %d %s", resp.StatusCode, body)
	}
	resp, body = get(t, srv, "/v3/projects/"+DefaultProjectID+"/workspaces", map[string]string{"X-API-Key": tok})
	if resp.StatusCode != 401 || len(body) != 0 || resp.Header.Get("WWW-Authenticate") != "Bearer" {
		t.Errorf("v3 with a v2 token: %d %q", resp.StatusCode, body)
	}
	resp, body = get(t, srv, "/v3/projects/other/workspaces", map[string]string{"X-API-Key": key})
	if resp.StatusCode != 403 || resp.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(string(body), "FORBIDDEN") {
		t.Errorf("v3 other project: %d %s", resp.StatusCode, body)
	}
	resp, body = get(t, srv, "/v2/Articles/nope/en", map[string]string{"api_token": tok})
	if resp.StatusCode != 404 || !strings.Contains(string(body), `"success":false`) {
		t.Errorf("unknown article: %d %s", resp.StatusCode, body)
	}
}

func TestRateLimitHeaders(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	_, srv := start(t, Options{RateLimit: 2, RateWindow: time.Minute, Now: clk.Now})
	h := map[string]string{"api_token": tok}
	r1, _ := get(t, srv, "/v2/ProjectVersions", h)
	if r1.Header.Get("X-RateLimit-Remaining") != "1" || r1.Header.Get("X-RateLimit-Reset") != "" {
		t.Errorf("first: %v", r1.Header)
	}
	clk.Add(20 * time.Second)
	r2, _ := get(t, srv, "/v2/ProjectVersions", h)
	if r2.Header.Get("X-RateLimit-Remaining") != "0" || r2.Header.Get("X-RateLimit-Limit") != "2" || r2.Header.Get("X-RateLimit-Reset") != "40" {
		t.Errorf("second: %v", r2.Header)
	}
	r3, _ := get(t, srv, "/v2/ProjectVersions", h)
	if r3.StatusCode != 429 || r3.Header.Get("Retry-After") != "40" {
		t.Errorf("third: %d %v", r3.StatusCode, r3.Header)
	}
	clk.Add(40 * time.Second)
	if r4, _ := get(t, srv, "/v2/ProjectVersions", h); r4.StatusCode != 200 {
		t.Errorf("after the window: %d", r4.StatusCode)
	}
}

func postToken(t *testing.T, srv *httptest.Server, user, pass, ctype, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/connect/token", strings.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func TestWidgetEndpoint(t *testing.T) {
	t.Parallel()
	s, srv := start(t, Options{WidgetID: "w1"})
	payload := func(validity int, groups string) string {
		return `{"username":"jd","firstName":"J","lastName":"D","emailId":"jd@example.com","readerGroupIds":` + groups +
			`,"tokenValidity":` + itoa(validity) + `,"widgetId":"w1","projectId":"` + DefaultProjectID + `"}`
	}
	// A JSON body of the reader payload; the server clamps like Document360.
	for _, c := range []struct{ in, want int }{{1, 5}, {5, 5}, {1440, 1440}, {5000, 1440}} {
		st, m := postToken(t, srv, DefaultProjectID, secret, "application/json", payload(c.in, `["g1"]`))
		if st != 200 || m["expires_in"] != float64(c.want*60) {
			t.Errorf("validity %d: %d %v", c.in, st, m)
			continue
		}
		claims, err := s.ParseWidgetToken(m["access_token"].(string))
		if err != nil || claims["sub"] != "jd" {
			t.Errorf("validity %d: token %v %v", c.in, claims, err)
		}
	}
	// The form with grant_type=Widget.
	form := url.Values{"grant_type": {"Widget"}, "payload": {payload(15, `["g1","g2"]`)}, "id": {DefaultProjectID}}
	if st, m := postToken(t, srv, DefaultProjectID, secret, "application/x-www-form-urlencoded", form.Encode()); st != 200 || m["expires_in"] != float64(900) {
		t.Errorf("form: %d %v", st, m)
	}
	// Refusals.
	if st, m := postToken(t, srv, DefaultProjectID, "wrong", "application/json", payload(15, `["g1"]`)); st != 401 || m["error"] != "invalid_client" {
		t.Errorf("bad secret: %d %v", st, m)
	}
	if st, _ := postToken(t, srv, "", "", "application/json", payload(15, `["g1"]`)); st != 401 {
		t.Errorf("no client auth: %d", st)
	}
	if st, m := postToken(t, srv, DefaultProjectID, secret, "application/json", payload(15, `[]`)); st != 400 ||
		!strings.Contains(m["error_description"].(string), "readerGroupIds") {
		t.Errorf("no reader group: %d %v", st, m)
	}
	bad := url.Values{"grant_type": {"client_credentials"}, "payload": {payload(15, `["g"]`)}}
	if st, m := postToken(t, srv, DefaultProjectID, secret, "application/x-www-form-urlencoded", bad.Encode()); st != 400 || m["error"] != "unsupported_grant_type" {
		t.Errorf("grant: %d %v", st, m)
	}
	if n := len(s.WidgetRequests()); n != 5 {
		t.Errorf("%d recorded widget requests, want 5", n)
	}
	if _, err := s.ParseWidgetToken("eyJhbGciOiJub25lIn0.e30."); err == nil {
		t.Error("an unsigned token verified")
	}
}

func TestArticlePageAndFaults(t *testing.T) {
	t.Parallel()
	s, srv := start(t, Options{})
	resp, body := get(t, srv, "/v2/Articles/"+SeedArticles()[1].ID+"/en", map[string]string{"api_token": tok})
	var env struct {
		Data struct {
			URL string `json:"url"`
		} `json:"data"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &env) != nil || env.Data.URL != srv.URL+"/docs/getting-started-with-go" {
		t.Fatalf("article: %d %s", resp.StatusCode, body)
	}
	resp, body = get(t, srv, "/docs/getting-started-with-go", nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "<h1>Getting started with Go (golang)</h1>") {
		t.Errorf("page: %d %s", resp.StatusCode, body)
	}
	if resp, _ := get(t, srv, "/docs/internal-onboarding-notes", nil); resp.StatusCode != 404 {
		t.Errorf("hidden page served: %d", resp.StatusCode)
	}

	s.FailNext(1, 502)
	if resp, _ := get(t, srv, "/v2/ProjectVersions", map[string]string{"api_token": tok}); resp.StatusCode != 502 {
		t.Errorf("FailNext: %d", resp.StatusCode)
	}
	s.SetDown(true)
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v2/ProjectVersions", nil)
	if resp, err := srv.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("down: got an answer %d", resp.StatusCode)
	}
	s.SetDown(false)
	if resp, _ := get(t, srv, "/v2/ProjectVersions", map[string]string{"api_token": tok}); resp.StatusCode != 200 {
		t.Errorf("back up: %d", resp.StatusCode)
	}
}

func TestSeedArticles(t *testing.T) {
	t.Parallel()
	as := SeedArticles()
	if len(as) < 40 {
		t.Fatalf("%d articles", len(as))
	}
	ids, slugs := map[string]bool{}, map[string]bool{}
	topical := 0
	for _, a := range as {
		if ids[a.ID] || slugs[a.Slug] {
			t.Errorf("duplicate %s / %s", a.ID, a.Slug)
		}
		ids[a.ID], slugs[a.Slug] = true, true
		l := strings.ToLower(a.Title + a.HTML)
		if strings.Contains(l, "golang") || strings.Contains(l, "onboarding") || strings.Contains(l, " go ") {
			topical++
		}
	}
	if topical < 8 {
		t.Errorf("only %d articles about go/golang/onboarding", topical)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
