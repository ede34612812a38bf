package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/client/apitype"
	"github.com/latchkey/latchkey/integrations/docebo/sandbox"
)

// connectDocebo configures docebo against srvURL and connects it the way
// a user does (connect --no-browser, the consent URL opened).
func (u *cliUser) connectDocebo(srvURL string) {
	t := u.t
	t.Helper()
	if _, errOut, code := u.run(sandbox.DefaultClientSecret+"\n", "configure", "docebo", "--url", srvURL, "--client-id", sandbox.DefaultClientID); code != 0 {
		t.Fatalf("configure: %d %s", code, errOut)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := u.cmd(ctx, "connect", "docebo", "--no-browser")
	stdout, _ := c.StdoutPipe()
	var cerr bytes.Buffer
	c.Stderr = &cerr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	consent, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(strings.TrimSpace(consent))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := c.Wait(); err != nil {
		t.Fatalf("connect: %v: %s", err, cerr.String())
	}
}

// An integration that needs reconnecting does not vanish from the feeds:
// `latchkey courses` and `latchkey search` (and the HTTP API behind them)
// list it in errors with what to do, and the CLI exits 4.
func TestCLIReconnectNeededInFeeds(t *testing.T) {
	sb := sandbox.New(sandbox.Options{AutoApprove: true})
	srv := httptest.NewServer(sb)
	defer srv.Close()
	u := newUser(t, false)
	d, _ := u.startDaemon(freeAddr(t))
	u.connectDocebo(srv.URL)
	if _, errOut, code := u.run("", "courses"); code != 0 {
		t.Fatalf("courses while connected: %d %s", code, errOut)
	}
	// The keychain is lost while the daemon is stopped: at the next start
	// the daemon purges the records it can no longer open and marks docebo
	// reconnect-needed.
	d.Process.Signal(os.Interrupt)
	d.Wait()
	if err := os.Remove(filepath.Join(u.dir, "data", "latchkey", "keychain.sealed")); err != nil {
		t.Fatal(err)
	}
	listen := freeAddr(t)
	u.startDaemon(listen)

	check := func(what string, errs []apitype.FeedError) {
		t.Helper()
		for _, e := range errs {
			if e.Integration == "docebo" && e.Code == "reconnect_needed" && strings.Contains(e.Message, "latchkey connect docebo") {
				return
			}
		}
		t.Fatalf("%s: docebo is not in errors as needing reconnecting: %+v", what, errs)
	}
	out, errOut, code := u.run("", "courses", "--json")
	var courses struct {
		Items  []json.RawMessage   `json:"items"`
		Errors []apitype.FeedError `json:"errors"`
	}
	if err := json.Unmarshal([]byte(out), &courses); err != nil {
		t.Fatalf("courses --json: %v: %s", err, out)
	}
	check("courses --json", courses.Errors)
	if code != exitNeedsAction {
		t.Fatalf("courses --json exited %d, want %d (%s)", code, exitNeedsAction, errOut)
	}
	_, errOut, code = u.run("", "search", "go")
	if code != exitNeedsAction || !strings.Contains(errOut, "latchkey connect docebo") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("search: exit %d, stderr %q", code, errOut)
	}
	// The HTTP API, as a script with a latchkey token sees it.
	out, _, code = u.run("", "token")
	if code != 0 {
		t.Fatalf("token: %d", code)
	}
	for _, path := range []string{"/v1/courses", "/v1/search?q=go"} {
		req, _ := http.NewRequest("GET", "http://"+listen+path, nil)
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(out))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Errors []apitype.FeedError `json:"errors"`
		}
		err = json.NewDecoder(resp.Body).Decode(&doc)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
		}
		check("GET "+path, doc.Errors)
	}
}
