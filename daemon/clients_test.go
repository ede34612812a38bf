package daemon

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/client/apitype"
	"github.com/latchkey/latchkey/integrations/docebo/sandbox"
	d360 "github.com/latchkey/latchkey/integrations/document360/sandbox"
)

// tokenResp is what POST /oauth2/token answers.
type tokenResp struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Scope       string `json:"scope"`
	Error       string `json:"error"`
}

// clientToken exchanges a personal client's credentials at the injector,
// with HTTP Basic or in the body.
func (h *harness) clientToken(id, secret string, basic bool) (int, tokenResp) {
	h.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	if !basic {
		form.Set("client_id", id)
		form.Set("client_secret", secret)
	}
	req, _ := http.NewRequest("POST", "http://"+h.d.listenAddr+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr tokenResp
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil {
		h.t.Fatalf("token response: %v", err)
	}
	return resp.StatusCode, tr
}

// bearerGet calls the injector with a caller token.
func (h *harness) bearerGet(tok, path string) int {
	h.t.Helper()
	req, _ := http.NewRequest("GET", "http://"+h.d.listenAddr+path, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func (h *harness) createClient(req apitype.CreateClientRequest) apitype.CreatedClient {
	h.t.Helper()
	cc, err := h.cl.CreateClient(context.Background(), req)
	if err != nil {
		h.t.Fatal(err)
	}
	if cc.ID == "" || len(cc.Secret) < 32 || cc.State != "active" {
		h.t.Fatalf("created client %+v", cc.ClientInfo)
	}
	return *cc
}

func (h *harness) clientState(id string) string {
	h.t.Helper()
	var out struct {
		Clients []json.RawMessage `json:"clients"`
	}
	if err := json.Unmarshal(h.controlRaw("GET", "/control/clients"), &out); err != nil {
		h.t.Fatal(err)
	}
	for _, raw := range out.Clients {
		var ci apitype.ClientInfo
		if err := json.Unmarshal(raw, &ci); err != nil {
			h.t.Fatal(err)
		}
		if strings.Contains(string(raw), "secret") || strings.Contains(string(raw), "hash") {
			h.t.Fatalf("the client list carries a secret field: %s", raw)
		}
		if ci.ID == id {
			return ci.State
		}
	}
	return ""
}

func TestPersonalClientCreateUseRevoke(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{})
	h.connect()
	withDocument360(t, h, d360.Options{})
	cc := h.createClient(apitype.CreateClientRequest{Name: "nightly report", Expires: 30 * 24 * time.Hour, Integrations: []string{"docebo"}})
	if cc.ExpiresAt == nil || time.Until(*cc.ExpiresAt) < 29*24*time.Hour || h.clientState(cc.ID) != "active" {
		t.Fatalf("client %+v", cc.ClientInfo)
	}

	for _, basic := range []bool{true, false} {
		code, tr := h.clientToken(cc.ID, cc.Secret, basic)
		if code != 200 || tr.AccessToken == "" || tr.TokenType != "Bearer" || tr.Scope != "docebo" || tr.ExpiresIn <= 0 {
			t.Fatalf("basic=%v: %d %+v", basic, code, tr)
		}
		// The JWT works on the integration it is scoped to…
		if code := h.bearerGet(tr.AccessToken, "/v1/courses"); code != 200 {
			t.Fatalf("courses with the client JWT: %d", code)
		}
		if code := h.bearerGet(tr.AccessToken, "/v1/proxy/docebo/manage/v1/user/session"); code != 200 {
			t.Fatalf("docebo proxy with the client JWT: %d", code)
		}
		// …and is refused on one outside its scope.
		if code := h.bearerGet(tr.AccessToken, "/v1/proxy/document360/v2/Projects"); code != 403 {
			t.Fatalf("document360 with a docebo-only JWT: %d", code)
		}
		if code := h.api("GET", "/v1/proxy/document360/v2/Projects", nil); code == 403 {
			t.Fatal("document360 refuses an unscoped token too: the check above proves nothing")
		}
	}
	// A wrong secret, an unknown id, and a scope the client does not have.
	if code, tr := h.clientToken(cc.ID, cc.Secret+"x", true); code != 401 || tr.Error != "invalid_client" {
		t.Fatalf("wrong secret: %d %+v", code, tr)
	}
	if code, tr := h.clientToken("lkc_unknown", cc.Secret, false); code != 401 || tr.Error != "invalid_client" {
		t.Fatalf("unknown client: %d %+v", code, tr)
	}

	// The audit trail names the client.
	deadline := time.Now().Add(10 * time.Second)
	for {
		rows, err := h.d.AuditRows(context.Background(), 50)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, r := range rows {
			if r.Caller == "client:"+cc.ID && r.Integration == "docebo" {
				found = true
			}
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no audit row names client:%s (%d rows)", cc.ID, len(rows))
		}
		time.Sleep(20 * time.Millisecond) // polling an observable condition, bounded
	}

	// Revoked: invalid_client at once, listed as revoked, and the JWT it
	// got before is refused though not expired.
	_, held := h.clientToken(cc.ID, cc.Secret, true)
	if code := h.bearerGet(held.AccessToken, "/v1/proxy/docebo/manage/v1/user/session"); code != 200 {
		t.Fatalf("client JWT before revoke: %d", code)
	}
	if err := h.cl.RevokeClient(context.Background(), cc.ID); err != nil {
		t.Fatal(err)
	}
	if code, tr := h.clientToken(cc.ID, cc.Secret, true); code != 401 || tr.Error != "invalid_client" {
		t.Fatalf("revoked client: %d %+v", code, tr)
	}
	if st := h.clientState(cc.ID); st != "revoked" {
		t.Fatalf("state after revoke %q", st)
	}
	for _, path := range []string{"/v1/proxy/docebo/manage/v1/user/session", "/v1/courses"} {
		if code := h.bearerGet(held.AccessToken, path); code != 401 {
			t.Fatalf("%s with a revoked client's JWT: %d", path, code)
		}
	}
	// Still refused after a restart, while a JWT of another subject minted
	// before it still works (the signing key survives restarts).
	kept, err := h.d.MintToken(apitype.TokenRequest{})
	if err != nil {
		t.Fatal(err)
	}
	h.restart()
	if code := h.bearerGet(kept, "/v1/courses"); code != 200 {
		t.Fatalf("a JWT minted before the restart: %d (the check below would prove nothing)", code)
	}
	if code := h.bearerGet(held.AccessToken, "/v1/courses"); code != 401 {
		t.Fatalf("revoked client's JWT after a restart: %d", code)
	}
	if err := h.cl.RevokeClient(context.Background(), "lkc_nope"); err == nil || !strings.Contains(err.Error(), "clients list") {
		t.Fatalf("revoking an unknown client: %v", err)
	}

	// The secret is nowhere on disk or in the logs.
	assertNotOnDisk(t, h.dir, cc.Secret)
	if strings.Contains(h.logs.String(), cc.Secret) {
		t.Fatal("the client secret appeared in the logs")
	}
}

func TestPersonalClientAllIntegrationsAndExpiry(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{})
	h.connect()
	all := h.createClient(apitype.CreateClientRequest{Name: "everything"})
	code, tr := h.clientToken(all.ID, all.Secret, false)
	if code != 200 {
		t.Fatalf("unscoped client: %d %+v", code, tr)
	}
	if code := h.bearerGet(tr.AccessToken, "/v1/proxy/docebo/manage/v1/user/session"); code != 200 {
		t.Fatalf("an unscoped client reaches docebo: %d", code)
	}
	if all.ExpiresAt != nil {
		t.Fatal("a client without --expires got an expiry")
	}

	// A client that expires in 2 s gets a JWT that expires with it (not the
	// 15 min default), and that JWT is refused as soon as the client expired.
	short := h.createClient(apitype.CreateClientRequest{Name: "short", Expires: 2 * time.Second})
	code, tr = h.clientToken(short.ID, short.Secret, true)
	if code != 200 {
		t.Fatalf("a fresh short-lived client was refused: %d %+v", code, tr)
	}
	_, claims := jwtParts(t, tr.AccessToken)
	exp := time.Unix(int64(claims["exp"].(float64)), 0)
	if tr.ExpiresIn > 2 || exp.After(*short.ExpiresAt) {
		t.Fatalf("the client expires at %v, its JWT at %v (expires_in %d)", short.ExpiresAt, exp, tr.ExpiresIn)
	}
	if code := h.bearerGet(tr.AccessToken, "/v1/proxy/docebo/manage/v1/user/session"); code != 200 && time.Now().Before(exp) {
		t.Fatalf("the short client's JWT before its expiry: %d", code)
	}
	deadline := time.Now().Add(10 * time.Second)
	for h.clientState(short.ID) != "expired" {
		if time.Now().After(deadline) {
			t.Fatal("the client never expired")
		}
		time.Sleep(20 * time.Millisecond) // polling an observable condition, bounded
	}
	if code := h.bearerGet(tr.AccessToken, "/v1/status"); code != 401 {
		t.Fatalf("the JWT of an expired client: %d", code)
	}
	if code, tr := h.clientToken(short.ID, short.Secret, true); code != 401 || tr.Error != "invalid_client" {
		t.Fatalf("expired client: %d %+v", code, tr)
	}

	// Bad input: no name, negative expiry, unknown integration.
	for _, req := range []apitype.CreateClientRequest{{Name: " "}, {Name: "x", Expires: -time.Hour}, {Name: "x", Integrations: []string{"nope"}}} {
		if _, err := h.cl.CreateClient(context.Background(), req); err == nil {
			t.Errorf("create %+v accepted", req)
		}
	}
	assertNotOnDisk(t, h.dir, all.Secret)
	assertNotOnDisk(t, h.dir, short.Secret)
}
