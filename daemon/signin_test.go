package daemon

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/integrations/docebo/sandbox"
)

// testClock is the Docebo sandbox's clock, moved by the test.
type testClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// setDoceboSetting writes one docebo setting to the config file and
// reloads it, as `latchkey configure docebo --set k=v` does.
func (h *harness) setDoceboSetting(k, v string) {
	h.t.Helper()
	err := SaveFileConfig(h.paths.ConfigFile(), func(c *Config) error {
		ic := c.Integrations["docebo"]
		if ic.Settings == nil {
			ic.Settings = map[string]string{}
		}
		ic.Settings[k] = v
		c.Integrations["docebo"] = ic
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.d.Reload(); err != nil {
		h.t.Fatal(err)
	}
}

// openURL asks the daemon for a signed-in link, as `latchkey open docebo ID --print-url` does.
func (h *harness) openURL(target string) (string, error) {
	return h.cl.SignInURL(context.Background(), "docebo", target)
}

// visit opens a link in a fresh browser session (no cookies) and returns
// the status and page.
func visit(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestSignedInLinkTokenExchange(t *testing.T) {
	t.Parallel()
	clock := &testClock{}
	h := newHarness(t, sandbox.Options{Now: clock.Now})
	h.connect()
	h.setDoceboSetting("signin", "token_exchange")
	stored := func() string {
		tok, _, err := h.d.vault.LoadToken(context.Background(), "docebo")
		if err != nil {
			t.Fatal(err)
		}
		return tok.AccessToken
	}
	vaultToken := stored()

	link, err := h.openURL("1001")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(link, h.sbURL+"/learn/signin;type=token_exchange;exchange_token=") || strings.Contains(link, vaultToken) {
		t.Fatalf("link form %q", strings.SplitN(link, "exchange_token=", 2)[0])
	}
	// Accepted once, and it lands on the course…
	code, page := visit(t, link)
	if code != 200 || !strings.Contains(page, "Course 1001") {
		t.Fatalf("first use: %d", code)
	}
	// …refused the second time.
	if code, page := visit(t, link); code != 401 || !strings.Contains(page, "already used") {
		t.Fatalf("second use: %d", code)
	}
	// A fresh link is refused once 30 seconds have passed on the platform's clock.
	link2, err := h.openURL("1001")
	if err != nil {
		t.Fatal(err)
	}
	if link2 == link {
		t.Fatal("the daemon reused an exchange token")
	}
	clock.Advance(31 * time.Second)
	if code, page := visit(t, link2); code != 401 || !strings.Contains(page, "expired") {
		t.Fatalf("after 31 s: %d", code)
	}
	// Within 30 seconds it works.
	link3, err := h.openURL("/learn/mycourses")
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(29 * time.Second)
	if code, _ := visit(t, link3); code != 200 {
		t.Fatalf("after 29 s: %d", code)
	}
	if stored() != vaultToken {
		t.Fatal("opening links changed the vault's token")
	}
	if strings.Contains(h.logs.String(), "exchange_token=") {
		t.Fatal("a sign-in link was logged")
	}
}

func TestSignedInLinkOAuth2Response(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{})
	h.connect()
	// Without a JWT-bearer key there is no way to mint a separate token:
	// the error says what to do.
	_, err := h.openURL("1001")
	if err == nil || !strings.Contains(err.Error(), "keys generate docebo") || !strings.Contains(err.Error(), "signin=token_exchange` is an experimental alternative") {
		t.Fatalf("without a key: %v", err)
	}

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.d.StoreSigningKey(context.Background(), "docebo", key); err != nil {
		t.Fatal(err)
	}
	h.sb.AddJWTKey(&key.PublicKey)
	before, _, err := h.d.vault.LoadToken(context.Background(), "docebo")
	if err != nil {
		t.Fatal(err)
	}
	grants := h.sb.GrantCalls("urn:ietf:params:oauth:grant-type:jwt-bearer")

	link, err := h.openURL("1001")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(link, h.sbURL+"/learn/course/1001;type=oauth2_response;access_token=") ||
		!strings.Contains(link, ";token_type=Bearer;") || strings.Contains(link, before.AccessToken) {
		t.Fatalf("link form %q", strings.SplitN(link, "access_token=", 2)[0])
	}
	if got := h.sb.GrantCalls("urn:ietf:params:oauth:grant-type:jwt-bearer") - grants; got != 1 {
		t.Fatalf("JWT-bearer grants for one link: %d", got)
	}
	if code, page := visit(t, link); code != 200 || !strings.Contains(page, "Course 1001") {
		t.Fatalf("following the link: %d", code)
	}
	// Each link gets its own token; the vault's token is untouched.
	link2, err := h.openURL("1001")
	if err != nil || link2 == link {
		t.Fatalf("second link: %v (same=%v)", err, link2 == link)
	}
	after, _, err := h.d.vault.LoadToken(context.Background(), "docebo")
	if err != nil || after.AccessToken != before.AccessToken || after.RefreshToken != before.RefreshToken {
		t.Fatalf("the vault's token changed: %v", err)
	}
	// Targets off the platform are refused.
	for _, bad := range []string{"https://evil.example/learn", "/admin", "1001;type=x"} {
		if _, err := h.openURL(bad); err == nil {
			t.Errorf("target %q accepted", bad)
		}
	}
}

// TestSignedInLinkLearningPlan: ada's course 1001 and learning plan 1001 are
// both in /v1/courses, and the plan's id ("lp-1001") opens the
// learning-plan page signed in, not course 1001.
func TestSignedInLinkLearningPlan(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{})
	h.connect()
	var courses struct {
		Items []struct{ ID, Title, URL, Type string }
	}
	if code := h.api("GET", "/v1/courses", &courses); code != 200 {
		t.Fatalf("courses: %d", code)
	}
	found := map[string]string{}
	for _, c := range courses.Items {
		found[c.ID] = c.Title + " " + c.URL
	}
	if found["1001"] != "Go Fundamentals "+h.sbURL+"/learn/course/1001/go-fundamentals" ||
		found["lp-1001"] != "Go Developer Path "+h.sbURL+"/learn/learning-plans/1001/go-developer-path" {
		t.Fatalf("course 1001 %q, learning plan 1001 %q", found["1001"], found["lp-1001"])
	}

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.d.StoreSigningKey(context.Background(), "docebo", key); err != nil {
		t.Fatal(err)
	}
	h.sb.AddJWTKey(&key.PublicKey)
	link, err := h.openURL("lp-1001")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(link, h.sbURL+"/learn/learning-plans/1001;type=oauth2_response;access_token=") {
		t.Fatalf("link form %q", strings.SplitN(link, "access_token=", 2)[0])
	}
	if code, page := visit(t, link); code != 200 || !strings.Contains(page, "Learning plan 1001") || !strings.Contains(page, "Go Developer Path") {
		t.Fatalf("following the link: %d", code)
	}
}

// TestSignedInLinkTokenExchangeNotOffered: on a platform without the
// (undocumented) exchange-token endpoint, `latchkey open` says in one line
// what to set instead.
func TestSignedInLinkTokenExchangeNotOffered(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{DisableExchangeToken: true})
	h.connect()
	h.setDoceboSetting("signin", "token_exchange")
	_, err := h.openURL("1001")
	if err == nil || !strings.Contains(err.Error(), "does not offer exchange tokens") ||
		!strings.Contains(err.Error(), "set signin = oauth2_response") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("open on a platform without exchange tokens: %v", err)
	}
}
