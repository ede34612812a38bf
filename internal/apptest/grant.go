package apptest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
)

// Consent is what the consent view showed.
type Consent struct {
	AppName      string   `json:"app_name"`
	Program      string   `json:"program"`
	Integrations []string `json:"integrations"`
	ReadOnly     bool     `json:"read_only"`
}

// Tokens is the token endpoint's answer.
type Tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
	ClientID     string `json:"-"`
}

// Grant registers an app named name on the daemon at base (http://host:port),
// asks for the /mcp resource (and scope, when not empty), allows it in the
// consent view the daemon's open command wrote as the last line of opened,
// and returns what the consent showed and the tokens.
func Grant(t testing.TB, base, opened, name, scope string) (Consent, Tokens) {
	t.Helper()
	post := func(path, ctype, body string, hdr map[string]string) (int, []byte) {
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	md, _ := json.Marshal(map[string]any{"client_name": name, "redirect_uris": []string{"http://127.0.0.1/cb"}})
	st, b := post("/oauth2/register", "application/json", string(md), nil)
	var reg struct {
		ClientID string `json:"client_id"`
	}
	if st != http.StatusCreated || json.Unmarshal(b, &reg) != nil {
		t.Fatalf("register: %d %s", st, b)
	}
	verifier := strings.Repeat("v", 50)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"response_type": {"code"}, "client_id": {reg.ClientID}, "redirect_uri": {"http://127.0.0.1:4242/cb"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
		"state": {"xyz"}, "resource": {base + "/mcp"}}
	if scope != "" {
		q.Set("scope", scope)
	}
	before, _ := os.ReadFile(opened)
	resp, err := http.Get(base + "/oauth2/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	after, _ := os.ReadFile(opened)
	if resp.StatusCode != http.StatusOK || len(after) <= len(before) {
		t.Fatalf("authorize: %d, and the consent view was not opened", resp.StatusCode)
	}
	// The consent view, opened on the desktop with a one-time code.
	u, err := url.Parse(strings.TrimSpace(string(after[len(before):])))
	if err != nil || u.Path != "/menu/consent.html" {
		t.Fatalf("opened %v", u)
	}
	frag, _ := url.ParseQuery(u.Fragment)
	st, b = post("/menu/session", "application/json", `{"code":"`+frag.Get("code")+`"}`, map[string]string{"Origin": base})
	var sess struct {
		Session string `json:"session"`
	}
	if st != http.StatusOK || json.Unmarshal(b, &sess) != nil {
		t.Fatalf("menu session: %d", st)
	}
	req, _ := http.NewRequest("GET", base+"/v1/apps/consent/"+frag.Get("consent"), nil)
	req.Header.Set("X-Latchkey-Session", sess.Session)
	cresp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var shown Consent
	err = json.NewDecoder(cresp.Body).Decode(&shown)
	cresp.Body.Close()
	if cresp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("the consent request: %d %v", cresp.StatusCode, err)
	}
	st, b = post("/v1/apps/consent/"+frag.Get("consent"), "application/json", `{"allow":true}`,
		map[string]string{"Origin": base, "X-Latchkey-Session": sess.Session})
	var dec struct {
		Redirect string `json:"redirect"`
	}
	if st != http.StatusOK || json.Unmarshal(b, &dec) != nil {
		t.Fatalf("allow: %d %s", st, b)
	}
	ru, _ := url.Parse(dec.Redirect)
	form := url.Values{"grant_type": {"authorization_code"}, "code": {ru.Query().Get("code")}, "client_id": {reg.ClientID},
		"redirect_uri": {"http://127.0.0.1:4242/cb"}, "code_verifier": {verifier}}
	st, b = post("/oauth2/token", "application/x-www-form-urlencoded", form.Encode(), nil)
	var tok Tokens
	if st != http.StatusOK || json.Unmarshal(b, &tok) != nil || tok.AccessToken == "" {
		t.Fatalf("token: %d", st)
	}
	tok.ClientID = reg.ClientID
	return shown, tok
}
