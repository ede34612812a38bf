package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigPrecedenceAndValidation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte("listen = \"127.0.0.1:9000\"\nsearch_deadline = \"3s\"\nhotkey = \"ctrl+alt+k\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"LATCHKEY_LISTEN": "127.0.0.1:9100", "LATCHKEY_MENU_CODE_TTL": "2s"}
	c, err := LoadConfig(path, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9100" { // environment over file
		t.Fatalf("listen %q", c.Listen)
	}
	if c.SearchDeadline.Duration != 3*time.Second || c.Hotkey != "ctrl+alt+k" || c.MenuCodeTTL.Duration != 2*time.Second {
		t.Fatalf("file/env values lost: %+v", c)
	}
	if c.Keychain != "system" {
		t.Fatalf("default keychain %q", c.Keychain)
	}
	if c.MaxProcs == nil || *c.MaxProcs != 0 {
		t.Fatalf("default max_procs %v, want 0 (Go's default)", c.MaxProcs)
	}
	env["LATCHKEY_MAX_PROCS"] = "1"
	if c, err := LoadConfig(path, func(k string) string { return env[k] }); err != nil || *c.MaxProcs != 1 {
		t.Fatalf("LATCHKEY_MAX_PROCS=1: %v %v", c.MaxProcs, err)
	}
	env["LATCHKEY_MAX_PROCS"] = "-2"
	if _, err := LoadConfig(path, func(k string) string { return env[k] }); err == nil {
		t.Fatal("a negative LATCHKEY_MAX_PROCS was accepted")
	}
	delete(env, "LATCHKEY_MAX_PROCS")
	env["LATCHKEY_SEARCH_DEADLINE"] = "soon"
	if _, err := LoadConfig(path, func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "LATCHKEY_SEARCH_DEADLINE") {
		t.Fatalf("bad duration: %v", err)
	}
	if err := os.WriteFile(path, []byte("lisen = \"x\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(path, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "lisen") {
		t.Fatalf("unknown key accepted: %v", err)
	}
}

func TestSaveFileConfigIsPrivateAndKeepsOtherKeys(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "cfg", "config.toml")
	if err := SaveFileConfig(path, func(c *Config) error { c.Store = "https://store.example"; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := SaveFileConfig(path, func(c *Config) error {
		c.Integrations = map[string]IntegrationConfig{"docebo": {URL: "https://acme.docebosaas.com", ClientID: "id"}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("config file mode: %v %v", fi, err)
	}
	c, err := LoadConfig(path, func(string) string { return "" })
	if err != nil || c.Store != "https://store.example" || c.Integrations["docebo"].ClientID != "id" {
		t.Fatalf("round trip: %+v %v", c, err)
	}
}

func TestCheckListenRefusesNonLoopback(t *testing.T) {
	t.Parallel()
	for addr, ok := range map[string]bool{"127.0.0.1:7788": true, "[::1]:7788": true, "localhost:7788": true, "0.0.0.0:7788": false, "192.168.1.4:7788": false} {
		if err := checkListen(addr, false); (err == nil) != ok {
			t.Errorf("checkListen(%q) = %v", addr, err)
		}
	}
	if err := checkListen("0.0.0.0:7788", true); err != nil {
		t.Errorf("explicitly allowed: %v", err)
	}
}
