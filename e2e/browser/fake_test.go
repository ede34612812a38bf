package browser

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/injector/menu"
)

// fakeStack is a stand-in for the daemon's local API with canned data, the
// same routes and session rules (one-time code in the URL fragment,
// exchanged by POST /menu/session for a secret sent in X-Latchkey-Session;
// no cookie; Origin checked on POST/DELETE), plus a stand-in provider for
// the consent page and the signed-in course pages. It proves the UI against
// the API contract; TestMenuRealStack proves it against the real daemon.
type fakeStack struct {
	api      *httptest.Server
	provider *httptest.Server

	mu          sync.Mutex
	codes       map[string]time.Time // one-time code → expiry; deleted when used
	sessions    map[string]bool
	connected   bool
	nothing     bool   // nothing connected, Document360 (an API token) included
	consentWant string // state of the connect flow in progress
	widgetCalls int
	opened      []string    // course ids opened through /v1/open
	thumbs      int         // thumbnail requests the provider saw
	cookies     []string    // Cookie headers any server here saw
	focusAsk    chan string // POST /test/ask-focus: a nonce for a waiting page
	focusAcks   []string    // acknowledgements the pages sent
	// org, when set, is what the organisation manages of Docebo (managed,
	// display_name, widget_title, …), added to its status; doceboUnset:
	// the organisation never enabled it (not_configured).
	org         map[string]any
	doceboUnset bool
}

type fakeCourse struct {
	ID, Title, Type, Status string
	Progress                *float64
}

func pct(v float64) *float64 { return &v }

var fakeEnrollments = []fakeCourse{
	{"101", "Go Fundamentals", "elearning", "in_progress", pct(40)},
	{"102", "Going Further with Go", "classroom", "completed", pct(100)},
	{"103", "Security Awareness", "elearning", "not_started", pct(0)},
	{"104", "Company Onboarding", "webinar", "enrolled", nil},
	{"105", "Writing Secure Services", "elearning", "in_progress", pct(75)},
	{"106", "Data Privacy Basics", "elearning", "suspended", pct(20)},
	{"107", "Kubernetes Basics", "elearning", "not_started", pct(0)},
	{"108", "Team Leadership", "classroom", "enrolled", nil},
}

// fakeCatalog adds a course the user is not enrolled in; search finds it too.
var fakeCatalog = append(slices.Clone(fakeEnrollments), fakeCourse{ID: "205", Title: "Golang Concurrency Patterns", Type: "elearning"})

func newFakeStack(t *testing.T) *fakeStack {
	f := &fakeStack{codes: map[string]time.Time{}, sessions: map[string]bool{}, connected: true, focusAsk: make(chan string, 1)}
	f.provider = httptest.NewServer(http.HandlerFunc(f.serveProvider))
	t.Cleanup(f.provider.Close)
	// Assigned before it starts: the handlers read f.api.URL, and a request
	// the browser makes has no happens-before edge with a later write.
	f.api = httptest.NewUnstartedServer(f.routes())
	f.api.Start()
	t.Cleanup(f.api.Close)
	return f
}

func randHex() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// mint returns a menu URL with a one-time code valid for ttl (negative: already expired).
func (f *fakeStack) mint(ttl time.Duration) string {
	code := randHex()
	f.mu.Lock()
	f.codes[code] = time.Now().Add(ttl)
	f.mu.Unlock()
	return f.api.URL + "/menu#code=" + code
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func (f *fakeStack) routes() http.Handler {
	mux := http.NewServeMux()
	ui := menu.Handler()
	mux.HandleFunc("GET /menu", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("code") {
			apiError(w, http.StatusBadRequest, "bad_request", "the code goes in the fragment")
			return
		}
		ui.ServeHTTP(w, r)
	})
	mux.Handle("GET /menu/", ui)
	mux.HandleFunc("POST /menu/session", f.exchange)
	mux.Handle("GET /v1/status", f.session(http.HandlerFunc(f.status)))
	mux.Handle("GET /v1/courses", f.session(http.HandlerFunc(f.courses)))
	mux.Handle("GET /v1/courses/{integration}/{id}/thumbnail", f.session(http.HandlerFunc(f.thumbnail)))
	mux.Handle("GET /v1/search", f.session(http.HandlerFunc(f.search)))
	mux.Handle("GET /v1/open/{integration}/{id}", f.session(http.HandlerFunc(f.open)))
	mux.Handle("POST /v1/integrations/{name}/connect", f.session(http.HandlerFunc(f.connect)))
	mux.Handle("DELETE /v1/integrations/{name}", f.session(http.HandlerFunc(f.disconnect)))
	mux.Handle("POST /v1/integrations/{name}/widget-token", f.session(http.HandlerFunc(f.widgetToken)))
	mux.HandleFunc("GET /docebo/connected", f.connected_)
	mux.Handle("GET /v1/menu/focus", f.session(http.HandlerFunc(f.focusWait)))
	mux.Handle("POST /v1/menu/focus", f.session(http.HandlerFunc(f.focusAck)))
	// The hotkey, as far as the page can tell: the next waiting page is asked to come back.
	mux.HandleFunc("POST /test/ask-focus", func(w http.ResponseWriter, r *http.Request) {
		f.focusAsk <- "nonce-" + randHex()
		w.WriteHeader(http.StatusNoContent)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.sawCookies(r)
		w.Header().Set("Content-Security-Policy", menu.ContentSecurityPolicy)
		w.Header().Set("X-Frame-Options", "DENY")
		mux.ServeHTTP(w, r)
	})
}

func (f *fakeStack) sawCookies(r *http.Request) {
	if c := r.Header.Get("Cookie"); c != "" {
		f.mu.Lock()
		f.cookies = append(f.cookies, c)
		f.mu.Unlock()
	}
}

func (f *fakeStack) exchange(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Origin") != f.api.URL {
		apiError(w, http.StatusForbidden, "forbidden_origin", "foreign or missing Origin")
		return
	}
	var req struct {
		Code string `json:"code"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		apiError(w, http.StatusBadRequest, "bad_request", "bad body")
		return
	}
	f.mu.Lock()
	exp, ok := f.codes[req.Code]
	delete(f.codes, req.Code)
	var sid string
	if ok && time.Now().Before(exp) {
		sid = randHex()
		f.sessions[sid] = true
	}
	f.mu.Unlock()
	if sid == "" {
		apiError(w, http.StatusUnauthorized, "code_expired", "this menu link has expired or was already used")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"session": sid, "expires_in": 3600})
}

func (f *fakeStack) session(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sid := r.Header.Get("X-Latchkey-Session")
		f.mu.Lock()
		ok := sid != "" && f.sessions[sid]
		f.mu.Unlock()
		if !ok {
			apiError(w, http.StatusUnauthorized, "session_expired", "no menu session")
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Header.Get("Origin") != f.api.URL {
			apiError(w, http.StatusForbidden, "bad_origin", "foreign or missing Origin")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (f *fakeStack) isConnected() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.connected
}

func (f *fakeStack) status(w http.ResponseWriter, r *http.Request) {
	docebo := map[string]any{"name": "docebo", "state": "disconnected", "connect": "oauth"}
	if f.isConnected() {
		docebo = map[string]any{
			"name": "docebo", "state": "connected", "connect": "oauth",
			"account":      map[string]string{"id": "12301", "username": "ada", "name": "Ada Lovelace", "email": "ada@example.test"},
			"token_expiry": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
		}
	}
	f.mu.Lock()
	for k, v := range f.org {
		docebo[k] = v
	}
	if f.doceboUnset {
		docebo = map[string]any{"name": "docebo", "state": "not_configured"}
	}
	f.mu.Unlock()
	writeJSON(w, 200, map[string]any{
		"key_id": "0123456789abcdef",
		"integrations": []any{
			docebo,
			f.document360(),
			// Configured with an API token, none given yet: nothing to connect from the menu.
			map[string]any{"name": "zendesk", "state": "disconnected", "connect": "api_token"},
			map[string]any{"name": "slack", "state": "not_configured"},
		},
	})
}

func (f *fakeStack) document360() map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.nothing {
		return map[string]any{"name": "document360", "state": "disconnected", "connect": "api_token"}
	}
	return map[string]any{"name": "document360", "state": "connected", "connect": "api_token", "account": map[string]string{"id": "kb", "name": "Help centre"}}
}

func (f *fakeStack) courseJSON(c fakeCourse) map[string]any {
	m := map[string]any{
		"integration": "docebo", "id": c.ID, "title": c.Title, "type": c.Type, "status": c.Status,
		"url":       f.provider.URL + "/learn/course/" + c.ID,
		"thumbnail": f.provider.URL + "/thumb/" + c.ID + ".svg",
	}
	if c.Progress != nil {
		m["progress"] = *c.Progress
	}
	return m
}

func (f *fakeStack) courses(w http.ResponseWriter, r *http.Request) {
	items := []any{}
	errs := []any{}
	if f.isConnected() {
		for _, c := range fakeEnrollments {
			items = append(items, f.courseJSON(c))
		}
	} else {
		errs = append(errs, map[string]string{"integration": "docebo", "code": "not_connected", "message": "not connected"})
	}
	writeJSON(w, 200, map[string]any{"items": items, "errors": errs})
}

// thumbnail is the daemon's copy of a course thumbnail (the real one fetches
// it from the integration's own origin; the stand-in draws one).
func (f *fakeStack) thumbnail(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "image/svg+xml")
	fmt.Fprint(w, `<svg xmlns="http://www.w3.org/2000/svg" width="160" height="90" viewBox="0 0 16 9"><rect width="16" height="9" fill="#3a7"/></svg>`)
}

func (f *fakeStack) search(w http.ResponseWriter, r *http.Request) {
	q := strings.ToLower(r.URL.Query().Get("q"))
	results := []any{}
	if f.isConnected() {
		for i, c := range fakeCatalog {
			if strings.Contains(strings.ToLower(c.Title), q) {
				results = append(results, map[string]any{
					"integration": "docebo", "kind": "course", "id": c.ID, "title": c.Title,
					"url": f.provider.URL + "/learn/course/" + c.ID, "snippet": c.Type + " course", "score": 0.9 - float64(i)/100,
				})
			}
		}
	}
	f.mu.Lock()
	nothing := f.nothing
	f.mu.Unlock()
	if strings.Contains("getting started with the go sdk", q) && !nothing {
		results = append(results, map[string]any{
			"integration": "document360", "kind": "article", "id": "a1", "title": "Getting started with the Go SDK",
			"url": f.provider.URL + "/docs/go-sdk", "snippet": "Install the SDK, then <b>go</b>…", "score": 0.5,
		})
	}
	writeJSON(w, 200, map[string]any{"results": results, "errors": []any{
		map[string]string{"integration": "confluence", "code": "unavailable", "message": "timed out"},
	}})
}

func (f *fakeStack) open(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	f.mu.Lock()
	f.opened = append(f.opened, id)
	f.mu.Unlock()
	u := f.provider.URL + "/learn/course/" + url.PathEscape(id) + ";type=oauth2_response;access_token=" + randHex()
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		writeJSON(w, http.StatusOK, map[string]string{"url": u})
		return
	}
	http.Redirect(w, r, u, http.StatusFound)
}

func (f *fakeStack) connect(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("name") != "docebo" {
		apiError(w, 404, "not_configured", "not configured")
		return
	}
	state := randHex()
	f.mu.Lock()
	f.consentWant = state
	f.mu.Unlock()
	u := f.provider.URL + "/oauth2/authorize?" + url.Values{
		"response_type": {"code"}, "client_id": {"latchkey"}, "state": {state},
		"redirect_uri": {f.api.URL + "/docebo/connected"},
	}.Encode()
	writeJSON(w, 200, map[string]string{"url": u})
}

func (f *fakeStack) connected_(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	ok := f.consentWant != "" && r.URL.Query().Get("state") == f.consentWant && r.URL.Query().Get("code") != ""
	if ok {
		f.connected, f.consentWant = true, ""
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !ok {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintln(w, "bad state")
		return
	}
	fmt.Fprintln(w, "Docebo is connected. You can close this window.")
}

// focusWait is an open page's long poll: answered when the test asks, or
// after a while (the page polls again).
func (f *fakeStack) focusWait(w http.ResponseWriter, r *http.Request) {
	select {
	case n := <-f.focusAsk:
		writeJSON(w, 200, map[string]any{"focus": true, "ack": n})
	case <-time.After(20 * time.Second):
		writeJSON(w, 200, map[string]any{"focus": false})
	case <-r.Context().Done():
	}
}

func (f *fakeStack) focusAck(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Ack string `json:"ack"`
	}
	json.NewDecoder(r.Body).Decode(&req)
	f.mu.Lock()
	f.focusAcks = append(f.focusAcks, req.Ack)
	f.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeStack) disconnect(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.connected = false
	f.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeStack) widgetToken(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.widgetCalls++
	f.mu.Unlock()
	writeJSON(w, 200, map[string]any{"accessToken": "widget-" + randHex(), "expiresIn": 600})
}

var consentPage = template.Must(template.New("consent").Parse(`<!doctype html><title>Authorize latchkey</title>
<h1>Authorize latchkey to use your Docebo account?</h1>
<form method="get" action="{{.Redirect}}"><input type="hidden" name="code" value="{{.Code}}">
<input type="hidden" name="state" value="{{.State}}"><button type="submit">Approve</button></form>`))

func (f *fakeStack) serveProvider(w http.ResponseWriter, r *http.Request) {
	f.sawCookies(r)
	switch {
	case r.URL.Path == "/oauth2/authorize":
		q := r.URL.Query()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		consentPage.Execute(w, map[string]string{"Redirect": q.Get("redirect_uri"), "Code": randHex(), "State": q.Get("state")})
	case strings.HasPrefix(r.URL.Path, "/thumb/"):
		f.mu.Lock()
		f.thumbs++
		f.mu.Unlock()
		w.Header().Set("Content-Type", "image/svg+xml")
		fmt.Fprint(w, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 9"><rect width="16" height="9" fill="#3a7"/><circle cx="8" cy="4.5" r="3" fill="#fff"/></svg>`)
	case strings.HasPrefix(r.URL.Path, "/learn/"), strings.HasPrefix(r.URL.Path, "/docs/"):
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><title>Course</title><h1>%s</h1>", template.HTMLEscapeString(r.URL.Path))
	default:
		http.NotFound(w, r)
	}
}

// TestMenuCanned drives the menu in Chromium against the fake stack.
func TestMenuCanned(t *testing.T) {
	f := newFakeStack(t)
	var want []course
	for _, c := range fakeEnrollments {
		want = append(want, course{ID: c.ID, Title: c.Title, Progress: c.Progress, Status: c.Status})
	}
	sc := scenario{
		MenuURL:      f.mint(time.Minute),
		ExpiredURL:   f.mint(-time.Second),
		Shots:        artifactsDir(t),
		Integration:  "docebo",
		Query:        "go",
		SearchTitles: []string{"Go Fundamentals", "Going Further with Go", "Golang Concurrency Patterns", "Getting started with the Go SDK"},
		Courses:      want,
		Thumbnails:   true,
		StaleEnter:   &staleEnter{First: "go", Then: "lang", Opens: "Golang Concurrency Patterns"},
	}
	res := runSpec(t, sc)

	if res.ReusedStatus != http.StatusUnauthorized || res.ExpiredStatus != http.StatusUnauthorized {
		t.Errorf("refusals: reused %d, expired %d; want 401 both", res.ReusedStatus, res.ExpiredStatus)
	}
	// One list in rank order across sources, each row naming its source.
	var sources []string
	for _, r := range res.Search.Rows {
		sources = append(sources, r.Source)
	}
	if got := strings.Join(sources, ","); got != "Docebo,Docebo,Docebo,Document360" {
		t.Errorf("search rows' sources = %s, want Docebo ×3 then Document360 (by score)", got)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.connected {
		t.Error("the fake stack ends disconnected: Connect did not complete")
	}
	// A click on the first row (the course with the most progress), Enter
	// on the second search result, then Enter at once on a query typed on
	// ("go" then "lang") opened them through the signed-in link.
	if strings.Join(f.opened, ",") != "105,102,205" {
		t.Errorf("courses opened through /v1/open = %q, want [105 102 205]", f.opened)
	}
	if res.Thumbnails != len(want) {
		t.Errorf("%d course thumbnails shown, want %d", res.Thumbnails, len(want))
	}
	// The provider's thumbnail URLs were never fetched, and no server here
	// (the API, the provider on another loopback port) ever got a cookie.
	if f.thumbs != 0 {
		t.Errorf("the menu fetched %d provider thumbnails", f.thumbs)
	}
	if len(f.cookies) != 0 {
		t.Errorf("the browser sent cookies: %q", f.cookies)
	}
	if f.widgetCalls == 0 {
		t.Error("the Knowledge base panel never fetched a widget token")
	}
	if len(f.codes) != 0 {
		t.Errorf("%d one-time codes left unused", len(f.codes))
	}
}
