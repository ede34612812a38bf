package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/latchkey/latchkey/integrations/docebo/sandbox"
	"github.com/latchkey/latchkey/internal/apptest"
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

func TestAppGrantThroughTheMenuReachesMCPAndIsRevocableAcrossRestarts(t *testing.T) {
	t.Parallel()
	h, opened := appsHarness(t)
	h.connect()
	if _, err := os.Stat(filepath.Join(h.paths.RuntimeDir, "client.jwt")); !os.IsNotExist(err) {
		t.Fatalf("the full-scope client.jwt file is written: %v", err)
	}
	shown, tok := apptest.Grant(t, "http://"+h.d.listenAddr, opened, "Test Assistant", "docebo")
	// The consent names the program that registered: this test, on Linux.
	if runtime.GOOS == "linux" && !strings.HasSuffix(shown.Program, fmt.Sprintf("(pid %d)", os.Getpid())) {
		t.Errorf("the consent names the program %q, want this test (pid %d)", shown.Program, os.Getpid())
	}
	if shown.AppName != "Test Assistant" || !shown.ReadOnly || strings.Join(shown.Integrations, ",") != "docebo" {
		t.Errorf("the consent showed %+v", shown)
	}
	access := tok.AccessToken

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
	if strings.Contains(h.logs.String(), access) || strings.Contains(h.logs.String(), tok.RefreshToken) {
		t.Fatal("a token is in the daemon's log")
	}
}

// TestOpenCourseKeepsTheSignedInLinkOffTheCommandLine: open_course (the
// control route `latchkey mcp` uses) gives the opener a one-time address
// of the listener, never the signed-in link itself (which carries a
// provider token, and a command line is readable by every local user);
// that address leads once to the signed-in course.
func TestOpenCourseKeepsTheSignedInLinkOffTheCommandLine(t *testing.T) {
	t.Parallel()
	opened := filepath.Join(t.TempDir(), "opened")
	script := filepath.Join(t.TempDir(), "open.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nprintf '%s\\n' \"$1\" >> "+opened+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	h := newHarnessWith(t, sandbox.Options{}, func(h *harness) {
		h.openCommand = []string{script}
		if err := SaveFileConfig(h.paths.ConfigFile(), func(c *Config) error {
			ic := c.Integrations["docebo"]
			ic.Settings = map[string]string{"signin": "token_exchange"}
			c.Integrations["docebo"] = ic
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	})
	h.connect()
	if err := h.cl.OpenCourse(context.Background(), "docebo", "1001"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(opened)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	arg := lines[len(lines)-1]
	if !strings.HasPrefix(arg, "http://"+h.d.listenAddr+"/v1/links/") || strings.Contains(arg, "access_token") || strings.Contains(arg, "exchange_token") {
		t.Fatalf("the opener was given %q", arg)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(arg)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, h.sbURL+"/learn/") {
		t.Fatalf("the one-time address: %d to %q", resp.StatusCode, loc)
	}
	if code, _ := visit(t, resp.Header.Get("Location")); code != http.StatusOK {
		t.Fatalf("the signed-in course: %d", code)
	}
	resp, err = noFollow.Get(arg)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Location") != "" {
		t.Fatalf("the one-time address, again: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}
