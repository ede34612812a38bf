package vault

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/vault/envelope"
	"github.com/latchkey/latchkey/vault/keychain"
	"github.com/latchkey/latchkey/vault/store"
	"github.com/latchkey/latchkey/vault/store/memstore"
	"github.com/latchkey/latchkey/vault/store/sqlitestore"
)

// testKeychain is a file keychain with cheap KDF parameters: a real
// keychain backend that needs no Secret Service.
func testKeychain(t testing.TB) keychain.Keychain {
	t.Helper()
	kc, err := keychain.FileWithKDF(filepath.Join(t.TempDir(), "keychain.json"), []byte("test passphrase"), keychain.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	return kc
}

func mustGet(t testing.TB, kc keychain.Keychain, account string) string {
	t.Helper()
	v, err := kc.Get(DefaultService, account)
	if err != nil {
		t.Fatalf("keychain %s: %v", account, err)
	}
	return v
}

func openStore(t testing.TB, path string) *sqlitestore.Store {
	t.Helper()
	s, err := sqlitestore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustOpen(t testing.TB, o Options) (*Vault, *Report) {
	t.Helper()
	v, rep, err := Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return v, rep
}

// realisticToken is a token of the size Docebo returns (~200 bytes of
// secrets), with the extras providers add.
func realisticToken() *oauth2.Token {
	return (&oauth2.Token{
		AccessToken:  "9f2c1b7e4a0d8c3f6e5b2a1d0c9e8f7a6b5c4d3e",
		TokenType:    "Bearer",
		RefreshToken: "4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d",
		Expiry:       time.Date(2026, 11, 25, 18, 0, 0, 123456789, time.UTC),
		ExpiresIn:    3600,
	}).WithExtra(map[string]any{
		"scope":    "api",
		"id_token": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln",
	})
}

func TestTokenRoundTrip(t *testing.T) {
	t.Parallel()
	base := token{
		AccessToken:  "at",
		TokenType:    "Bearer",
		RefreshToken: "rt",
		Expiry:       time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC),
		ExpiresIn:    3599,
	}
	with := func(e tokenExtras) token { t := base; t.extras = e; return t }
	// Every extras shape a record may hold (earlier builds sealed the
	// provider's whole response) reads back exactly, so re-sealing an
	// opened record changes nothing.
	cases := map[string]token{
		"no extras": base,
		"json extras": with(tokenExtras{kind: extrasMap, m: map[string]any{
			"id_token": "eyJ.x.y",
			"scope":    "api openid",
			"n":        float64(42),
			"ok":       true,
			"nothing":  nil,
			"list":     []any{"a", float64(1), map[string]any{"deep": "yes"}},
			"obj":      map[string]any{"k": []any{}},
		}}),
		"form extras": with(tokenExtras{kind: extrasForm, form: url.Values{"scope": {"api"}, "id_token": {"eyJ.x.y"}, "multi": {"1", "2"}}}),
		"empty":       {},
		"empty map":   with(tokenExtras{kind: extrasMap, m: map[string]any{}}),
		"nil map":     with(tokenExtras{kind: extrasNilMap}),
		"nil form":    with(tokenExtras{kind: extrasNilForm}),
		"empty form":  with(tokenExtras{kind: extrasForm, form: url.Values{}}),
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			b, err := encodeToken(tok)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeToken(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tok) {
				t.Fatalf("round trip:\n got %#v\nwant %#v", got, tok)
			}
			if o, w := got.oauth2(), tok.oauth2(); !reflect.DeepEqual(o, w) || o.Extra("id_token") != w.Extra("id_token") || o.Extra("scope") != w.Extra("scope") {
				t.Fatalf("as an oauth2.Token:\n got %#v\nwant %#v", o, w)
			}
		})
	}

	// From an oauth2.Token, the extras latchkey reads (keptExtras) are
	// sealed, from a JSON or a form response alike, and no others.
	ob := oauth2.Token{AccessToken: "at", TokenType: "Bearer", RefreshToken: "rt", Expiry: base.Expiry, ExpiresIn: 3599}
	for name, in := range map[string]*oauth2.Token{
		"json": ob.WithExtra(map[string]any{"id_token": "eyJ.x.y", "scope": "api openid", "other": "dropped"}),
		"form": ob.WithExtra(url.Values{"id_token": {"eyJ.x.y"}, "scope": {"api openid"}, "other": {"dropped"}}),
	} {
		b, err := encodeToken(tokenOf(in))
		if err != nil {
			t.Fatal(err)
		}
		got, err := oauth2Token(decodeToken(b))
		if err != nil {
			t.Fatal(err)
		}
		want := ob.WithExtra(map[string]any{"id_token": "eyJ.x.y", "scope": "api openid"})
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: sealed from an oauth2.Token:\n got %#v\nwant %#v", name, got, want)
		}
		if bytes.Contains(b, []byte("dropped")) {
			t.Errorf("%s: an extra latchkey does not read was sealed", name)
		}
	}
	if got := tokenOf(&ob).oauth2(); !reflect.DeepEqual(got, &ob) {
		t.Errorf("a token without extras:\n got %#v\nwant %#v", got, &ob)
	}

	// A local expiry comes back as the same instant, in UTC.
	loc := time.FixedZone("CET", 3600)
	tok := token{AccessToken: "a", Expiry: time.Date(2030, 1, 1, 12, 0, 0, 0, loc)}
	b, _ := encodeToken(tok)
	got, _ := decodeToken(b)
	if !got.Expiry.Equal(tok.Expiry) {
		t.Fatalf("expiry %v, want %v", got.Expiry, tok.Expiry)
	}

	if _, err := encodeToken(token{extras: tokenExtras{kind: extrasMap, m: map[string]any{"c": make(chan int)}}}); err == nil {
		t.Fatal("unsupported extras sealed silently")
	}
}

// The plaintext buffer an open reuses is wiped before it is reused: no
// token stays in it between requests.
func TestOpenWipesItsPlaintextBuffer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	v, _ := mustOpen(t, Options{Keychain: testKeychain(t), Store: memstore.New(), User: "alice"})
	if err := v.SaveToken(ctx, "docebo", realisticToken(), nil, false); err != nil {
		t.Fatal(err)
	}
	// sync.Pool may drop what is put back (it does at random under -race):
	// try until a buffer comes back.
	for range 100 {
		if _, err := v.LoadAccessToken(ctx, "docebo"); err != nil {
			t.Fatal(err)
		}
		bp, _ := v.plain.Get().(*[]byte)
		if bp == nil || cap(*bp) == 0 {
			continue
		}
		if b := (*bp)[:cap(*bp)]; !bytes.Equal(b, make([]byte, len(b))) {
			t.Fatalf("the reused plaintext buffer holds % x", b)
		}
		return
	}
	t.Fatal("no plaintext buffer came back to the pool")
}

func TestSaveLoadDelete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	kc := testKeychain(t)
	st := memstore.New()
	v, rep := mustOpen(t, Options{Keychain: kc, Store: st, User: "alice"})
	if !rep.CreatedSalt || len(rep.Purged) != 0 || rep.ResumedRotation {
		t.Fatalf("first open report: %+v", rep)
	}
	if len(v.Device()) != 32 || v.User() != "alice" || len(v.KeyID()) != envelope.KeyIDLen {
		t.Fatalf("device %q user %q key id %q", v.Device(), v.User(), v.KeyID())
	}
	salt, err := kc.Get("latchkey", "alice")
	if err != nil {
		t.Fatalf("salt not in the keychain: %v", err)
	}
	if b, err := base64.StdEncoding.DecodeString(salt); err != nil || len(b) != SaltLen {
		t.Fatalf("salt is %d bytes, %v", len(b), err)
	}
	if strings.Contains(v.KeyID(), salt) {
		t.Fatal("key id leaks the salt")
	}

	if _, _, err := v.LoadToken(ctx, "docebo"); !errors.Is(err, ErrNoToken) {
		t.Fatalf("load missing: %v", err)
	}
	tok := realisticToken()
	conn := &store.Connection{State: store.StateConnected, Username: "alice", Expiry: tok.Expiry}
	if err := v.SaveToken(ctx, "docebo", tok, conn, true); err != nil {
		t.Fatal(err)
	}
	got, ver, err := v.LoadToken(ctx, "docebo")
	if err != nil || ver != 1 || !reflect.DeepEqual(got, tok) {
		t.Fatalf("load: %v %d %#v", err, ver, got)
	}
	// The per-call read opens the access token alone.
	call, err := v.LoadAccessToken(ctx, "docebo")
	wantCall := &oauth2.Token{AccessToken: tok.AccessToken, TokenType: tok.TokenType, Expiry: tok.Expiry, ExpiresIn: tok.ExpiresIn}
	if err != nil || !reflect.DeepEqual(call, wantCall) {
		t.Fatalf("per-call load: %v %#v", err, call)
	}
	c, err := st.GetConnection(ctx, "docebo")
	if err != nil || c.State != store.StateConnected || c.Integration != "docebo" {
		t.Fatalf("connection: %+v %v", c, err)
	}
	if n, _ := st.Count(ctx); n != 1 {
		t.Fatalf("outbox %d, want 1", n)
	}
	// The stored record is ciphertext only.
	rec, _ := st.GetRecord(ctx, v.storeKey("docebo"))
	if strings.Contains(rec.Envelope, tok.AccessToken) || strings.Contains(rec.Envelope, tok.RefreshToken) || rec.KeyID != v.KeyID() {
		t.Fatalf("record: %+v", rec)
	}

	// Reopening finds the same salt and key.
	v2, rep2 := mustOpen(t, Options{Keychain: kc, Store: st, User: "alice"})
	if rep2.CreatedSalt || v2.KeyID() != v.KeyID() || v2.Device() != v.Device() {
		t.Fatalf("reopen: %+v %s %s", rep2, v2.KeyID(), v2.Device())
	}

	if err := v.DeleteToken(ctx, "docebo", false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := v.LoadToken(ctx, "docebo"); !errors.Is(err, ErrNoToken) {
		t.Fatalf("load deleted: %v", err)
	}
	if _, err := v.LoadAccessToken(ctx, "docebo"); !errors.Is(err, ErrNoToken) {
		t.Fatalf("per-call load of a deleted token: %v", err)
	}
	if c, _ := st.GetConnection(ctx, "docebo"); c.State != store.StateConnected || c.Username != "alice" {
		t.Fatalf("connection metadata changed by DeleteToken: %+v", c)
	}
	// The pending push of the deleted token is dropped: it would bring the
	// token back remotely.
	if n, _ := st.Count(ctx); n != 0 {
		t.Fatalf("outbox %d after a local delete, want 0", n)
	}
	if err := v.DeleteToken(ctx, "docebo", false); err != nil {
		t.Fatalf("delete twice: %v", err)
	}
}

// A record opens only for the user, device and integration it was sealed
// for.
func TestBinding(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	kc := testKeychain(t)
	st := memstore.New()
	alice, _ := mustOpen(t, Options{Keychain: kc, Store: st, User: "alice", Device: "d1"})
	bob, _ := mustOpen(t, Options{Keychain: kc, Store: st, User: "bob", Device: "d1"})
	aliceD2, _ := mustOpen(t, Options{Keychain: kc, Store: st, User: "alice", Device: "d2"})
	if alice.KeyID() == bob.KeyID() || alice.KeyID() != aliceD2.KeyID() {
		t.Fatalf("key ids: alice %s bob %s alice@d2 %s", alice.KeyID(), bob.KeyID(), aliceD2.KeyID())
	}
	rec, err := alice.Seal("docebo", realisticToken())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.OpenRecord(rec); err != nil {
		t.Fatalf("own record: %v", err)
	}
	// (alice, docebo) as (bob, docebo): another user's key.
	if _, err := bob.OpenRecord(rec); !errors.Is(err, envelope.ErrKeyMismatch) {
		t.Fatalf("as bob: %v", err)
	}
	// (alice, docebo) as (alice, document360).
	moved := rec
	moved.Integration = "document360"
	if _, err := alice.OpenRecord(moved); !errors.Is(err, envelope.ErrAuth) {
		t.Fatalf("as document360: %v", err)
	}
	// Same user and key, another device.
	if _, err := aliceD2.OpenRecord(rec); !errors.Is(err, envelope.ErrAuth) {
		t.Fatalf("on another device: %v", err)
	}
	// And through the store: the record copied under document360's key.
	if _, err := st.PutRecord(ctx, moved, store.AnyVersion); err != nil {
		t.Fatal(err)
	}
	if _, _, err := alice.LoadToken(ctx, "document360"); !errors.Is(err, envelope.ErrAuth) {
		t.Fatalf("load copied record: %v", err)
	}
}

// A record sealed under another salt is a key mismatch, never tried.
func TestKeyMismatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := memstore.New()
	v, _ := mustOpen(t, Options{Keychain: testKeychain(t), Store: st, User: "alice", Device: "d1"})
	other, _ := mustOpen(t, Options{Keychain: testKeychain(t), Store: memstore.New(), User: "alice", Device: "d1"})
	rec, err := other.Seal("docebo", realisticToken())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.OpenRecord(rec); !errors.Is(err, envelope.ErrKeyMismatch) {
		t.Fatalf("open: %v", err)
	}
	if _, err := st.PutRecord(ctx, rec, store.AnyVersion); err != nil {
		t.Fatal(err)
	}
	_, _, err = v.LoadToken(ctx, "docebo")
	if !errors.Is(err, envelope.ErrKeyMismatch) {
		t.Fatalf("load: %v", err)
	}
	if strings.Contains(err.Error(), "9f2c1b7e") {
		t.Fatal("error echoes the token")
	}
}

// The salt is gone: the records under it are purged, their integrations
// marked reconnect-needed and reported, and a new salt is made.
func TestLostSalt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	kc := testKeychain(t)
	st := memstore.New()
	v, _ := mustOpen(t, Options{Keychain: kc, Store: st, User: "alice"})
	for _, in := range []string{"document360", "docebo"} {
		conn := &store.Connection{State: store.StateConnected, Username: "alice@" + in}
		if err := v.SaveToken(ctx, in, realisticToken(), conn, false); err != nil {
			t.Fatal(err)
		}
	}
	// Another user's record in the same file is not touched.
	bobKC := testKeychain(t)
	bob, _ := mustOpen(t, Options{Keychain: bobKC, Store: st, User: "bob"})
	if err := bob.SaveToken(ctx, "docebo", realisticToken(), nil, false); err != nil {
		t.Fatal(err)
	}
	oldID := v.KeyID()

	if err := kc.Delete("latchkey", "alice"); err != nil {
		t.Fatal(err)
	}
	v2, rep := mustOpen(t, Options{Keychain: kc, Store: st, User: "alice", Push: true})
	if !rep.CreatedSalt || !reflect.DeepEqual(rep.Purged, []string{"docebo", "document360"}) {
		t.Fatalf("report: %+v", rep)
	}
	if v2.KeyID() == oldID {
		t.Fatal("same key id after a new salt")
	}
	for _, in := range []string{"docebo", "document360"} {
		if _, _, err := v2.LoadToken(ctx, in); !errors.Is(err, ErrNoToken) {
			t.Fatalf("%s still loads: %v", in, err)
		}
		c, err := st.GetConnection(ctx, in)
		if err != nil || c.State != store.StateReconnectNeeded || c.Reason != ReasonLostKey || c.Username != "alice@"+in {
			t.Fatalf("%s connection: %+v %v", in, c, err)
		}
	}
	if n, _ := st.Count(ctx); n != 2 {
		t.Fatalf("purges queued for the remote store: %d, want 2", n)
	}
	if _, _, err := bob.LoadToken(ctx, "docebo"); err != nil {
		t.Fatalf("bob's record: %v", err)
	}
	// A second open has nothing left to purge.
	if _, rep := mustOpen(t, Options{Keychain: kc, Store: st, User: "alice"}); rep.CreatedSalt || len(rep.Purged) != 0 {
		t.Fatalf("second open: %+v", rep)
	}
}

func TestRotateKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	kc := testKeychain(t)
	st := memstore.New()
	v, _ := mustOpen(t, Options{Keychain: kc, Store: st, User: "alice", Push: true})
	toks := map[string]*oauth2.Token{}
	for _, in := range []string{"a", "b", "c", "d"} {
		toks[in] = realisticToken()
		toks[in].AccessToken += in
		if err := v.SaveToken(ctx, in, toks[in], nil, false); err != nil {
			t.Fatal(err)
		}
	}
	oldID, oldSalt := v.KeyID(), mustGet(t, kc, "alice")
	n := 0
	v.testHook = func(stage string, i int) {
		if stage == "resealed" && i > 0 {
			n++
		}
	}
	if err := v.RotateKey(ctx); err != nil {
		t.Fatal(err)
	}
	if n != 4 || v.KeyID() == oldID || mustGet(t, kc, "alice") == oldSalt {
		t.Fatalf("re-sealed %d, key id %s (was %s)", n, v.KeyID(), oldID)
	}
	if _, err := kc.Get("latchkey", "alice.next"); !errors.Is(err, keychain.ErrNotFound) {
		t.Fatalf(".next left behind: %v", err)
	}
	recs, _ := st.ListRecords(ctx, "alice")
	for _, r := range recs {
		if r.KeyID != v.KeyID() || r.Version != 2 {
			t.Fatalf("record %s: key %s version %d", r.Integration, r.KeyID, r.Version)
		}
	}
	if n, _ := st.Count(ctx); n != 4 {
		t.Fatalf("re-sealed records queued: %d", n)
	}
	// A fresh open with the new salt opens every record; no purge.
	v2, rep := mustOpen(t, Options{Keychain: kc, Store: st, User: "alice"})
	if rep.CreatedSalt || len(rep.Purged) != 0 || rep.ResumedRotation || v2.KeyID() != v.KeyID() {
		t.Fatalf("reopen after rotation: %+v", rep)
	}
	for in, want := range toks {
		got, _, err := v2.LoadToken(ctx, in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s after rotation: %v", in, err)
		}
	}
}

// Writes racing a rotation all end up under the new key.
func TestRotateKeyConcurrentWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	kc := testKeychain(t)
	st := memstore.New()
	v, _ := mustOpen(t, Options{Keychain: kc, Store: st, User: "alice"})
	for _, in := range []string{"a", "b", "c"} {
		if err := v.SaveToken(ctx, in, realisticToken(), nil, false); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error)
	go func() {
		for i := 0; i < 30; i++ {
			in := []string{"a", "b", "c", "e"}[i%4]
			if err := v.SaveToken(ctx, in, realisticToken(), nil, false); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	if err := v.RotateKey(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	v2, rep := mustOpen(t, Options{Keychain: kc, Store: st, User: "alice"})
	if len(rep.Purged) != 0 {
		t.Fatalf("purged after rotation: %v", rep.Purged)
	}
	for _, in := range []string{"a", "b", "c", "e"} {
		if _, _, err := v2.LoadToken(ctx, in); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
	}
}

// Another process rotated the key: LoadToken re-reads the keychain.
func TestLoadAfterRotationElsewhere(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	kc := testKeychain(t)
	st := memstore.New()
	a, _ := mustOpen(t, Options{Keychain: kc, Store: st, User: "alice"})
	b, _ := mustOpen(t, Options{Keychain: kc, Store: st, User: "alice"})
	if err := a.SaveToken(ctx, "docebo", realisticToken(), nil, false); err != nil {
		t.Fatal(err)
	}
	if err := a.RotateKey(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.LoadToken(ctx, "docebo"); err != nil {
		t.Fatalf("load after another handle rotated: %v", err)
	}
	if b.KeyID() != a.KeyID() {
		t.Fatal("the reloaded handle does not seal under the new key")
	}
}

func TestSecrets(t *testing.T) {
	t.Parallel()
	kc := testKeychain(t)
	st := memstore.New()
	v, _ := mustOpen(t, Options{Keychain: kc, Store: st, User: "alice"})
	if err := v.SetSecret("docebo.client_secret", "s3cret"); err != nil {
		t.Fatal(err)
	}
	if got, _ := kc.Get("latchkey", "alice:docebo.client_secret"); got != "s3cret" {
		t.Fatalf("keychain item: %q", got)
	}
	if got, err := v.GetSecret("docebo.client_secret"); got != "s3cret" || err != nil {
		t.Fatalf("get: %q %v", got, err)
	}
	if err := v.DeleteSecret("docebo.client_secret"); err != nil {
		t.Fatal(err)
	}
	if _, err := v.GetSecret("docebo.client_secret"); !errors.Is(err, keychain.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if err := v.SetSecret("", "x"); err == nil {
		t.Fatal("empty name accepted")
	}
}

func TestDeviceIDStable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "latchkey.db")
	st := openStore(t, path)
	id, err := DeviceID(ctx, st)
	if err != nil || len(id) != 32 {
		t.Fatalf("device id %q %v", id, err)
	}
	st2 := openStore(t, path)
	if id2, _ := DeviceID(ctx, st2); id2 != id {
		t.Fatalf("device id changed: %s → %s", id, id2)
	}
	other := memstore.New()
	if id3, _ := DeviceID(ctx, other); id3 == id {
		t.Fatal("two state dirs share a device id")
	}
}

func TestBadSalt(t *testing.T) {
	t.Parallel()
	kc := testKeychain(t)
	kc.Set("latchkey", "alice", "not-base64-salt!")
	st := memstore.New()
	_, _, err := Open(context.Background(), Options{Keychain: kc, Store: st, User: "alice"})
	if err == nil || !strings.Contains(err.Error(), "does not hold a latchkey salt") {
		t.Fatalf("got %v", err)
	}
	if v, _ := kc.Get("latchkey", "alice"); v != "not-base64-salt!" {
		t.Fatal("a foreign keychain item was overwritten")
	}
}

func TestKeyIDOfAndNotice(t *testing.T) {
	t.Parallel()
	kc := testKeychain(t)
	if _, err := KeyIDOf(kc, "", "alice"); !errors.Is(err, keychain.ErrNotFound) {
		t.Fatalf("no salt: %v", err)
	}
	st := memstore.New()
	v, rep := mustOpen(t, Options{Keychain: kc, Store: st, User: "alice"})
	if id, err := KeyIDOf(kc, "", "alice"); err != nil || id != v.KeyID() {
		t.Fatalf("KeyIDOf = %q %v, vault %q", id, err, v.KeyID())
	}
	if rep.Notice() != "" {
		t.Fatalf("notice on a first start: %q", rep.Notice())
	}
	rep = &Report{Purged: []string{"docebo", "document360"}}
	if n := rep.Notice(); !strings.Contains(n, "docebo, document360") || !strings.Contains(n, "reconnect") {
		t.Fatalf("notice %q", n)
	}
}

// Two processes opening a fresh vault at once agree on one salt.
func TestConcurrentFirstOpen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	kcPath := filepath.Join(dir, "keychain.json")
	ids := make(chan string, 4)
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		go func() {
			kc, err := keychain.FileWithKDF(kcPath, []byte("pw"), keychain.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1})
			if err != nil {
				errs <- err
				return
			}
			st, err := sqlitestore.Open(filepath.Join(dir, "latchkey.db"))
			if err != nil {
				errs <- err
				return
			}
			defer st.Close()
			v, _, err := Open(context.Background(), Options{Keychain: kc, Store: st, User: "alice"})
			if err != nil {
				errs <- err
				return
			}
			ids <- v.KeyID()
		}()
	}
	var first string
	for i := 0; i < 4; i++ {
		select {
		case err := <-errs:
			t.Fatal(err)
		case id := <-ids:
			if first == "" {
				first = id
			} else if id != first {
				t.Fatalf("two key ids: %s and %s", first, id)
			}
		}
	}
}

// Sealed meta entries (SetSealedMeta, and the daemon's own convention: a
// meta value sealed for integration = its name) survive a rotation; other
// meta values are left alone.
func TestRotateKeySealedMeta(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	kc := testKeychain(t)
	st := memstore.New()
	v, _ := mustOpen(t, Options{Keychain: kc, Store: st, User: "alice"})
	if err := v.SetSealedMeta(ctx, "jwt_signing_key", []byte("seed-bytes")); err != nil {
		t.Fatal(err)
	}
	wrapped, err := v.Seal("jwt_bearer_key:docebo", &oauth2.Token{AccessToken: "-----BEGIN PRIVATE KEY-----"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetMeta(ctx, "jwt_bearer_key:docebo", wrapped.Envelope); err != nil {
		t.Fatal(err)
	}
	// An envelope bound to another name is not this entry's to re-seal.
	foreign, _ := v.Seal("something-else", realisticToken())
	if err := st.SetMeta(ctx, "foreign", foreign.Envelope); err != nil {
		t.Fatal(err)
	}
	if err := st.SetMeta(ctx, "sync_status", "ok"); err != nil {
		t.Fatal(err)
	}
	if err := v.RotateKey(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := v.GetSealedMeta(ctx, "jwt_signing_key"); err != nil || string(got) != "seed-bytes" {
		t.Fatalf("sealed meta after rotation: %q %v", got, err)
	}
	env, _ := st.GetMeta(ctx, "jwt_bearer_key:docebo")
	tok, err := v.OpenRecord(store.Record{Key: v.storeKey("jwt_bearer_key:docebo"), Envelope: env})
	if err != nil || tok.AccessToken != "-----BEGIN PRIVATE KEY-----" || !strings.HasPrefix(env, "lk1."+v.KeyID()) {
		t.Fatalf("daemon-style sealed meta after rotation: %v", err)
	}
	if got, _ := st.GetMeta(ctx, "foreign"); got != foreign.Envelope {
		t.Fatal("a foreign envelope was rewritten")
	}
	if got, _ := st.GetMeta(ctx, "sync_status"); got != "ok" {
		t.Fatal("a plain meta value was rewritten")
	}
	if _, err := v.GetSealedMeta(ctx, "sync_status"); !errors.Is(err, envelope.ErrMalformed) {
		t.Fatalf("plain value opened as sealed: %v", err)
	}
	if _, err := v.GetSealedMeta(ctx, "absent"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("absent: %v", err)
	}
}

// A process that read the keychain before another one started a rotation
// sees records under the new key: it must read the keychain again rather
// than purge them.
func TestNoPurgeOfRecordsMidRotationElsewhere(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	kc := testKeychain(t)
	st := memstore.New()
	a, _ := mustOpen(t, Options{Keychain: kc, Store: st, User: "alice"})
	b, _ := mustOpen(t, Options{Keychain: kc, Store: st, User: "alice"})
	for _, in := range []string{"x", "y", "z"} {
		if err := a.SaveToken(ctx, in, realisticToken(), nil, false); err != nil {
			t.Fatal(err)
		}
	}
	paused, resume := make(chan struct{}), make(chan struct{})
	a.testHook = func(stage string, n int) {
		if stage == "resealed" && n == 2 {
			close(paused)
			<-resume
		}
	}
	done := make(chan error, 1)
	go func() { done <- a.RotateKey(ctx) }()
	<-paused
	recs, err := b.ownRecords(ctx)
	if err != nil {
		t.Fatal(err)
	}
	purged, err := b.purgeUnknown(ctx, recs)
	close(resume)
	if err != nil {
		t.Fatal(err)
	}
	if len(purged) != 0 {
		t.Fatalf("purged %v, sealed under a rotation in progress", purged)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{"x", "y", "z"} {
		if _, _, err := b.LoadToken(ctx, in); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
	}
}

func TestMarkReconnect(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := memstore.New()
	v, _ := mustOpen(t, Options{Keychain: testKeychain(t), Store: st, User: "alice"})
	conn := &store.Connection{State: store.StateConnected, Username: "alice", Expiry: time.Now().Add(time.Hour)}
	if err := v.SaveToken(ctx, "docebo", realisticToken(), conn, false); err != nil {
		t.Fatal(err)
	}
	if err := v.MarkReconnect(ctx, "docebo", "refresh token rejected", true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := v.LoadToken(ctx, "docebo"); !errors.Is(err, ErrNoToken) {
		t.Fatalf("token kept: %v", err)
	}
	c, err := st.GetConnection(ctx, "docebo")
	if err != nil || c.State != store.StateReconnectNeeded || c.Reason != "refresh token rejected" || c.Username != "alice" || !c.Expiry.IsZero() {
		t.Fatalf("connection: %+v %v", c, err)
	}
	items, _ := st.Pending(ctx, time.Now(), 10)
	if len(items) != 1 || items[0].Op != store.OpDelete {
		t.Fatalf("outbox: %+v", items)
	}
}
