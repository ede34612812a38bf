package sandboxcmd

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckLoopback(t *testing.T) {
	t.Parallel()
	for addr, ok := range map[string]bool{"127.0.0.1:1": true, "[::1]:1": true, "localhost:1": true, "0.0.0.0:1": false, "10.1.2.3:1": false, "nonsense": false} {
		if err := CheckLoopback(addr, false); (err == nil) != ok {
			t.Errorf("CheckLoopback(%q) = %v", addr, err)
		}
	}
	if err := CheckLoopback("0.0.0.0:1", true); err != nil {
		t.Errorf("allowRemote: %v", err)
	}
}

func TestSecretSources(t *testing.T) {
	file := filepath.Join(t.TempDir(), "s")
	os.WriteFile(file, []byte(" from-file \n"), 0o600)
	t.Setenv("SANDBOXCMD_TEST_SECRET", "from-env")
	if s, src, err := Secret(file, "SANDBOXCMD_TEST_SECRET", "def"); err != nil || s != "from-file" || strings.Contains(src, s) {
		t.Fatalf("file: %q %q %v", s, src, err)
	}
	if s, src, err := Secret("", "SANDBOXCMD_TEST_SECRET", "def"); err != nil || s != "from-env" || strings.Contains(src, s) {
		t.Fatalf("env: %q %q %v", s, src, err)
	}
	if s, _, err := Secret("", "SANDBOXCMD_TEST_UNSET", "def"); err != nil || s != "def" {
		t.Fatalf("default: %q %v", s, err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(empty, nil, 0o600)
	if _, _, err := Secret(empty, "", "def"); err == nil {
		t.Fatal("an empty secret file was accepted")
	}
}

func TestServeStopsWithContext(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	}()
	r, err := http.Get("http://" + ln.Addr().String())
	if err != nil || r.StatusCode != 200 {
		t.Fatalf("serve: %v %v", r, err)
	}
	r.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve after cancel: %v", err)
	}
}
