package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRefusesNonLoopback(t *testing.T) {
	t.Setenv("DOCUMENT360_SANDBOX_API_TOKEN", "t")
	for _, addr := range []string{"0.0.0.0:8802", "192.0.2.1:8802", "example.com:80"} {
		if err := run([]string{"--listen", addr}); err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("%s: %v", addr, err)
		}
	}
}

func TestNeedsAPIToken(t *testing.T) {
	t.Setenv("DOCUMENT360_SANDBOX_API_TOKEN", "")
	if err := run([]string{"--listen", "127.0.0.1:0"}); err == nil || !strings.Contains(err.Error(), "no api token") {
		t.Errorf("got %v", err)
	}
}

func TestSecretFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "token")
	v, err := secret(p, "UNUSED_ENV_FOR_TEST", "", true)
	if err != nil || len(v) != 48 {
		t.Fatalf("created %q %v", v, err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", fi.Mode(), err)
	}
	again, err := secret(p, "UNUSED_ENV_FOR_TEST", "", true)
	if err != nil || again != v {
		t.Errorf("re-read %q %v", again, err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	_ = os.WriteFile(empty, []byte("\n"), 0o600)
	if _, err := secret(empty, "X", "", false); err == nil {
		t.Error("empty file accepted")
	}
	if _, err := secret(filepath.Join(t.TempDir(), "missing"), "X", "", false); err == nil {
		t.Error("missing file accepted without create")
	}
	t.Setenv("D360_TEST_SECRET", " from-env ")
	if v, _ := secret("", "D360_TEST_SECRET", "flag", false); v != "from-env" {
		t.Errorf("env: %q", v)
	}
}
