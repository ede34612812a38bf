package vault

import (
	"context"
	"errors"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/vault/store"
	"github.com/latchkey/latchkey/vault/store/memstore"
)

// A connect is one transaction: the token, the connected state with its
// expiry, the account and meta; a later save without an account keeps it.
func TestSaveConnected(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := memstore.New()
	v, _ := mustOpen(t, Options{Keychain: testKeychain(t), Store: st, User: "alice"})
	if err := v.MarkReconnect(ctx, "identity", "expired", false); err != nil {
		t.Fatal(err)
	}
	tok := realisticToken()
	acct := &Account{ID: "sub-1", Username: "alice", DisplayName: "Alice", Email: "a@example.com"}
	if err := v.SaveConnected(ctx, "identity", tok, acct, map[string]string{"identity_groups": "staff"}, true); err != nil {
		t.Fatal(err)
	}
	c, err := st.GetConnection(ctx, "identity")
	if err != nil || c.State != store.StateConnected || c.Reason != "" || !c.Expiry.Equal(tok.Expiry.Truncate(time.Microsecond)) ||
		c.AccountID != "sub-1" || c.Username != "alice" || c.DisplayName != "Alice" || c.Email != "a@example.com" {
		t.Fatalf("connection: %+v %v", c, err)
	}
	if g, err := st.GetMeta(ctx, "identity_groups"); g != "staff" || err != nil {
		t.Fatalf("meta: %q %v", g, err)
	}
	if n, _ := st.Count(ctx); n != 1 {
		t.Fatalf("outbox: %d items", n)
	}
	got, _, err := v.LoadToken(ctx, "identity")
	if err != nil || got.AccessToken != tok.AccessToken || got.Extra("id_token") != tok.Extra("id_token") {
		t.Fatalf("token: %+v %v", got, err)
	}
	next := &oauth2.Token{AccessToken: "at-2", Expiry: time.Now().Add(2 * time.Hour).UTC().Truncate(time.Microsecond)}
	if err := v.SaveConnected(ctx, "identity", next, nil, nil, false); err != nil {
		t.Fatal(err)
	}
	if c, _ := st.GetConnection(ctx, "identity"); c.AccountID != "sub-1" || !c.Expiry.Equal(next.Expiry) {
		t.Fatalf("a save without an account: %+v", c)
	}
	for _, k := range []string{metaBind, metaBindNext, metaKeychainAccount, metaDeviceID} {
		if err := v.SaveConnected(ctx, "identity", next, nil, map[string]string{k: "x"}, false); err == nil {
			t.Errorf("a save set the vault's own meta %s", k)
		}
	}
	if err := v.SaveConnected(ctx, "identity", nil, nil, nil, false); err == nil {
		t.Fatal("a nil token was saved")
	}
}

// SetAccount changes the account and nothing else: a reconnect-needed
// marked after the connect stays; with no connection it writes nothing.
func TestSetAccount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := memstore.New()
	v, _ := mustOpen(t, Options{Keychain: testKeychain(t), Store: st, User: "alice"})
	if err := v.SetAccount(ctx, "docebo", Account{ID: "42"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("account of no connection: %v", err)
	}
	if _, err := st.GetConnection(ctx, "docebo"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a connection was made: %v", err)
	}
	if err := v.SaveConnected(ctx, "docebo", realisticToken(), &Account{}, nil, false); err != nil {
		t.Fatal(err)
	}
	if err := v.MarkReconnect(ctx, "docebo", "refused", false); err != nil {
		t.Fatal(err)
	}
	if err := v.SetAccount(ctx, "docebo", Account{ID: "42", Username: "alice", DisplayName: "Alice", Email: "a@example.com"}); err != nil {
		t.Fatal(err)
	}
	c, _ := st.GetConnection(ctx, "docebo")
	if c.State != store.StateReconnectNeeded || c.Reason != "refused" || c.AccountID != "42" || c.Email != "a@example.com" {
		t.Fatalf("connection: %+v", c)
	}
}

// Disconnect removes the token, queues the remote delete and marks the
// integration disconnected in one change, keeping its account.
func TestDisconnect(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := memstore.New()
	v, _ := mustOpen(t, Options{Keychain: testKeychain(t), Store: st, User: "alice"})
	if err := v.SaveConnected(ctx, "docebo", realisticToken(), &Account{Username: "alice"}, nil, true); err != nil {
		t.Fatal(err)
	}
	if err := v.Disconnect(ctx, "docebo", true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := v.LoadToken(ctx, "docebo"); !errors.Is(err, ErrNoToken) {
		t.Fatalf("token kept: %v", err)
	}
	c, _ := st.GetConnection(ctx, "docebo")
	if c.State != store.StateDisconnected || !c.Expiry.IsZero() || c.Username != "alice" {
		t.Fatalf("connection: %+v", c)
	}
	items, _ := st.Pending(ctx, time.Now(), 10)
	if len(items) != 1 || items[0].Op != store.OpDelete {
		t.Fatalf("outbox: %+v", items)
	}
	if err := v.Disconnect(ctx, "never-connected", false); err != nil {
		t.Fatalf("disconnect of an integration without a token: %v", err)
	}
}

// SaveRefreshed stores a refreshed record and marks its integration
// connected with the new expiry, keeping the account.
func TestSaveRefreshed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := memstore.New()
	v, _ := mustOpen(t, Options{Keychain: testKeychain(t), Store: st, User: "alice"})
	if err := v.SaveConnected(ctx, "docebo", realisticToken(), &Account{Username: "alice"}, nil, false); err != nil {
		t.Fatal(err)
	}
	next := &oauth2.Token{AccessToken: "at-2", RefreshToken: "rt-2", Expiry: time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)}
	rec, err := v.Seal("docebo", next)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.SaveRefreshed(ctx, rec, next.Expiry, true); err != nil {
		t.Fatal(err)
	}
	c, _ := st.GetConnection(ctx, "docebo")
	if c.State != store.StateConnected || !c.Expiry.Equal(next.Expiry) || c.Username != "alice" {
		t.Fatalf("connection: %+v", c)
	}
	if got, _, err := v.LoadToken(ctx, "docebo"); err != nil || got.RefreshToken != "rt-2" {
		t.Fatalf("token: %+v %v", got, err)
	}
	if n, _ := st.Count(ctx); n != 1 {
		t.Fatalf("outbox: %d", n)
	}
}

// AdoptRecord takes a newer record of this device, marks the integration
// connected, and queues nothing (the remote store holds it); an older one
// is refused with ErrNotNewer and changes nothing.
func TestAdoptRecord(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := memstore.New()
	v, _ := mustOpen(t, Options{Keychain: testKeychain(t), Store: st, User: "alice", Device: "d1"})
	old, err := v.Seal("docebo", &oauth2.Token{AccessToken: "at-old"})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.SaveConnected(ctx, "docebo", &oauth2.Token{AccessToken: "at-local"}, &Account{Username: "alice"}, nil, false); err != nil {
		t.Fatal(err)
	}
	if err := v.AdoptRecord(ctx, old); !errors.Is(err, ErrNotNewer) {
		t.Fatalf("an older record: %v", err)
	}
	if got, _, _ := v.LoadToken(ctx, "docebo"); got.AccessToken != "at-local" {
		t.Fatalf("an older record replaced the local one: %q", got.AccessToken)
	}
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	newer, err := v.Seal("docebo", &oauth2.Token{AccessToken: "at-remote", Expiry: exp})
	if err != nil {
		t.Fatal(err)
	}
	// Newer than the local record (sealed after it): adopted over it.
	if err := v.AdoptRecord(ctx, newer); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := v.LoadToken(ctx, "docebo"); got.AccessToken != "at-remote" {
		t.Fatalf("adopted %q", got.AccessToken)
	}
	c, _ := st.GetConnection(ctx, "docebo")
	if c.State != store.StateConnected || c.Reason != "" || !c.Expiry.Equal(exp) || c.Username != "alice" {
		t.Fatalf("connection: %+v", c)
	}
	if n, _ := st.Count(ctx); n != 0 {
		t.Fatalf("an adopted record was queued for the remote store (%d)", n)
	}
	other := newer
	other.Device = "d2"
	if err := v.AdoptRecord(ctx, other); err == nil {
		t.Fatal("a record of another device was adopted")
	}
}
