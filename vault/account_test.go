package vault

import (
	"context"
	"path/filepath"
	"testing"

	"golang.org/x/oauth2"
)

// TestAccountAdoption: a store whose items the keychain holds under another
// account (a setup moved into or out of the default state directory, or one
// that predates per-setup accounts) adopts them: the same key, its tokens
// open, its secrets are there, and the old items stay. A new store adopts
// nothing from the legacy account.
func TestAccountAdoption(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	kc := testKeychain(t)
	st := openStore(t, filepath.Join(t.TempDir(), "latchkey.db"))
	v, _ := mustOpen(t, Options{Keychain: kc, Store: st, User: "alice", Account: "alice"})
	if err := v.SetSecret("docebo.client_secret", "s1"); err != nil {
		t.Fatal(err)
	}
	if err := v.SaveToken(ctx, "docebo", &oauth2.Token{AccessToken: "a1"}, nil, false); err != nil {
		t.Fatal(err)
	}
	key := v.KeyID()

	moved, rep := mustOpen(t, Options{Keychain: kc, Store: st, User: "alice", Account: "alice@x", Secrets: []string{"docebo.client_secret"}})
	if moved.KeyID() != key || rep.CreatedSalt || len(rep.Purged) != 0 || moved.KeychainAccount() != "alice@x" {
		t.Fatalf("moved setup: key %s (want %s), report %+v", moved.KeyID(), key, rep)
	}
	if tok, _, err := moved.LoadToken(ctx, "docebo"); err != nil || tok.AccessToken != "a1" {
		t.Fatalf("token after the move: %v", err)
	}
	if s, err := moved.GetSecret("docebo.client_secret"); err != nil || s != "s1" {
		t.Fatalf("secret after the move: %q %v", s, err)
	}
	if s, err := kc.Get(DefaultService, "alice:docebo.client_secret"); err != nil || s != "s1" {
		t.Fatalf("the old item is gone: %q %v", s, err)
	}
	// Recorded: a secret deleted under the new account is not adopted again.
	if err := moved.DeleteSecret("docebo.client_secret"); err != nil {
		t.Fatal(err)
	}
	again, _ := mustOpen(t, Options{Keychain: kc, Store: st, User: "alice", Account: "alice@x", LegacyAccount: "alice", Secrets: []string{"docebo.client_secret"}})
	if _, err := again.GetSecret("docebo.client_secret"); err == nil {
		t.Fatal("a deleted secret came back from the old account")
	}

	// A new store, even told the legacy account, has recorded nothing and
	// holds nothing: here LegacyAccount is what the daemon passes only for
	// a database that existed; a fresh one gets none and its own salt.
	fresh, rep := mustOpen(t, Options{Keychain: kc, Store: openStore(t, filepath.Join(t.TempDir(), "latchkey.db")), User: "alice", Account: "alice@y"})
	if fresh.KeyID() == key || !rep.CreatedSalt {
		t.Fatalf("a new setup shares the salt of another: key %s", fresh.KeyID())
	}
}
