package daemon

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/injector"
	"github.com/latchkey/latchkey/integrations"
	"github.com/latchkey/latchkey/integrations/docebo/sandbox"
	d360 "github.com/latchkey/latchkey/integrations/document360/sandbox"
)

const d360Token = "d360-api-token-7f3c9a1b2e"

// withDocument360 configures a Document360 sandbox beside the Docebo one with
// the default settings (withDocument360Settings).
func withDocument360(t *testing.T, h *harness, so d360.Options) *d360.Server {
	t.Helper()
	return withDocument360Settings(t, h, so, func(string) map[string]string { return nil })
}

type searchDoc struct {
	Results []integrations.SearchResult `json:"results"`
	Errors  []struct {
		Integration, Code, Message string
	} `json:"errors"`
}

func TestMixedSearchAndOutage(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{})
	h.connect()
	sb := withDocument360(t, h, d360.Options{})
	if got := h.state("document360"); got != "connected" {
		t.Fatalf("document360 state %q", got)
	}
	// The menu offers Connect for OAuth integrations only.
	st, err := h.d.StatusDoc(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range st.Integrations {
		want := map[string]string{"docebo": "oauth", "document360": "api_token"}[in.Name]
		if want != "" && in.Connect != want {
			t.Errorf("%s: connect %q, want %q", in.Name, in.Connect, want)
		}
	}

	var doc searchDoc
	if code := h.api("GET", "/v1/search?q=go&limit=40", &doc); code != 200 {
		t.Fatalf("search: %d", code)
	}
	seen := map[string]int{}
	for i, r := range doc.Results {
		seen[r.Integration]++
		if r.Title == "" || r.URL == "" || r.ID == "" {
			t.Fatalf("result without title/url/id: %+v", r)
		}
		if i > 0 && r.Score > doc.Results[i-1].Score {
			t.Fatalf("results not ranked: %v after %v", r.Score, doc.Results[i-1].Score)
		}
		if r.Integration == "document360" && (r.Kind != "article" || (strings.Contains(r.Snippet, "</") || strings.Contains(r.Snippet, "<em>") || strings.Contains(r.Snippet, "<p>"))) {
			t.Fatalf("bad article result %+v", r)
		}
	}
	if seen["docebo"] == 0 || seen["document360"] == 0 {
		t.Fatalf("search did not mix both integrations: %v", seen)
	}
	if len(doc.Errors) != 0 {
		t.Fatalf("errors with both up: %+v", doc.Errors)
	}

	// Document360 down: its entry in errors, Docebo still answers.
	sb.SetDown(true)
	doc = searchDoc{}
	if code := h.api("GET", "/v1/search?q=go", &doc); code != 200 {
		t.Fatalf("search with document360 down: %d", code)
	}
	if len(doc.Errors) != 1 || doc.Errors[0].Integration != "document360" {
		t.Fatalf("errors = %+v", doc.Errors)
	}
	for _, r := range doc.Results {
		if r.Integration != "docebo" {
			t.Fatalf("result from a down integration: %+v", r)
		}
	}
	if len(doc.Results) == 0 {
		t.Fatal("docebo results missing while document360 is down")
	}
	sb.SetDown(false)

	// Rate-limited beyond the deadline: an error entry, not a failed search.
	sb.RateLimitNext(100, time.Minute)
	doc = searchDoc{}
	if code := h.api("GET", "/v1/search?q=go", &doc); code != 200 || len(doc.Errors) != 1 || doc.Errors[0].Integration != "document360" {
		t.Fatalf("rate-limited search: %d %+v", code, doc.Errors)
	}

	// The API token never leaves the vault: not in the state files in the
	// clear, not in the config, not in the logs.
	assertNotOnDisk(t, h.dir, d360Token)
	if strings.Contains(h.logs.String(), d360Token) {
		t.Fatal("the Document360 API token appeared in the logs")
	}
}

func TestWidgetTokenNeedsMenuSession(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{})
	h.connect()
	sb := withDocument360(t, h, d360.Options{})
	base := "http://" + h.d.listenAddr
	// A local JWT is not a menu session.
	if code := h.api("POST", "/v1/integrations/document360/widget-token", nil); code < 400 {
		t.Fatalf("widget token with a JWT: %d", code)
	}
	sess := menuSession(t, h)
	req, _ := http.NewRequest("POST", base+"/v1/integrations/document360/widget-token", nil)
	req.Header.Set("Origin", base)
	req.Header.Set(injector.MenuSessionHeader, sess)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 200 || !strings.Contains(string(b), `"accessToken"`) || !strings.Contains(string(b), `"expiresIn":900`) {
		t.Fatalf("widget token: %d %s", r.StatusCode, b)
	}
	reqs := sb.WidgetRequests()
	if len(reqs) != 1 || len(reqs[0].ReaderGroupIDs) != 1 || reqs[0].ReaderGroupIDs[0] != "engineering" || reqs[0].Username == "" {
		t.Fatalf("widget request seen by the sandbox: %+v", reqs)
	}
}

// assertNotOnDisk fails when secret appears in any file under dir.
func assertNotOnDisk(t *testing.T, dir, secret string) {
	t.Helper()
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() || fi.Mode()&os.ModeSocket != 0 {
			return nil
		}
		b, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(b), secret) {
			t.Errorf("secret found in %s", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// menuSession opens a menu session the menu page's way: the one-time code
// from the menu URL's fragment, exchanged by POST for the session the page
// sends in a header.
func menuSession(t *testing.T, h *harness) string {
	t.Helper()
	base := "http://" + h.d.listenAddr
	menuURL, _ := url.Parse(h.d.inj.NewMenuCode())
	req, _ := http.NewRequest("POST", base+injector.MenuSessionPath,
		strings.NewReader(`{"code":"`+strings.TrimPrefix(menuURL.Fragment, "code=")+`"}`))
	req.Header.Set("Origin", base)
	req.Header.Set("Content-Type", "application/json")
	r, err := http.DefaultClient.Do(req)
	if err != nil || r.StatusCode != 200 {
		t.Fatalf("menu code exchange: %v %v", r, err)
	}
	defer r.Body.Close()
	var sess struct {
		Session string `json:"session"`
	}
	if err := json.NewDecoder(r.Body).Decode(&sess); err != nil || sess.Session == "" {
		t.Fatalf("menu code exchange: no session (%v)", err)
	}
	return sess.Session
}
