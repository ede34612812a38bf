package injector

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/latchkey/latchkey/integrations"
)

// TestThumbnails: the menu gets a course's thumbnail from the daemon, which
// fetches it only from the integration's own origin (never another host or
// loopback port), without credentials, without following redirects, only
// as an image and at most 512 KiB.
func TestThumbnails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{7}, 100)...)
	var mu sync.Mutex
	var seen []http.Header // what the integration's origin received
	var otherHits int
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		otherHits++
		mu.Unlock()
		w.Header().Set("Content-Type", "image/png")
		w.Write(png)
	}))
	defer other.Close()
	own := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		mu.Unlock()
		switch r.URL.Path {
		case "/img/ok.png":
			w.Header().Set("Content-Type", "image/png")
			w.Write(png)
		case "/img/pic.svg":
			w.Header().Set("Content-Type", "image/svg+xml; charset=utf-8")
			w.Write([]byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`))
		case "/img/big.png":
			w.Header().Set("Content-Type", "image/png")
			w.Write(bytes.Repeat([]byte{1}, maxThumbnailBytes+1))
		case "/img/page":
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte("<script>alert(1)</script>"))
		case "/img/redirect":
			http.Redirect(w, r, other.URL+"/x.png", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	defer own.Close()
	base, _ := url.Parse(own.URL + "/api")
	ou, _ := url.Parse(other.URL)
	courses := []integrations.Course{
		{ID: "ok", Thumbnail: own.URL + "/img/ok.png"},
		{ID: "svg", Thumbnail: own.URL + "/img/pic.svg"},
		{ID: "big", Thumbnail: own.URL + "/img/big.png"},
		{ID: "page", Thumbnail: own.URL + "/img/page"},
		{ID: "redirect", Thumbnail: own.URL + "/img/redirect"},
		{ID: "missing", Thumbnail: own.URL + "/img/missing.png"},
		{ID: "otherport", Thumbnail: "http://127.0.0.1:" + ou.Port() + "/x.png"}, // the same host, another port
		{ID: "otherhost", Thumbnail: "http://localhost:" + ou.Port() + "/x.png"},
		{ID: "userinfo", Thumbnail: strings.Replace(own.URL, "http://", "http://u:p@", 1) + "/img/ok.png"},
	}
	e.be.mu.Lock()
	e.be.conns = append(e.be.conns, ConnectedIntegration{
		Integration: searchInteg{&integ{name: "lms", base: base, courses: func(context.Context) ([]integrations.Course, error) { return courses, nil }}},
		Tokens:      &tokens{cur: "lms-upstream-secret-DDDD"},
	})
	e.be.mu.Unlock()
	e.secrets = append(e.secrets, "lms-upstream-secret-DDDD")

	b := e.openMenu()
	path := func(id string) string { return "/v1/courses/lms/" + id + "/thumbnail" }
	// Known only once the course feed named it.
	if resp, _ := b.do("GET", path("ok")); resp.StatusCode != 404 {
		t.Fatalf("thumbnail before the course feed: %d", resp.StatusCode)
	}
	if resp, body := b.do("GET", "/v1/courses"); resp.StatusCode != 200 || !strings.Contains(body, `"thumbnail":"`+own.URL+`/img/ok.png"`) {
		t.Fatalf("courses: %d %s", resp.StatusCode, body)
	}
	resp, body := b.do("GET", path("ok"))
	if resp.StatusCode != 200 || body != string(png) || resp.Header.Get("Content-Type") != "image/png" ||
		resp.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Fatalf("thumbnail: %d %q %v", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header)
	}
	if resp, _ := b.do("GET", path("svg")); resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/svg+xml" {
		t.Fatalf("svg thumbnail: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for id, want := range map[string]int{"big": 502, "page": 502, "redirect": 502, "missing": 502, "otherport": 404, "otherhost": 404, "userinfo": 404, "nope": 404} {
		if resp, body := b.do("GET", path(id)); resp.StatusCode != want {
			t.Errorf("thumbnail %s: %d %s, want %d", id, resp.StatusCode, body, want)
		}
	}
	// Scope and session, as every course route.
	if resp, _ := e.do("GET", path("ok"), e.mint("docebo"), nil, nil); resp.StatusCode != 403 {
		t.Errorf("thumbnail out of scope: %d", resp.StatusCode)
	}
	if resp, _ := e.do("GET", path("ok"), "", nil, nil); resp.StatusCode != 401 {
		t.Errorf("thumbnail without a caller: %d", resp.StatusCode)
	}
	mu.Lock()
	defer mu.Unlock()
	if otherHits != 0 {
		t.Errorf("another host or port was fetched %d times", otherHits)
	}
	for _, h := range seen {
		for _, k := range []string{"Authorization", "Cookie", wireSessionHeader, "Referer", "Origin"} {
			if h.Get(k) != "" {
				t.Errorf("the thumbnail fetch sent %s", k)
			}
		}
	}
}
