package main

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/integrations/docebo/sandbox"
)

// rotate-key with a keychain that no longer answers (here the opt-in file
// keychain removed under the running daemon) exits 5 with one line, like
// every other keychain failure, not 1.
func TestCLIRotateKeyKeychainGoneExits5(t *testing.T) {
	u := newUser(t, false)
	u.startDaemon(freeAddr(t))
	if _, errOut, code := u.run("", "status"); code != 0 {
		t.Fatalf("status: %d %s", code, errOut)
	}
	if err := os.Remove(filepath.Join(u.dir, "data", "latchkey", "keychain.sealed")); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := u.run("", "rotate-key")
	if code != exitKeychain || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "keychain") {
		t.Fatalf("rotate-key without a keychain: exit %d (want %d), stderr %q", code, exitKeychain, errOut)
	}
}

// `latchkey status` without a daemon, finding the vault salt gone, only
// reports it: it never is the command that purges the sealed tokens (that
// belongs to the daemon, at its start or while it runs).
func TestCLIStatusNeverPurges(t *testing.T) {
	sb := sandbox.New(sandbox.Options{AutoApprove: true})
	srv := httptest.NewServer(sb)
	defer srv.Close()
	u := newUser(t, false)
	d, _ := u.startDaemon(freeAddr(t))
	u.connectDocebo(srv.URL)
	d.Process.Signal(os.Interrupt)
	d.Wait()
	if err := os.Remove(filepath.Join(u.dir, "data", "latchkey", "keychain.sealed")); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		out, errOut, code := u.run("", "status", "--json")
		var st struct {
			KeyID        string `json:"key_id"`
			VaultNotice  string `json:"vault_notice"`
			Integrations []struct{ Name, State string }
		}
		if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
			t.Fatalf("status: %d %s %s", code, out, errOut)
		}
		if !strings.Contains(st.VaultNotice, "docebo") {
			t.Fatalf("status does not say docebo's token is under a lost key: notice %q", st.VaultNotice)
		}
		for _, in := range st.Integrations {
			if in.Name == "docebo" && in.State != "connected" {
				t.Fatalf("status (run %d) changed docebo to %s: it purged", i+1, in.State)
			}
		}
	}
	out, _, code := u.run("", "status")
	if code != 0 || !strings.Contains(out, "vault:") {
		t.Fatalf("status (text) does not show the vault notice: %d %s", code, out)
	}
}
