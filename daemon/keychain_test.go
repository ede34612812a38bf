package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/internal/testenv"
	"github.com/latchkey/latchkey/vault"
	"github.com/latchkey/latchkey/vault/keychain"
	"github.com/latchkey/latchkey/vault/store/sqlitestore"
)

// TestKeychainItemsPerSetup: with the real Secret Service, setups of one OS
// user with different XDG directories keep their own salts and client
// secrets; a setup made before per-setup accounts keeps its salt (its tokens
// still open) and its client secret; the default setup keeps the account
// named in DESIGN.md, the OS user name.
func TestKeychainItemsPerSetup(t *testing.T) {
	testenv.Require(t, testenv.Keyring)
	ctx := context.Background()
	kc := keychain.System()
	b := make([]byte, 6)
	rand.Read(b)
	user := "lktest-" + hex.EncodeToString(b)
	accounts := []string{user, user + "-default"}
	t.Cleanup(func() {
		for _, a := range accounts {
			for _, s := range []string{"", ".next", ":" + secretName("docebo"), ":" + identitySecret} {
				kc.Delete(vault.DefaultService, a+s)
			}
		}
	})
	newPaths := func() Paths {
		dir, err := os.MkdirTemp("", "lkkc")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		return Paths{
			StateDir: filepath.Join(dir, "state", "latchkey"), ConfigDir: filepath.Join(dir, "config", "latchkey"),
			DataDir: filepath.Join(dir, "data", "latchkey"), RuntimeDir: filepath.Join(dir, "run", "latchkey"),
		}
	}
	open := func(p Paths, user string) *Daemon {
		t.Helper()
		err := SaveFileConfig(p.ConfigFile(), func(c *Config) error {
			c.Integrations = map[string]IntegrationConfig{"docebo": {URL: "http://127.0.0.1:1", ClientID: "client"}}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := LoadConfig(p.ConfigFile(), func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		d, err := Open(ctx, Options{Paths: p, Config: cfg, Registry: testRegistry(), Keychain: kc, User: user})
		if err != nil {
			t.Fatal(err)
		}
		if a, ok := any(d.vault).(interface{ KeychainAccount() string }); ok {
			accounts = append(accounts, a.KeychainAccount())
		}
		return d
	}
	secret := func(d *Daemon) string {
		t.Helper()
		s, err := d.vault.GetSecret(secretName("docebo"))
		if err != nil {
			t.Fatalf("client secret: %v", err)
		}
		return s
	}

	// A setup made by latchkey before per-setup accounts: its salt and
	// client secret under the OS user's account, a token sealed under it,
	// and no account recorded in its database.
	legacy := newPaths()
	if err := ensureDir(legacy.StateDir, "XDG_STATE_HOME"); err != nil {
		t.Fatal(err)
	}
	st, err := sqlitestore.Open(legacy.DBPath())
	if err != nil {
		t.Fatal(err)
	}
	v, _, err := vault.Open(ctx, vault.Options{Keychain: kc, Store: st, User: user})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.SetSecret(secretName("docebo"), "secret-legacy"); err != nil {
		t.Fatal(err)
	}
	if err := v.SaveToken(ctx, "docebo", &oauth2.Token{AccessToken: "legacy-access", RefreshToken: "legacy-refresh"}, nil, false); err != nil {
		t.Fatal(err)
	}
	legacyKey := v.KeyID()
	if err := st.DeleteMeta(ctx, "vault.keychain_account"); err != nil {
		t.Fatal(err)
	}
	st.Close()

	// Two new isolated setups: each its own salt and client secret, and
	// neither adopts the legacy items.
	pa, pb := newPaths(), newPaths()
	da := open(pa, user)
	if err := da.SetClientSecret("docebo", "secret-a"); err != nil {
		t.Fatal(err)
	}
	keyA := da.vault.KeyID()
	da.Close()
	db := open(pb, user)
	if err := db.SetClientSecret("docebo", "secret-b"); err != nil {
		t.Fatal(err)
	}
	keyB := db.vault.KeyID()
	db.Close()
	if keyA == keyB || keyA == legacyKey || keyB == legacyKey {
		t.Fatalf("isolated setups share a salt: keys %s, %s, legacy %s", keyA, keyB, legacyKey)
	}
	da, db = open(pa, user), open(pb, user)
	if da.vault.KeyID() != keyA || db.vault.KeyID() != keyB || secret(da) != "secret-a" || secret(db) != "secret-b" {
		t.Fatalf("after reopening: keys %s/%s (want %s/%s), secrets %q/%q", da.vault.KeyID(), db.vault.KeyID(), keyA, keyB, secret(da), secret(db))
	}
	da.Close()
	db.Close()
	if s, _ := kc.Get(vault.DefaultService, user+":"+secretName("docebo")); s != "secret-legacy" {
		t.Fatalf("the OS user's client secret item was overwritten: %q", s)
	}

	// The legacy setup, opened by this latchkey: same key, its token opens,
	// its client secret is there; its own later changes leave the old items
	// alone.
	dl := open(legacy, user)
	if dl.vault.KeyID() != legacyKey || len(dl.Report().Purged) != 0 {
		t.Fatalf("legacy setup: key %s (was %s), purged %v", dl.vault.KeyID(), legacyKey, dl.Report().Purged)
	}
	if tok, _, err := dl.vault.LoadToken(ctx, "docebo"); err != nil || tok.AccessToken != "legacy-access" {
		t.Fatalf("legacy token: %v", err)
	}
	if s := secret(dl); s != "secret-legacy" {
		t.Fatalf("legacy client secret: %q", s)
	}
	if err := dl.SetClientSecret("docebo", "secret-legacy-2"); err != nil {
		t.Fatal(err)
	}
	dl.Close()
	dl = open(legacy, user)
	if dl.vault.KeyID() != legacyKey || secret(dl) != "secret-legacy-2" {
		t.Fatalf("legacy setup reopened: key %s, secret %q", dl.vault.KeyID(), secret(dl))
	}
	dl.Close()
	if s, _ := kc.Get(vault.DefaultService, user+":"+secretName("docebo")); s != "secret-legacy" {
		t.Fatalf("the adopted setup wrote to the OS user's items: %q", s)
	}

	// The default setup (~/.local/state/latchkey) keeps account = user name.
	home := t.TempDir()
	t.Setenv("HOME", home)
	def := newPaths()
	def.StateDir = filepath.Join(home, ".local", "state", "latchkey")
	dd := open(def, user+"-default")
	dd.Close()
	if _, err := kc.Get(vault.DefaultService, user+"-default"); err != nil {
		t.Fatalf("default setup: no salt under account %s: %v", user+"-default", err)
	}
}
