package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/latchkey/latchkey/integrations/docebo/sandbox"
)

// bearerRT adds a bearer token to every request.
type bearerRT struct{ tok string }

func (b bearerRT) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.tok)
	return http.DefaultTransport.RoundTrip(r)
}

// appsHarness is a daemon whose open command writes what it opens to a file.
func appsHarness(t *testing.T) (*harness, string) {
	t.Helper()
	opened := filepath.Join(t.TempDir(), "opened")
	script := filepath.Join(t.TempDir(), "open.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nprintf '%s\\n' \"$1\" >> "+opened+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	h := newHarnessWith(t, sandbox.Options{}, func(h *harness) { h.openCommand = []string{script} })
	return h, opened
}

func lastOpened(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("nothing was opened on the desktop: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// grantApp registers an app, asks for /mcp, allows it in the consent view
// the daemon opened (as the browser and consent.js do) and returns the
// token answer.
func grantApp(t *testing.T, h *harness, opened string) map[string]any {
	t.Helper()
	base := "http://" + h.d.listenAddr
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
	st, b := post("/oauth2/register", "application/json", `{"client_name":"Test Assistant","redirect_uris":["http://127.0.0.1/cb"]}`, nil)
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
		"state": {"xyz"}, "resource": {base + "/mcp"}, "scope": {"docebo"}}
	resp, err := http.Get(base + "/oauth2/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("authorize: %d", resp.StatusCode)
	}
	// The consent view was opened on the desktop, with a one-time code.
	u, err := url.Parse(lastOpened(t, opened))
	if err != nil || u.Path != "/menu/consent.html" {
		t.Fatalf("opened %v", u)
	}
	frag, _ := url.ParseQuery(u.Fragment)
	st, b = post("/menu/session", "application/json", `{"code":"`+frag.Get("code")+`"}`, map[string]string{"Origin": base})
	var sess struct {
		Session string `json:"session"`
	}
	if st != http.StatusOK || json.Unmarshal(b, &sess) != nil {
		t.Fatalf("session: %d %s", st, b)
	}
	// The consent names the program that registered: this test, on Linux.
	req, _ := http.NewRequest("GET", base+"/v1/apps/consent/"+frag.Get("consent"), nil)
	req.Header.Set("X-Latchkey-Session", sess.Session)
	cresp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var shown struct {
		AppName string `json:"app_name"`
		Program string `json:"program"`
	}
	_ = json.NewDecoder(cresp.Body).Decode(&shown)
	cresp.Body.Close()
	if shown.AppName != "Test Assistant" {
		t.Fatalf("consent shown: %+v", shown)
	}
	if runtime.GOOS == "linux" && !strings.HasSuffix(shown.Program, fmt.Sprintf("(pid %d)", os.Getpid())) {
		t.Errorf("the consent names the program %q, want this test (pid %d)", shown.Program, os.Getpid())
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
	var out map[string]any
	if st != http.StatusOK || json.Unmarshal(b, &out) != nil {
		t.Fatalf("token: %d %s", st, b)
	}
	return out
}

func TestAppGrantThroughTheMenuReachesMCPAndIsRevocableAcrossRestarts(t *testing.T) {
	h, opened := appsHarness(t)
	h.connect()
	if _, err := os.Stat(filepath.Join(h.paths.RuntimeDir, "client.jwt")); !os.IsNotExist(err) {
		t.Fatalf("the full-scope client.jwt file is written: %v", err)
	}
	tok := grantApp(t, h, opened)
	access := tok["access_token"].(string)

	cs, err := mcp.NewClient(&mcp.Implementation{Name: "daemon-test"}, nil).Connect(context.Background(),
		&mcp.StreamableClientTransport{Endpoint: "http://" + h.d.listenAddr + "/mcp", HTTPClient: &http.Client{Transport: bearerRT{access}}, DisableStandaloneSSE: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "search", Arguments: map[string]any{"query": "go"}})
	if err != nil || res.IsError {
		t.Fatalf("search: %+v %v", res, err)
	}
	b, _ := json.Marshal(res)
	if !strings.Contains(string(b), `"source":"docebo"`) {
		t.Fatalf("search found nothing in docebo: %s", b)
	}
	cs.Close()

	// The call is audited under the app's name; status lists the app.
	rows, err := h.d.AuditRows(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	var named bool
	for _, r := range rows {
		if strings.HasPrefix(r.Caller, "app:lkg_") && strings.HasSuffix(r.Caller, " Test Assistant") && r.Path == "tools/call search" {
			named = true
		}
		if strings.Contains(r.Caller+r.Path, access) {
			t.Fatal("the audit trail holds the token")
		}
	}
	if !named {
		t.Fatalf("no audit row names the app: %+v", rows)
	}
	st, err := h.d.StatusDoc(context.Background())
	if err != nil || len(st.Apps) != 1 || st.Apps[0].App != "Test Assistant" {
		t.Fatalf("status apps = %+v, %v", st.Apps, err)
	}

	// latchkey apps list / revoke, over the control socket.
	list, err := h.cl.Apps(context.Background())
	if err != nil || len(list) != 1 {
		t.Fatalf("apps list: %+v %v", list, err)
	}
	if err := h.cl.RevokeApp(context.Background(), list[0].ID); err != nil {
		t.Fatal(err)
	}
	mcpStatus := func() int {
		req, _ := http.NewRequest("POST", "http://"+h.d.listenAddr+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Authorization", "Bearer "+access)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := mcpStatus(); got != http.StatusUnauthorized {
		t.Fatalf("a revoked grant's token at /mcp: %d", got)
	}
	h.restart()
	if got := mcpStatus(); got != http.StatusUnauthorized {
		t.Fatalf("a revoked grant's token at /mcp after a restart: %d", got)
	}
	if list, err = h.cl.Apps(context.Background()); err != nil || len(list) != 1 || list[0].State != "revoked" {
		t.Fatalf("apps list after a restart: %+v %v", list, err)
	}
	if strings.Contains(h.logs.String(), access) || strings.Contains(h.logs.String(), tok["refresh_token"].(string)) {
		t.Fatal("a token is in the daemon's log")
	}
}
