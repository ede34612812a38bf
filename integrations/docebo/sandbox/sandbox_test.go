package sandbox_test

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

	"github.com/latchkey/latchkey/integrations/docebo/sandbox"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func start(t *testing.T, o sandbox.Options) (*sandbox.Server, string) {
	t.Helper()
	s := sandbox.New(o)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts.URL
}

type reply struct {
	Status int
	Header http.Header
	JSON   map[string]any
	Body   string
}

func do(t *testing.T, req *http.Request) reply {
	t.Helper()
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := reply{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
	_ = json.Unmarshal(b, &r.JSON)
	return r
}

func post(t *testing.T, u string, form url.Values) reply {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(t, req)
}

func apiGet(t *testing.T, u, token string) reply {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return do(t, req)
}

func password(t *testing.T, base, user string) string {
	t.Helper()
	r := post(t, base+"/oauth2/token", url.Values{
		"grant_type": {"password"}, "client_id": {sandbox.DefaultClientID}, "client_secret": {sandbox.DefaultClientSecret},
		"username": {user}, "password": {sandbox.DefaultPassword}, "scope": {"api"},
	})
	if r.Status != 200 {
		t.Fatalf("password grant: %d %s", r.Status, r.Body)
	}
	return r.JSON["access_token"].(string)
}

func code(t *testing.T, base, redirect string, extra url.Values) string {
	t.Helper()
	q := url.Values{"response_type": {"code"}, "client_id": {sandbox.DefaultClientID}, "redirect_uri": {redirect}, "scope": {"api"}, "state": {"xyz"}}
	for k, v := range extra {
		q[k] = v
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/oauth2/authorize?"+q.Encode(), nil)
	r := do(t, req)
	loc, _ := url.Parse(r.Header.Get("Location"))
	if r.Status != http.StatusFound || loc.Query().Get("code") == "" {
		t.Fatalf("authorize: %d %v", r.Status, loc)
	}
	return loc.Query().Get("code")
}

func TestCodeLifetimeBasicAuthAndPKCE(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Now()}
	_, base := start(t, sandbox.Options{AutoApprove: true, Now: clk.Now, RequirePKCE: true,
		RedirectURIs: []string{"http://127.0.0.1:7788/docebo/connected"}})
	redirect := "http://127.0.0.1:7788/docebo/connected"

	// Unregistered redirect: no redirect at all.
	req, _ := http.NewRequest(http.MethodGet, base+"/oauth2/authorize?response_type=code&client_id="+sandbox.DefaultClientID+"&redirect_uri="+url.QueryEscape("http://127.0.0.1:1/x"), nil)
	if r := do(t, req); r.Status != 400 || r.Header.Get("Location") != "" {
		t.Fatalf("unregistered redirect: %d", r.Status)
	}
	// Unknown response type → redirected error with state.
	req, _ = http.NewRequest(http.MethodGet, base+"/oauth2/authorize?response_type=token&state=s&client_id="+sandbox.DefaultClientID+"&redirect_uri="+url.QueryEscape(redirect), nil)
	if r := do(t, req); !strings.Contains(r.Header.Get("Location"), "error=unsupported_response_type") || !strings.Contains(r.Header.Get("Location"), "state=s") {
		t.Fatalf("implicit: %v", r.Header)
	}

	exchange := func(c string, extra url.Values, basic bool) reply {
		f := url.Values{"grant_type": {"authorization_code"}, "code": {c}, "redirect_uri": {redirect}}
		for k, v := range extra {
			f[k] = v
		}
		if !basic {
			f.Set("client_id", sandbox.DefaultClientID)
			f.Set("client_secret", sandbox.DefaultClientSecret)
		}
		req, _ := http.NewRequest(http.MethodPost, base+"/oauth2/token", strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if basic {
			req.SetBasicAuth(sandbox.DefaultClientID, sandbox.DefaultClientSecret)
		}
		return do(t, req)
	}

	// Plain PKCE, client authenticated with HTTP Basic.
	c := code(t, base, redirect, url.Values{"code_challenge": {"verifier-verifier-verifier-verifier-verifier-1"}})
	if r := exchange(c, url.Values{"code_verifier": {"verifier-verifier-verifier-verifier-verifier-1"}}, true); r.Status != 200 {
		t.Fatalf("basic + plain pkce: %d %s", r.Status, r.Body)
	}
	// RequirePKCE: a challenge without a verifier is refused.
	c = code(t, base, redirect, url.Values{"code_challenge": {"abc"}, "code_challenge_method": {"S256"}})
	if r := exchange(c, nil, false); r.Status != 400 || r.JSON["error"] != "invalid_grant" {
		t.Fatalf("missing verifier: %d %s", r.Status, r.Body)
	}
	// Codes live 60 seconds.
	c = code(t, base, redirect, nil)
	clk.Advance(61 * time.Second)
	if r := exchange(c, nil, false); r.Status != 400 || !strings.Contains(r.Body, "expired") {
		t.Fatalf("expired code: %d %s", r.Status, r.Body)
	}
	// Cache-Control: no-store on token answers.
	c = code(t, base, redirect, nil)
	if r := exchange(c, nil, false); r.Status != 200 || r.Header.Get("Cache-Control") != "no-store" || r.JSON["expires_in"].(float64) != 3600 {
		t.Fatalf("token answer: %d %v %s", r.Status, r.Header, r.Body)
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	t.Parallel()
	_, base := start(t, sandbox.Options{})
	for name, tc := range map[string]struct {
		form   url.Values
		status int
		code   string
	}{
		"no grant":      {url.Values{"client_id": {sandbox.DefaultClientID}, "client_secret": {sandbox.DefaultClientSecret}}, 400, "invalid_request"},
		"implicit":      {url.Values{"grant_type": {"implicit"}, "client_id": {sandbox.DefaultClientID}, "client_secret": {sandbox.DefaultClientSecret}}, 400, "unsupported_grant_type"},
		"bad client":    {url.Values{"grant_type": {"client_credentials"}, "client_id": {"x"}, "client_secret": {"y"}}, 401, "invalid_client"},
		"bad scope":     {url.Values{"grant_type": {"client_credentials"}, "scope": {"admin"}, "client_id": {sandbox.DefaultClientID}, "client_secret": {sandbox.DefaultClientSecret}}, 400, "invalid_scope"},
		"bad refresh":   {url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"nope"}, "client_id": {sandbox.DefaultClientID}, "client_secret": {sandbox.DefaultClientSecret}}, 400, "invalid_grant"},
		"jwt, no keys":  {url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {"a.b.c"}}, 400, "invalid_grant"},
		"jwt, bad cred": {url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {"a.b.c"}, "client_id": {"x"}, "client_secret": {"y"}}, 401, "invalid_client"},
	} {
		r := post(t, base+"/oauth2/token", tc.form)
		if r.Status != tc.status || r.JSON["error"] != tc.code {
			t.Errorf("%s: %d %s, want %d %s", name, r.Status, r.Body, tc.status, tc.code)
		}
	}
}

func TestAPIAuthAndEnrollmentFilters(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Now()}
	s, base := start(t, sandbox.Options{Now: clk.Now, AccessTokenTTL: time.Minute})
	if r := apiGet(t, base+"/manage/v1/user/session", ""); r.Status != 401 || r.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("no token: %d", r.Status)
	}
	if r := apiGet(t, base+"/manage/v1/user/session", "0123456789abcdef0123456789abcdef01234567"); r.Status != 401 {
		t.Fatalf("unknown token: %d", r.Status)
	}
	tok := password(t, base, "grace")
	r := apiGet(t, base+"/manage/v1/user/session", tok)
	data, _ := r.JSON["data"].(map[string]any)
	if r.Status != 200 || data["username"] != "grace" || data["firstname"] != "Grace" || data["id"].(float64) != 12302 {
		t.Fatalf("session: %d %s", r.Status, r.Body)
	}

	list := func(q string) (items []any, d map[string]any) {
		t.Helper()
		r := apiGet(t, base+"/learn/v1/enrollments?"+q, tok)
		if r.Status != 200 {
			t.Fatalf("enrollments?%s: %d %s", q, r.Status, r.Body)
		}
		d = r.JSON["data"].(map[string]any)
		return d["items"].([]any), d
	}
	all, d := list("id_user=12302&page_size=5&get_total_count=1")
	if len(all) != 5 || d["has_more_data"] != true || d["total_page_count"].(float64) != 3 || d["total_count"].(float64) != 12 {
		t.Fatalf("paging: %v", d)
	}
	// page=0 reads as the first page (unconfirmed on the real platform).
	p0, _ := list("id_user[]=12302&page=0&page_size=5")
	p1, _ := list("id_user[]=12302&page=1&page_size=5")
	if p0[0].(map[string]any)["id"] != p1[0].(map[string]any)["id"] {
		t.Fatal("page 0 and page 1 differ")
	}
	last, d := list("id_user[]=12302&page=3&page_size=5")
	if len(last) != 2 || d["has_more_data"] != false || d["current_page"].(float64) != 3 {
		t.Fatalf("last page: %v", d)
	}
	done, _ := list("id_user[]=12302&status[]=completed&page_size=200")
	for _, it := range done {
		if it.(map[string]any)["status"] != "completed" {
			t.Fatalf("status filter let through %v", it)
		}
	}
	notStarted, _ := list("status[]=not_started&page_size=200")
	for _, it := range notStarted {
		switch it.(map[string]any)["status"] {
		case "subscribed", "enrolled", "waiting":
		default:
			t.Fatalf("not_started filter let through %v", it)
		}
	}
	if len(done) == 0 || len(notStarted) == 0 {
		t.Fatal("filters matched nothing")
	}
	// A learner cannot read someone else's enrollments.
	if r := apiGet(t, base+"/learn/v1/enrollments?id_user[]=12301", tok); r.Status != 403 {
		t.Fatalf("other user's enrollments: %d", r.Status)
	}
	// Course detail and thumbnails.
	r = apiGet(t, base+"/learn/v1/courses/1011", tok)
	if d := r.JSON["data"].(map[string]any); r.Status != 200 || d["name"] != "Negotiation Skills" || d["status"] == "" {
		t.Fatalf("course detail: %s", r.Body)
	}
	if r := apiGet(t, base+"/learn/v1/courses/99999", tok); r.Status != 404 {
		t.Fatalf("missing course: %d", r.Status)
	}
	if r := apiGet(t, base+"/sandbox/thumbnails/1011.svg", ""); r.Status != 200 || !strings.HasPrefix(r.Body, "<svg") {
		t.Fatalf("thumbnail: %d", r.Status)
	}
	// Tokens expire on the sandbox clock.
	clk.Advance(time.Minute)
	if r := apiGet(t, base+"/manage/v1/user/session", tok); r.Status != 401 || !strings.Contains(r.Body, "expired") {
		t.Fatalf("expired token: %d %s", r.Status, r.Body)
	}
	if s.APICalls() < 10 {
		t.Fatalf("APICalls = %d", s.APICalls())
	}
}

func TestCourseSearchPaging(t *testing.T) {
	t.Parallel()
	_, base := start(t, sandbox.Options{})
	tok := password(t, base, "ada")
	r := apiGet(t, base+"/learn/v1/courses?page_size=20&page=3", tok)
	d := r.JSON["data"].(map[string]any)
	if len(d["items"].([]any)) != 10 || d["has_more_data"] != false {
		t.Fatalf("catalog page 3: %v", d)
	}
	r = apiGet(t, base+"/learn/v1/courses?search_text=GO&page_size=200", tok)
	names := map[string]bool{}
	for _, it := range r.JSON["data"].(map[string]any)["items"].([]any) {
		names[it.(map[string]any)["name"].(string)] = true
	}
	if !names["Go Fundamentals"] || !names["Google Workspace Tips"] || names["SQL Fundamentals"] {
		t.Fatalf("search GO: %v", names)
	}
}

func TestFailNextAndLatencyCounters(t *testing.T) {
	t.Parallel()
	s, base := start(t, sandbox.Options{RetryAfter: 2 * time.Second})
	s.FailNext(2, http.StatusServiceUnavailable)
	for i := 0; i < 2; i++ {
		r := apiGet(t, base+"/learn/v1/courses", "")
		if r.Status != 503 || r.Header.Get("Retry-After") != "2" {
			t.Fatalf("injected failure %d: %d %v", i, r.Status, r.Header.Get("Retry-After"))
		}
	}
	if r := apiGet(t, base+"/learn/v1/courses", ""); r.Status != 401 {
		t.Fatalf("after failures: %d", r.Status)
	}
	// Pages are never failed: the consent page stays reachable.
	s.FailNext(1, 500)
	if r := apiGet(t, base+"/", ""); r.Status != 200 {
		t.Fatalf("index during failure injection: %d", r.Status)
	}
	s.FailNext(0, 0)
	if s.APICalls() != 1 {
		t.Fatalf("APICalls = %d, want 1 (injected failures never reach a handler)", s.APICalls())
	}
	// Latency: a request whose client gives up early is not served.
	s.SetLatency(time.Hour)
	c := &http.Client{Timeout: 50 * time.Millisecond}
	if _, err := c.Get(base + "/learn/v1/courses"); err == nil {
		t.Fatal("latency not applied")
	}
	s.SetLatency(0)
}

func TestPublicKeyPEM(t *testing.T) {
	t.Parallel()
	if _, err := sandbox.ParsePublicKeyPEM([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")); err == nil {
		t.Fatal("certificate accepted as a public key")
	}
	// The sample key of Docebo's authentication help page parses.
	sample := "-----BEGIN PUBLIC KEY-----\nMIGeMA0GCSqGSIb3DQEBAQUAA4GMADCBiAKBgGOrtjv/oPcaWIQL7h3DwvGbWFhH\nfAIP02pPPw1Cp8h0SUkmGAWUGKCNH2WuIeNxPlRZKmW86aivknrRtEN3QW6eEsFZ\nZSIKVmUPekKrSpvYmYwkTCnwCb4gpDu1ZPEde8VXhQjLRl7ielUktzzbXW7v1HmI\nfDASHvMvIl4kwGA/AgMBAAE=\n-----END PUBLIC KEY-----\n"
	if _, err := sandbox.ParsePublicKeyPEM([]byte(sample)); err != nil {
		t.Fatalf("sample key: %v", err)
	}
}

func TestSeedData(t *testing.T) {
	t.Parallel()
	if n := len(sandbox.SeedCourses()); n < 45 || n > 55 {
		t.Fatalf("%d seeded courses", n)
	}
	// A learning plan shares its id with a course, and ada is enrolled in both.
	plans := map[int]bool{}
	for _, lp := range sandbox.SeedLearningPlans() {
		plans[lp.ID] = true
	}
	inCourse, inPlan := map[int]bool{}, map[int]bool{}
	for _, e := range sandbox.SeedEnrollments() {
		if e.UserID != 12301 {
			continue
		}
		if e.PlanID != 0 {
			inPlan[e.PlanID] = true
		} else {
			inCourse[e.CourseID] = true
		}
	}
	if !plans[1001] || !inPlan[1001] || !inCourse[1001] {
		t.Fatalf("no shared id: plans %v, ada's plans %v", plans, inPlan)
	}
	statuses := map[string]bool{}
	for _, e := range sandbox.SeedEnrollments() {
		if e.UserID == 12301 {
			statuses[e.Status] = true
		}
	}
	for _, s := range []string{"subscribed", "enrolled", "waiting", "in_progress", "completed", "suspended"} {
		if !statuses[s] {
			t.Errorf("ada has no %q enrollment", s)
		}
	}
}

// TestLearningPlanEnrollmentsAndPages: enrollment items of learning plans
// carry their own id and type; their learner page is
// /learn/learning-plans/<id>.
func TestLearningPlanEnrollmentsAndPages(t *testing.T) {
	t.Parallel()
	_, base := start(t, sandbox.Options{})
	tok := password(t, base, "ada")
	r := apiGet(t, base+"/learn/v1/enrollments?id_user[]=12301&page_size=200", tok)
	kinds := map[string]bool{}
	for _, it := range r.JSON["data"].(map[string]any)["items"].([]any) {
		m := it.(map[string]any)
		if m["id"].(float64) == 1001 {
			kinds[m["type"].(string)+" "+m["name"].(string)] = true
		}
	}
	if !kinds["learning_plan Go Developer Path"] || !kinds["elearning Go Fundamentals"] || len(kinds) != 2 {
		t.Fatalf("enrollments with id 1001: %v", kinds)
	}
	link := base + "/learn/learning-plans/1001;type=oauth2_response;access_token=" + tok + ";expires_in=3600;token_type=Bearer;scope=api"
	if r := apiGet(t, link, ""); r.Status != 200 || !strings.Contains(r.Body, "Go Developer Path") || !strings.Contains(r.Body, "Learning plan 1001") {
		t.Fatalf("learning plan page: %d %s", r.Status, r.Body)
	}
	if r := apiGet(t, base+"/sandbox/thumbnails/lp-1001.svg", ""); r.Status != 200 || !strings.Contains(r.Body, "Go Developer Path") {
		t.Fatalf("plan thumbnail: %d", r.Status)
	}
}

// TestCatalogAndLearnerCourseList: the learner's catalogs (my_catalogs=1)
// hold what the user is assigned, with sub_items filtered by search_text;
// ForbidLearnerCourseList makes /learn/v1/courses answer 403 to learners
// only; unpublished courses are in an admin's course list alone.
func TestCatalogAndLearnerCourseList(t *testing.T) {
	t.Parallel()
	s, base := start(t, sandbox.Options{})
	ada, grace, admin := password(t, base, "ada"), password(t, base, "grace"), password(t, base, "admin")
	items := func(tok, q string) map[string]bool {
		t.Helper()
		r := apiGet(t, base+"/learn/v1/catalog?show_item_list=1&my_catalogs=1&search_text="+url.QueryEscape(q), tok)
		if r.Status != 200 {
			t.Fatalf("catalog: %d %s", r.Status, r.Body)
		}
		out := map[string]bool{}
		for _, c := range r.JSON["data"].(map[string]any)["items"].([]any) {
			for _, it := range c.(map[string]any)["sub_items"].([]any) {
				m := it.(map[string]any)
				out[m["item_type"].(string)+":"+m["item_name"].(string)] = true
			}
		}
		return out
	}
	got := items(ada, "go")
	if !got["course:Go Fundamentals"] || !got["learning_plan:Go Developer Path"] || got["course:Going Global: Cross-Cultural Communication"] || got["course:Go Internals (draft)"] {
		t.Fatalf("ada's catalog for go: %v", got)
	}
	for k := range got {
		if !strings.Contains(strings.ToLower(k), "go") {
			t.Fatalf("search_text let %q through", k)
		}
	}
	if !items(grace, "go")["course:Going Global: Cross-Cultural Communication"] {
		t.Fatal("grace's Managers catalog missing")
	}
	// Without my_catalogs=1 a learner administrates no catalog.
	if r := apiGet(t, base+"/learn/v1/catalog?show_item_list=1", ada); len(r.JSON["data"].(map[string]any)["items"].([]any)) != 0 {
		t.Fatalf("learner's administrated catalogs: %s", r.Body)
	}
	names := func(tok string) (int, map[string]bool) {
		r := apiGet(t, base+"/learn/v1/courses?search_text=go&page_size=200", tok)
		out := map[string]bool{}
		if r.Status == 200 {
			for _, it := range r.JSON["data"].(map[string]any)["items"].([]any) {
				out[it.(map[string]any)["name"].(string)] = true
			}
		}
		return r.Status, out
	}
	if st, n := names(ada); st != 200 || n["Go Internals (draft)"] || !n["Go Fundamentals"] {
		t.Fatalf("learner course list: %d %v", st, n)
	}
	if st, n := names(admin); st != 200 || !n["Go Internals (draft)"] {
		t.Fatalf("admin course list: %d %v", st, n)
	}
	s.SetForbidLearnerCourseList(true)
	if st, _ := names(ada); st != 403 {
		t.Fatalf("forbidden learner course list: %d", st)
	}
	if st, _ := names(admin); st != 200 {
		t.Fatalf("admin course list while learners are forbidden: %d", st)
	}
}

// TestExchangeTokenEndpointOff: the invented endpoint can be turned off; it
// then answers 404 as a real platform would.
func TestExchangeTokenEndpointOff(t *testing.T) {
	t.Parallel()
	s, base := start(t, sandbox.Options{})
	tok := password(t, base, "ada")
	mint := func() reply {
		req, _ := http.NewRequest(http.MethodPost, base+"/manage/v1/user/exchange_token", strings.NewReader(`{"redirect_path":"/learn/mycourses"}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		return do(t, req)
	}
	if r := mint(); r.Status != 200 {
		t.Fatalf("on: %d", r.Status)
	}
	s.SetExchangeTokenEndpoint(false)
	if r := mint(); r.Status != 404 {
		t.Fatalf("off: %d %s", r.Status, r.Body)
	}
}
