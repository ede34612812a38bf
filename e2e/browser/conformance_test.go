package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/apptest"
	"github.com/latchkey/latchkey/internal/testenv"
)

// tokenForwarder is the test-only front of /mcp the conformance suite
// talks to (the suite does not authenticate): it adds the grant's token and
// maps its own Host and Origin to the daemon's listener. Any other Host or
// Origin goes through unchanged, so the daemon's DNS-rebinding and origin
// checks are what the suite's dns-rebinding-protection scenario meets.
func tokenForwarder(t *testing.T, daemon, token string) string {
	t.Helper()
	target, _ := url.Parse("http://" + daemon)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	self := ln.Addr().String()
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.Out.Host = pr.In.Host
		if pr.In.Host == self {
			pr.Out.Host = daemon
		}
		if o := pr.In.Header.Get("Origin"); o == "http://"+self {
			pr.Out.Header.Set("Origin", "http://"+daemon)
		}
		pr.Out.Header.Set("Authorization", "Bearer "+token)
	}, FlushInterval: -1}
	srv := httptest.NewUnstartedServer(rp)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return "http://" + self
}

// TestMCPConformanceSuite runs the MCP conformance suite's server scenarios
// (@modelcontextprotocol/conformance, pinned in ../mcp/package.json, on the
// Node 22 of the node package) against /mcp of the real daemon, through
// tokenForwarder with a token from a real grant. Scenarios for features
// latchkey does not offer are in ../mcp/conformance-baseline.yml, each with
// its reason; any other failure, or a baseline entry that now passes, fails
// the test. Nothing the suite saved holds the token.
func TestMCPConformanceSuite(t *testing.T) {
	testenv.Require(t, testenv.Keyring)
	mcpDeps := testenv.Require(t, testenv.MCP)
	node := filepath.Join(mcpDeps, "node_modules", ".bin", "node")
	suite := filepath.Join(mcpDeps, "node_modules", "@modelcontextprotocol", "conformance", "dist", "index.js")
	for _, f := range []string{node, suite} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("%s is missing (run scripts/mcp-deps.sh): %v", f, err)
		}
	}
	s := newRealStack(t)
	opened := filepath.Join(t.TempDir(), "opened")
	script := filepath.Join(t.TempDir(), "open.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nprintf '%s\\n' \"$1\" >> "+opened+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	s.env = append(s.env, "LATCHKEY_OPEN_COMMAND="+script)
	s.up()
	_, tok := apptest.Grant(t, "http://"+s.listen, opened, "conformance forwarder", "")
	token := tok.AccessToken
	front := tokenForwarder(t, s.listen, token)

	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, suite, "server", "--url", front+"/mcp",
		"--expected-failures", filepath.Join(mcpDeps, "conformance-baseline.yml"), "-o", out)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	t.Logf("conformance suite:\n%s", buf.String())
	for _, want := range []string{"server-initialize", "ping", "tools-list", "dns-rebinding-protection"} {
		if !strings.Contains(buf.String(), "✓ "+want+":") {
			t.Errorf("scenario %s did not pass", want)
		}
	}
	filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte(token)) {
			t.Errorf("%s holds the token", p)
		}
		var checks []struct{ Name, Status, ErrorMessage string }
		if filepath.Base(p) == "checks.json" && json.Unmarshal(b, &checks) == nil {
			for _, c := range checks {
				if c.Status != "SUCCESS" {
					t.Logf("%s: %s %s: %s", filepath.Base(filepath.Dir(p)), c.Status, c.Name, c.ErrorMessage)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("the conformance suite failed beyond its baseline: %v", err)
	}
}
