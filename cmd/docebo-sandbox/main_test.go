package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/integrations/docebo/sandbox"
)

func TestRunServesAndStops(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	const secret = "file-secret-0123456789abcdef0123456789"
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var logs strings.Builder
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--client-id", "cid", "--client-secret-file", secretFile,
			"--auto-approve", "--rotate-refresh", "--seed-user", "grace", "--token-ttl", "2m",
			"--forbid-learner-courses", "--no-exchange-token", "--jwt-audience", "acme.docebosaas.com"}, pw, &logs)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no base URL printed: %v", err)
	}
	base := strings.TrimSpace(line)
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("base URL %q", base)
	}
	go io.Copy(io.Discard, pr)

	resp, err := http.PostForm(base+"/oauth2/token", url.Values{"grant_type": {"password"}, "client_id": {"cid"},
		"client_secret": {secret}, "username": {"grace"}, "password": {sandbox.DefaultPassword}})
	if err != nil {
		t.Fatal(err)
	}
	var tok map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if resp.StatusCode != 200 || tok["expires_in"].(float64) != 120 {
		t.Fatalf("token: %d %v", resp.StatusCode, tok["expires_in"])
	}
	// --forbid-learner-courses and --no-exchange-token.
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/learn/v1/courses?search_text=go", 403},
		{http.MethodGet, "/learn/v1/catalog?my_catalogs=1&show_item_list=1&search_text=go", 200},
		{http.MethodPost, "/manage/v1/user/exchange_token", 404},
	} {
		req, _ := http.NewRequest(c.method, base+c.path, nil)
		req.Header.Set("Authorization", "Bearer "+tok["access_token"].(string))
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != c.want {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, r.StatusCode, c.want)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop")
	}
	if strings.Contains(logs.String(), secret) {
		t.Fatal("the client secret was logged")
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--listen", "0.0.0.0:0"},
		{"--listen", "nonsense"},
		{"--seed-user", "nobody", "--listen", "127.0.0.1:0"},
		{"--client-secret-file", "/nonexistent/secret"},
		{"extra"},
	} {
		if err := run(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("run %v succeeded", args)
		}
	}
}
