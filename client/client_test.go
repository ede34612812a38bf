package client

import (
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	socket := filepath.Join(t.TempDir(), "latchkey.sock")
	ln, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return socket
}

func TestNoSocketIsNotRunning(t *testing.T) {
	t.Parallel()
	c := &Client{Socket: filepath.Join(t.TempDir(), "latchkey.sock")}
	if err := c.Reload(context.Background()); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Reload without a daemon: %v, want ErrNotRunning", err)
	}
}

// An error answer without the JSON error document still comes back as an
// *APIError, coded by its status.
func TestErrorAnswerWithoutBody(t *testing.T) {
	t.Parallel()
	socket := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusBadGateway)
	}))
	_, err := (&Client{Socket: socket}).MenuURL(context.Background())
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusBadGateway || ae.Code != "http_502" || !strings.Contains(ae.Message, "502") {
		t.Fatalf("error %#v", err)
	}
}

// Every method sends its route's method and path, with the query it needs.
func TestRoutes(t *testing.T) {
	t.Parallel()
	got := make(chan string, 1)
	socket := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Method + " " + r.URL.RequestURI()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"done":true}`))
	}))
	c := &Client{Socket: socket}
	ctx := context.Background()
	for _, tc := range []struct {
		call func() error
		want string
	}{
		{func() error { _, err := c.Status(ctx); return err }, "GET /v1/status"},
		{func() error { _, err := c.Search(ctx, "go lang", 5); return err }, "GET /v1/search?limit=5&q=go+lang"},
		{func() error { _, err := c.Search(ctx, "x", 0); return err }, "GET /v1/search?q=x"},
		{func() error { return c.Disconnect(ctx, "docebo") }, "DELETE /v1/integrations/docebo"},
		{func() error { _, err := c.Audit(ctx, 7); return err }, "GET /control/audit?limit=7"},
		{func() error { return c.RevokeClient(ctx, "lkc a") }, "DELETE /control/clients/lkc%20a"},
		{func() error { _, err := c.SignInURL(ctx, "docebo", "lp-1"); return err }, "POST /control/open/docebo?target=lp-1"},
		{func() error { return c.WaitFlow(ctx, "f1") }, "GET /control/flows/f1?wait=25s"},
		{func() error { return c.Shutdown(ctx) }, "POST /control/shutdown"},
	} {
		if err := tc.call(); err != nil {
			t.Fatalf("%s: %v", tc.want, err)
		}
		if g := <-got; g != tc.want {
			t.Errorf("sent %q, want %q", g, tc.want)
		}
	}
}
