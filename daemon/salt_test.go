package daemon

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/client/apitype"
	"github.com/latchkey/latchkey/injector/auth"
	"github.com/latchkey/latchkey/integrations/docebo/sandbox"
	"github.com/latchkey/latchkey/internal/testenv"
	"github.com/latchkey/latchkey/vault"
	"github.com/latchkey/latchkey/vault/keychain"
	"github.com/latchkey/latchkey/vault/store"
)

func TestSaltDeletedWhileRunningFileKeychain(t *testing.T) { saltDeletedWhileRunning(t, false) }

func TestSaltDeletedWhileRunningSystemKeychain(t *testing.T) {
	testenv.Require(t, testenv.Keyring)
	saltDeletedWhileRunning(t, true)
}

// The vault salt deleted from the keychain while the daemon runs is noticed
// by the daemon itself within its check interval (no command needed), and
// handled as a lost salt at once: the tokens sealed under it are removed,
// the integrations marked reconnect-needed, a new salt made, and status says
// what happened.
func saltDeletedWhileRunning(t *testing.T, system bool) {
	ctx := context.Background()
	h := newHarnessWith(t, sandbox.Options{}, func(h *harness) {
		h.saltCheck = 50 * time.Millisecond
		if system {
			h.kc = keychain.System()
			t.Cleanup(func() {
				acct := h.d.vault.KeychainAccount()
				h.kc.Delete(vault.DefaultService, acct)
				h.kc.Delete(vault.DefaultService, acct+".next")
			})
		}
	})
	h.connect()
	oldKey := h.d.vault.KeyID()
	account := h.d.vault.KeychainAccount() // per setup: "alice@<id>"
	if err := h.kc.Delete(vault.DefaultService, account); err != nil {
		t.Fatal(err)
	}
	// Watch the database, not status (which checks too): the daemon's own
	// watch must find it.
	waitFor(t, "the daemon marks docebo reconnect-needed", func() bool {
		c, err := h.d.store.GetConnection(ctx, "docebo")
		return err == nil && c.State == store.StateReconnectNeeded
	})
	c, _ := h.d.store.GetConnection(ctx, "docebo")
	if c.Reason != vault.ReasonLostKey {
		t.Fatalf("reason %q", c.Reason)
	}
	if _, _, err := h.d.vault.LoadToken(ctx, "docebo"); !errors.Is(err, vault.ErrNoToken) {
		t.Fatalf("the token sealed under the lost salt is still there: %v", err)
	}
	if _, err := h.kc.Get(vault.DefaultService, account); err != nil {
		t.Fatalf("no new salt in the keychain: %v", err)
	}
	st, err := h.d.StatusDoc(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.KeyID == oldKey || st.KeyID == "" || !strings.Contains(st.VaultNotice, "docebo") || !strings.Contains(st.VaultNotice, "latchkey connect") {
		t.Fatalf("status after the salt was lost: key %q (was %q), notice %q", st.KeyID, oldKey, st.VaultNotice)
	}
	// The daemon goes on under the new salt: a new connect works.
	h.connect()
	if got := h.state("docebo"); got != "connected" {
		t.Fatalf("docebo after reconnecting: %s", got)
	}
	if code := h.api("GET", "/v1/proxy/docebo/manage/v1/user/session", nil); code != 200 {
		t.Fatalf("proxy after reconnecting: %d", code)
	}
}

// A scoped caller of /v1/status is not told which integrations a lost salt
// or a refused rollback concerned (they may be outside its scope).
func TestStatusNoticesForScopedCaller(t *testing.T) {
	t.Parallel()
	st := &apitype.Status{VaultNotice: "the vault salt was deleted …: the tokens of docebo, document360 …", Integrations: []apitype.IntegrationStatus{}}
	st.Sync.Refused = "the remote store served an older record of document360 …"
	out := statusForCaller(st, auth.Claims{Scope: []string{"docebo"}})
	if out.Sync.Refused != "" || strings.Contains(out.VaultNotice, "document360") || out.VaultNotice == "" {
		t.Fatalf("scoped status: refused %q, notice %q", out.Sync.Refused, out.VaultNotice)
	}
	if full := statusForCaller(st, auth.Claims{Scope: []string{"*"}}); full.VaultNotice != st.VaultNotice || full.Sync.Refused != st.Sync.Refused {
		t.Fatal("a full-scope caller lost the notices")
	}
}
