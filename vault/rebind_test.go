package vault

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/latchkey/latchkey/vault/envelope"
	"github.com/latchkey/latchkey/vault/store"
)

// Rebind moves records and sealed meta to the identity's subject and back;
// a record moved behind the vault's back does not open as another user; an
// interrupted Rebind is finished by Open.
func TestRebind(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	kc := testKeychain(t)
	path := filepath.Join(t.TempDir(), "latchkey.db")
	st := openStore(t, path)
	v, _ := mustOpen(t, Options{Keychain: kc, Store: st, User: "alice"})
	tok := realisticToken()
	if err := v.SaveToken(ctx, "docebo", tok, nil, true); err != nil {
		t.Fatal(err)
	}
	if err := v.SetSealedMeta(ctx, "signing-key", []byte("seed bytes")); err != nil {
		t.Fatal(err)
	}
	const sub = "idp|alice-42"
	if err := v.Rebind(ctx, sub, true); err != nil {
		t.Fatal(err)
	}
	if v.BindingUser() != sub || v.User() != "alice" {
		t.Fatalf("binding %q, user %q", v.BindingUser(), v.User())
	}
	got, _, err := v.LoadToken(ctx, "docebo")
	if err != nil || got.AccessToken != tok.AccessToken || got.RefreshToken != tok.RefreshToken {
		t.Fatalf("token after rebind: %v", err)
	}
	if _, err := st.GetRecord(ctx, store.Key{User: "alice", Device: v.Device(), Integration: "docebo"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the record is still under the OS user: %v", err)
	}
	rec, err := st.GetRecord(ctx, store.Key{User: sub, Device: v.Device(), Integration: "docebo"})
	if err != nil {
		t.Fatal(err)
	}
	// Bound to the subject: the same envelope under another user's key does
	// not open.
	if _, err := v.OpenRecord(store.Record{Key: store.Key{User: "mallory", Device: v.Device(), Integration: "docebo"}, KeyID: rec.KeyID, Envelope: rec.Envelope}); !errors.Is(err, envelope.ErrAuth) {
		t.Fatalf("a record moved to another user opened: %v", err)
	}
	if b, err := v.GetSealedMeta(ctx, "signing-key"); err != nil || string(b) != "seed bytes" {
		t.Fatalf("sealed meta after rebind: %q %v", b, err)
	}
	// The pending push is of the re-bound record only.
	items, err := st.Pending(ctx, rec.UpdatedAt.AddDate(1, 0, 0), 10)
	if err != nil || len(items) != 1 || items[0].Record.User != sub {
		t.Fatalf("outbox after rebind: %+v %v", items, err)
	}

	// Back to the OS user (sign-out), then a crash mid-way: the target is
	// recorded, nothing moved yet. Open finishes the move.
	if err := v.Rebind(ctx, "", false); err != nil {
		t.Fatal(err)
	}
	if v.BindingUser() != "alice" {
		t.Fatalf("binding after sign-out %q", v.BindingUser())
	}
	if err := st.SetMeta(ctx, metaBindNext, sub); err != nil {
		t.Fatal(err)
	}
	v2, _ := mustOpen(t, Options{Keychain: kc, Store: st, User: "alice"})
	if v2.BindingUser() != sub {
		t.Fatalf("interrupted rebind not finished: binding %q", v2.BindingUser())
	}
	if got, _, err := v2.LoadToken(ctx, "docebo"); err != nil || got.AccessToken != tok.AccessToken {
		t.Fatalf("token after resumed rebind: %v", err)
	}
	if _, err := st.GetMeta(ctx, metaBindNext); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("rebind marker left: %v", err)
	}
	// Rotation after a rebind re-seals under the subject binding.
	if err := v2.RotateKey(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _, err := v2.LoadToken(ctx, "docebo"); err != nil || got.AccessToken != tok.AccessToken {
		t.Fatalf("token after rotation: %v", err)
	}
	if b, err := v2.GetSealedMeta(ctx, "signing-key"); err != nil || string(b) != "seed bytes" {
		t.Fatalf("sealed meta after rotation: %q %v", b, err)
	}
}
