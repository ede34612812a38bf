package browser

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/testenv"
)

// appsResult is what apps.spec.mjs reports.
type appsResult struct {
	shotsResult
	ToolResults []string `json:"toolResults"`
	Secrets     []string `json:"secrets"`
}

// TestAppsMCPClientsInChromium: the official MCP TypeScript SDK drives the
// real daemon over stdio (latchkey mcp) and over streamable HTTP, where it
// runs the whole OAuth flow with latchkey's consent view approved (and once
// denied) in Chromium, and a foreign redirect URI, a wrong PKCE verifier, a
// reused code and a revoked grant are refused (../mcp/apps.spec.mjs). Then no
// tool result, audit row or line of the daemon's log
// holds a token or a signed-in link.
func TestAppsMCPClientsInChromium(t *testing.T) {
	testenv.Require(t, testenv.Browser)
	testenv.Require(t, testenv.Keyring)
	mcpDeps := testenv.Require(t, testenv.MCP)
	s := newRealStack(t)
	opened := filepath.Join(t.TempDir(), "opened")
	script := filepath.Join(t.TempDir(), "open.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nprintf '%s\\n' \"$1\" >> "+opened+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, kv := range s.env {
		if !strings.HasPrefix(kv, "LATCHKEY_MENU_CODE_TTL=") {
			env = append(env, kv)
		}
	}
	// The consent link's code must outlive Chromium's start on a busy machine.
	s.env = append(env, "LATCHKEY_MENU_CODE_TTL=30s", "LATCHKEY_OPEN_COMMAND="+script)
	s.up()

	envMap := map[string]string{}
	for _, kv := range s.env {
		k, v, _ := strings.Cut(kv, "=")
		envMap[k] = v
	}
	shots := artifactsDir(t)
	t.Setenv("LATCHKEY_TEST_MCP", mcpDeps)
	var res appsResult
	runScript(t, "../mcp/apps.spec.mjs", map[string]any{
		"base": "http://" + s.listen, "opened": opened, "latchkey": filepath.Join(s.bin, "latchkey"),
		"env": envMap, "shots": shots,
	}, &res)
	if len(res.ToolResults) < 8 || len(res.Secrets) < 4 {
		t.Fatalf("the spec reported %d tool results and %d secrets", len(res.ToolResults), len(res.Secrets))
	}

	// The audit trail names the apps and holds no secret.
	audit := s.run("", "audit", "--json", "--limit", "500")
	for _, want := range []string{"SDK Assistant (e2e)", "mcp-stdio sdk-e2e-stdio", "tools/call open_course"} {
		if !strings.Contains(audit, want) {
			t.Errorf("the audit trail does not name %q", want)
		}
	}
	var apps struct {
		Apps []struct {
			AppName string `json:"app_name"`
			State   string `json:"state"`
		} `json:"apps"`
	}
	if err := json.Unmarshal([]byte(s.run("", "apps", "list", "--json")), &apps); err != nil {
		t.Fatal(err)
	}
	// The SDK's grant (a refresh token used twice), the reused code's and the
	// one revoked with latchkey apps revoke: every grant ended revoked.
	if len(apps.Apps) != 3 {
		t.Errorf("latchkey apps list: %+v, want three grants", apps.Apps)
	}
	for _, a := range apps.Apps {
		if a.State != "revoked" {
			t.Errorf("latchkey apps list: %s is %s, want revoked", a.AppName, a.State)
		}
	}
	everything := audit + strings.Join(res.ToolResults, "\n") + s.outs["latchkey"].String()
	for _, sec := range res.Secrets {
		if sec != "" && strings.Contains(everything, sec) {
			t.Errorf("a token or signed-in link appears in a tool result, the audit trail or the daemon's log")
		}
	}
	for _, f := range res.Shots {
		if filepath.Base(f) == "consent.png" {
			t.Logf("consent screenshot: %s", f)
		}
	}
}
