package daemon

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/client/apitype"
	"github.com/latchkey/latchkey/injector"
	"github.com/latchkey/latchkey/integrations"
	"github.com/latchkey/latchkey/integrations/docebo/sandbox"
	d360 "github.com/latchkey/latchkey/integrations/document360/sandbox"
)

// withDocument360Settings configures a Document360 sandbox beside the Docebo
// one, through the same seam (settings in the config, the API token sealed),
// with more settings made from the sandbox's URL.
func withDocument360Settings(t *testing.T, h *harness, so d360.Options, more func(url string) map[string]string) *d360.Server {
	t.Helper()
	so.APIToken = d360Token
	so.ClientSecret = "widget-secret"
	sb := d360.New(so)
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	settings := map[string]string{
		"project": d360.DefaultProjectID, "version": d360.DefaultVersionID, "reader_groups": "engineering", "widget_id": "widget-1",
	}
	for k, v := range more(srv.URL) {
		settings[k] = v
	}
	err := SaveFileConfig(h.paths.ConfigFile(), func(c *Config) error {
		c.Integrations["document360"] = IntegrationConfig{URL: srv.URL, Settings: settings}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.d.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := h.d.SetClientSecret("document360", "widget-secret"); err != nil {
		t.Fatal(err)
	}
	if err := h.d.ConnectWithGrant(context.Background(), "document360", apitype.GrantRequest{Grant: integrations.GrantAPIToken, Token: d360Token}); err != nil {
		t.Fatal(err)
	}
	return sb
}

// The status shows Document360's remaining request budget; a 429 reaches
// the search's errors with its Retry-After.
func TestDocument360StatusRateBudget(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{})
	sb := withDocument360Settings(t, h, d360.Options{RateLimit: 60}, func(string) map[string]string {
		return map[string]string{"article_url": "https://kb.example.com/docs/{lang}/{slug}"}
	})
	var doc searchDoc
	if code := h.api("GET", "/v1/search?q=vpn", &doc); code != 200 || len(doc.Results) == 0 {
		t.Fatalf("search: %d %+v", code, doc)
	}
	if u := doc.Results[0].URL; u != "https://kb.example.com/docs/en/vpn-setup" {
		t.Errorf("article link %q", u)
	}
	var st apitype.Status
	if code := h.api("GET", "/v1/status", &st); code != 200 {
		t.Fatalf("status: %d", code)
	}
	stats := sb.Stats()
	used := stats.Search + stats.Article + stats.Versions
	var found bool
	for _, in := range st.Integrations {
		if in.Name != "document360" {
			continue
		}
		found = true
		rb := in.RateBudget
		if rb == nil || rb.Limit != 60 || rb.Remaining != 60-used || rb.Source != "provider" {
			t.Fatalf("document360 rate budget %+v, want %d of 60 left", rb, 60-used)
		}
	}
	if !found {
		t.Fatal("no document360 in the status")
	}

	sb.RateLimitNext(100, time.Minute)
	doc = searchDoc{}
	if code := h.api("GET", "/v1/search?q=expense", &doc); code != 200 {
		t.Fatalf("rate-limited search: %d", code)
	}
	if len(doc.Errors) != 1 || doc.Errors[0].Code != "rate_limited" || !strings.Contains(doc.Errors[0].Message, "retry after 1m0s") {
		t.Fatalf("errors %+v, want rate_limited with retry after 1m0s", doc.Errors)
	}
}

// The widget token comes from the endpoint configured in widget_token_url,
// and the menu may ask for it with GET as well as POST.
func TestWidgetTokenGETFromConfiguredEndpoint(t *testing.T) {
	t.Parallel()
	const path = "/portal/widget/jwt-token"
	h := newHarness(t, sandbox.Options{})
	sb := withDocument360Settings(t, h, d360.Options{WidgetTokenPath: path}, func(u string) map[string]string {
		return map[string]string{"widget_token_url": u + path}
	})
	base := "http://" + h.d.listenAddr
	if code := h.api("GET", "/v1/integrations/document360/widget-token", nil); code != http.StatusForbidden {
		t.Fatalf("GET widget token with a JWT: %d, want 403", code)
	}
	sess := menuSession(t, h)
	get := func(hdr map[string]string) (int, string) {
		req, _ := http.NewRequest("GET", base+"/v1/integrations/document360/widget-token", nil)
		req.Header.Set(injector.MenuSessionHeader, sess)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return r.StatusCode, string(b)
	}
	if code, body := get(map[string]string{"Sec-Fetch-Site": "same-origin"}); code != 200 || !strings.Contains(body, `"accessToken"`) {
		t.Fatalf("GET widget token: %d %s", code, body)
	}
	if n := len(sb.WidgetRequests()); n != 1 {
		t.Fatalf("the sandbox saw %d widget requests at %s", n, path)
	}
	if code, _ := get(map[string]string{"Sec-Fetch-Site": "cross-site"}); code != http.StatusForbidden {
		t.Errorf("cross-site GET widget token: %d, want 403", code)
	}
	if code, _ := get(map[string]string{"Origin": "http://127.0.0.1:1"}); code != http.StatusForbidden {
		t.Errorf("GET widget token from another origin: %d, want 403", code)
	}
}
