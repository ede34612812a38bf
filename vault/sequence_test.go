package vault

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/vault/envelope"
	"github.com/latchkey/latchkey/vault/keychain"
	"github.com/latchkey/latchkey/vault/store"
)

// Every seal carries a sequence inside the ciphertext; OpenNewer refuses a
// record that is older than the local one, or another record of the same
// sequence, and a reopened vault keeps sealing above what it holds.
func TestOpenNewerRefusesOlder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	kc := testKeychain(t)
	path := filepath.Join(t.TempDir(), "latchkey.db")
	st := openStore(t, path)
	v, _ := mustOpen(t, Options{Keychain: kc, Store: st, User: "alice"})
	if err := v.SaveToken(ctx, "docebo", &oauth2.Token{AccessToken: "at-1", RefreshToken: "rt-1"}, nil, false); err != nil {
		t.Fatal(err)
	}
	old, err := st.GetRecord(ctx, v.storeKey("docebo"))
	if err != nil {
		t.Fatal(err)
	}
	if err := v.SaveToken(ctx, "docebo", &oauth2.Token{AccessToken: "at-2", RefreshToken: "rt-2"}, nil, false); err != nil {
		t.Fatal(err)
	}
	cur, err := st.GetRecord(ctx, v.storeKey("docebo"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.OpenNewer(ctx, old); !errors.Is(err, ErrNotNewer) {
		t.Fatalf("an older record was accepted: %v", err)
	}
	// The record it holds itself is not "older".
	if tok, err := v.OpenNewer(ctx, cur); err != nil || tok.AccessToken != "at-2" {
		t.Fatalf("the local record itself: %v", err)
	}
	// A record with no sequence (sealed before sequences) is older than one
	// with a sequence, and still opens.
	pt, err := encodeToken(token{AccessToken: "at-legacy"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := envelope.Seal(v.cur.aes, v.cur.id, v.binding("docebo"), pt)
	if err != nil {
		t.Fatal(err)
	}
	legacy := store.Record{Key: v.storeKey("docebo"), KeyID: v.cur.id, Envelope: s}
	if tok, err := v.OpenRecord(legacy); err != nil || tok.AccessToken != "at-legacy" {
		t.Fatalf("a record without a sequence does not open: %v", err)
	}
	if _, err := v.OpenNewer(ctx, legacy); !errors.Is(err, ErrNotNewer) {
		t.Fatalf("a record without a sequence replaced one with: %v", err)
	}
	// Another vault of this device (a restart) seals above the record it holds.
	st.Close()
	st2 := openStore(t, path)
	v2, _ := mustOpen(t, Options{Keychain: kc, Store: st2, User: "alice"})
	if v2.seq.Load() < v.seq.Load() {
		t.Fatalf("a reopened vault starts its sequence at %d, below the %d it holds", v2.seq.Load(), v.seq.Load())
	}
	newer, err := v2.Seal("docebo", &oauth2.Token{AccessToken: "at-3"})
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := v2.OpenNewer(ctx, newer); err != nil || tok.AccessToken != "at-3" {
		t.Fatalf("a newer record was refused: %v", err)
	}
}

// CheckSalt: a salt deleted from the keychain is handled as lost (new salt,
// records purged); a keychain that does not answer purges nothing.
func TestCheckSalt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	kcPath := filepath.Join(dir, "keychain.json")
	kc, err := keychain.FileWithKDF(kcPath, []byte("test passphrase"), keychain.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	st := openStore(t, filepath.Join(dir, "latchkey.db"))
	v, _ := mustOpen(t, Options{Keychain: kc, Store: st, User: "alice"})
	if err := v.SaveToken(ctx, "docebo", &oauth2.Token{AccessToken: "at", RefreshToken: "rt"}, &store.Connection{State: store.StateConnected}, false); err != nil {
		t.Fatal(err)
	}
	if rep, err := v.CheckSalt(ctx); err != nil || rep.CreatedSalt || len(rep.Purged) != 0 {
		t.Fatalf("salt in place: %+v %v", rep, err)
	}
	// No keychain answers: an error, and nothing purged.
	if err := os.Rename(kcPath, kcPath+".away"); err != nil {
		t.Fatal(err)
	}
	if _, err := v.CheckSalt(ctx); !errors.Is(err, keychain.ErrUnavailable) {
		t.Fatalf("CheckSalt without a keychain: %v", err)
	}
	if _, _, err := v.LoadToken(ctx, "docebo"); err != nil {
		t.Fatalf("a keychain that did not answer purged the token: %v", err)
	}
	if err := os.Rename(kcPath+".away", kcPath); err != nil {
		t.Fatal(err)
	}
	old := v.KeyID()
	if err := kc.Delete(DefaultService, "alice"); err != nil {
		t.Fatal(err)
	}
	rep, err := v.CheckSalt(ctx)
	if err != nil || !rep.CreatedSalt || len(rep.Purged) != 1 || rep.Purged[0] != "docebo" {
		t.Fatalf("salt deleted: %+v %v", rep, err)
	}
	if v.KeyID() == old {
		t.Fatal("still sealing under the lost key")
	}
	if _, _, err := v.LoadToken(ctx, "docebo"); !errors.Is(err, ErrNoToken) {
		t.Fatalf("the record under the lost key: %v", err)
	}
	if err := v.SaveToken(ctx, "docebo", &oauth2.Token{AccessToken: "at2"}, nil, false); err != nil {
		t.Fatal(err)
	}
	if tok, _, err := v.LoadToken(ctx, "docebo"); err != nil || tok.AccessToken != "at2" {
		t.Fatalf("a token saved under the new salt: %v", err)
	}
}
