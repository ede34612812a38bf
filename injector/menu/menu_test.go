package menu

import (
	"bytes"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

func get(t *testing.T, h http.Handler, method, target string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestContentTypesAndHeaders(t *testing.T) {
	t.Parallel()
	h := Handler()
	cases := []struct{ path, ctype string }{
		{"/menu", "text/html; charset=utf-8"},
		{"/menu/", "text/html; charset=utf-8"},
		{"/menu/index.html", "text/html; charset=utf-8"},
		{"/menu/app.js", "text/javascript; charset=utf-8"},
		{"/menu/api.js", "text/javascript; charset=utf-8"},
		{"/menu/search.js", "text/javascript; charset=utf-8"},
		{"/menu/courses.js", "text/javascript; charset=utf-8"},
		{"/menu/integrations.js", "text/javascript; charset=utf-8"},
		{"/menu/style.css", "text/css; charset=utf-8"},
		{"/menu/icon.svg", "image/svg+xml"},
		{"/app.js", "text/javascript; charset=utf-8"}, // behind http.StripPrefix
		{"/", "text/html; charset=utf-8"},
	}
	for _, c := range cases {
		w := get(t, h, "GET", c.path)
		if w.Code != http.StatusOK {
			t.Errorf("GET %s: status %d, want 200", c.path, w.Code)
			continue
		}
		if got := w.Header().Get("Content-Type"); got != c.ctype {
			t.Errorf("GET %s: Content-Type %q, want %q", c.path, got, c.ctype)
		}
		for k, want := range map[string]string{
			"X-Content-Type-Options":  "nosniff",
			"X-Frame-Options":         "DENY",
			"Content-Security-Policy": ContentSecurityPolicy,
		} {
			if got := w.Header().Get(k); got != want {
				t.Errorf("GET %s: %s = %q, want %q", c.path, k, got, want)
			}
		}
		if w.Body.Len() == 0 {
			t.Errorf("GET %s: empty body", c.path)
		}
	}
}

func TestKeepsCallersCSP(t *testing.T) {
	t.Parallel()
	h := Handler()
	const policy = "default-src 'none'; script-src 'self'"
	wrapped := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", policy)
		h.ServeHTTP(w, r)
	})
	w := get(t, wrapped, "GET", "/menu")
	if got := w.Header().Values("Content-Security-Policy"); len(got) != 1 || got[0] != policy {
		t.Fatalf("CSP = %q, want the caller's %q alone", got, policy)
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	h := Handler()
	for _, p := range []string{"/menu/nope.js", "/menu/../go.mod", "/menu/menu.go", "/menu/menu_test.go", "/menu/doc.go", "/menux"} {
		if w := get(t, h, "GET", p); w.Code != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", p, w.Code)
		}
	}
	for _, m := range []string{"POST", "PUT", "DELETE"} {
		w := get(t, h, m, "/menu/")
		if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s /menu/: status %d Allow %q, want 405 and GET, HEAD", m, w.Code, w.Header().Get("Allow"))
		}
	}
}

func TestHeadAndConditional(t *testing.T) {
	t.Parallel()
	h := Handler()
	w := get(t, h, "HEAD", "/menu/app.js")
	if w.Code != http.StatusOK || w.Body.Len() != 0 {
		t.Fatalf("HEAD: status %d body %d bytes", w.Code, w.Body.Len())
	}
	etag := w.Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	if w := get(t, h, "GET", "/menu/app.js", "If-None-Match", etag); w.Code != http.StatusNotModified {
		t.Fatalf("If-None-Match: status %d, want 304", w.Code)
	}
	if w := get(t, h, "GET", "/menu/style.css", "If-None-Match", etag); w.Code != http.StatusOK {
		t.Fatalf("other asset's ETag: status %d, want 200", w.Code)
	}
}

// attr returns the value of the named attribute of n.
func attr(n *html.Node, name string) (string, bool) {
	for _, a := range n.Attr {
		if strings.EqualFold(a.Key, name) {
			return a.Val, true
		}
	}
	return "", false
}

// TestStrictCSPCompatible: no inline script, inline style, event-handler
// attribute or external resource anywhere in the page; every referenced
// asset is embedded.
func TestStrictCSPCompatible(t *testing.T) {
	t.Parallel()
	// The pages: the menu, and the consent view latchkey opens for an app.
	pages := []string{"index.html", "consent.html"}
	var refs []string
	scripts := 0
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			for _, a := range n.Attr {
				if strings.HasPrefix(strings.ToLower(a.Key), "on") {
					t.Errorf("<%s %s=…>: inline event handler", n.Data, a.Key)
				}
				if strings.EqualFold(a.Key, "style") {
					t.Errorf("<%s style=…>: inline style", n.Data)
				}
			}
			switch n.Data {
			case "script":
				scripts++
				src, ok := attr(n, "src")
				if !ok || src == "" {
					t.Errorf("<script> without src: inline script")
				}
				if n.FirstChild != nil && strings.TrimSpace(n.FirstChild.Data) != "" {
					t.Errorf("<script src=%q> has an inline body", src)
				}
				if typ, _ := attr(n, "type"); typ != "module" {
					t.Errorf("<script src=%q> type %q, want module", src, typ)
				}
				refs = append(refs, src)
			case "style":
				t.Errorf("<style> element: inline style")
			case "link", "img":
				for _, k := range []string{"href", "src"} {
					if v, ok := attr(n, k); ok {
						refs = append(refs, v)
					}
				}
			case "template":
				// html.Parse keeps template content as children; walk them.
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	for _, name := range pages {
		page, err := FS.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := html.Parse(bytes.NewReader(page))
		if err != nil {
			t.Fatal(err)
		}
		before := scripts
		walk(doc)
		if scripts == before {
			t.Fatalf("%s loads no script", name)
		}
	}
	// ES module imports, followed transitively.
	importRe := regexp.MustCompile(`(?m)^\s*import\s[^'"]*['"]([^'"]+)['"]`)
	seen := map[string]bool{}
	var follow func(name string)
	follow = func(name string) {
		if seen[name] {
			return
		}
		seen[name] = true
		b, err := FS.ReadFile(name)
		if err != nil {
			t.Errorf("asset %s is referenced but not embedded", name)
			return
		}
		if !strings.HasSuffix(name, ".js") {
			return
		}
		src := string(b)
		if strings.Contains(src, "innerHTML") || strings.Contains(src, "insertAdjacentHTML") || strings.Contains(src, "document.write") {
			t.Errorf("%s builds HTML from strings; use DOM APIs", name)
		}
		if strings.Contains(src, "eval(") || strings.Contains(src, "new Function") {
			t.Errorf("%s evaluates strings (CSP 'unsafe-eval')", name)
		}
		if regexp.MustCompile(`(?i)localStorage|document\.cookie|indexedDB`).MatchString(src) {
			t.Errorf("%s touches cookies or lasting storage; the session lives in the tab's sessionStorage only", name)
		}
		if name != "api.js" && strings.Contains(src, "sessionStorage") {
			t.Errorf("%s touches sessionStorage; only api.js holds the session", name)
		}
		for _, m := range importRe.FindAllStringSubmatch(src, -1) {
			if !strings.HasPrefix(m[1], "./") {
				t.Errorf("%s imports %q: only relative, embedded modules", name, m[1])
				continue
			}
			follow(path.Join(path.Dir(name), m[1]))
		}
	}
	for _, r := range refs {
		if strings.Contains(r, "//") || strings.HasPrefix(r, "data:") {
			t.Errorf("external or data resource %q", r)
			continue
		}
		if !strings.HasPrefix(r, Prefix+"/") {
			t.Errorf("resource %q is not under %s/ (relative URLs break at /menu without a slash)", r, Prefix)
			continue
		}
		follow(strings.TrimPrefix(r, Prefix+"/"))
	}
	css, err := FS.ReadFile("style.css")
	if err != nil {
		t.Fatal(err)
	}
	if regexp.MustCompile(`(?i)@import|url\(`).Match(css) {
		t.Error("style.css loads other resources")
	}
	// Every embedded file is used (nothing stale ships).
	err = fs.WalkDir(FS, ".", func(name string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !slices.Contains(pages, name) && !seen[name] {
			t.Errorf("embedded %s is never referenced", name)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestAPIUsesSessionHeaderOnly: the page sends its session in the header,
// never cookies (a browser sends those to every port of the host), and
// holds no token of its own.
func TestAPIUsesSessionHeaderOnly(t *testing.T) {
	t.Parallel()
	b, err := FS.ReadFile("api.js")
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	if n := strings.Count(src, "fetch("); n < 3 || strings.Count(src, "credentials: 'omit'") != n {
		t.Errorf("every fetch (%d) must use credentials: 'omit'", n)
	}
	if !strings.Contains(src, "'X-Latchkey-Session'") || !strings.Contains(src, "window.sessionStorage") {
		t.Error("the session is not kept in sessionStorage and sent in X-Latchkey-Session")
	}
	if strings.Contains(src, "Authorization") {
		t.Error("the page sends an Authorization header: it must hold no token")
	}
	if !strings.Contains(src, "history.replaceState") {
		t.Error("the one-time code is not taken out of the address bar")
	}
}

// TestCSPImagesFromOwnOriginOnly: an image URL from a provider cannot make
// the browser call another host or loopback port.
func TestCSPImagesFromOwnOriginOnly(t *testing.T) {
	t.Parallel()
	for _, d := range strings.Split(ContentSecurityPolicy, ";") {
		f := strings.Fields(d)
		if len(f) > 0 && f[0] == "img-src" && strings.Join(f[1:], " ") != "'self' data:" {
			t.Errorf("CSP %q, want img-src 'self' data:", d)
		}
	}
	if strings.Contains(ContentSecurityPolicy, "127.0.0.1") || strings.Contains(ContentSecurityPolicy, "localhost") || strings.Contains(ContentSecurityPolicy, "https:") {
		t.Errorf("CSP %q names other origins", ContentSecurityPolicy)
	}
	for _, name := range []string{"courses.js", "search.js"} {
		b, _ := FS.ReadFile(name)
		if regexp.MustCompile(`\.src\s*=\s*(c|r)\.thumbnail|safeURL\([a-z]+\.thumbnail\)`).Match(b) {
			t.Errorf("%s loads a provider thumbnail URL", name)
		}
	}
}
