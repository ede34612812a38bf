package vault_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/vault"
	"github.com/latchkey/latchkey/vault/envelope"
	"github.com/latchkey/latchkey/vault/keychain"
	"github.com/latchkey/latchkey/vault/store"
	"github.com/latchkey/latchkey/vault/store/sqlitestore"
)

// exampleDeps opens what a vault needs in a fresh temporary directory: the
// opt-in file keychain (with argon2id parameters cheap enough for an
// example; the daemon uses the OS keychain, or keychain.File with the
// default parameters) and a local SQLite store. cleanup removes both.
func exampleDeps() (kc keychain.Keychain, st *sqlitestore.Store, cleanup func()) {
	dir, err := os.MkdirTemp("", "vault-example")
	if err != nil {
		log.Fatal(err)
	}
	kc, err = keychain.FileWithKDF(filepath.Join(dir, "keychain.json"), []byte("example passphrase"),
		keychain.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1})
	if err != nil {
		log.Fatal(err)
	}
	st, err = sqlitestore.Open(filepath.Join(dir, "latchkey.db"))
	if err != nil {
		log.Fatal(err)
	}
	return kc, st, func() { st.Close(); os.RemoveAll(dir) }
}

// exampleToken is a made-up token, as an OAuth token endpoint returns one.
func exampleToken() *oauth2.Token {
	return &oauth2.Token{
		AccessToken:  "example-access-token",
		TokenType:    "Bearer",
		RefreshToken: "example-refresh-token",
		Expiry:       time.Date(2026, 11, 26, 18, 0, 0, 0, time.UTC),
	}
}

// A vault is opened on a keychain and a store; the first Open makes the
// salt. A token saved for an integration is sealed in the store and loads
// back whole.
func Example() {
	kc, st, cleanup := exampleDeps()
	defer cleanup()
	ctx := context.Background()

	v, rep, err := vault.Open(ctx, vault.Options{Keychain: kc, Store: st, User: "alice"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("new salt:", rep.CreatedSalt)
	fmt.Println("key id length:", len(v.KeyID()))

	err = v.SaveToken(ctx, "docebo", exampleToken(), &store.Connection{State: store.StateConnected, Username: "alice"}, false)
	if err != nil {
		log.Fatal(err)
	}
	tok, _, err := v.LoadToken(ctx, "docebo")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("same access token:", tok.AccessToken == exampleToken().AccessToken)
	fmt.Println("same refresh token:", tok.RefreshToken == exampleToken().RefreshToken)
	fmt.Println("expiry:", tok.Expiry.Format(time.RFC3339))

	// What the store holds is an envelope: ciphertext only.
	rec, err := st.GetRecord(ctx, store.Key{User: "alice", Device: v.Device(), Integration: "docebo"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("envelope version:", strings.SplitN(rec.Envelope, ".", 2)[0])
	fmt.Println("token visible in the store:", strings.Contains(rec.Envelope, "example-access-token"))

	_, _, err = v.LoadToken(ctx, "document360")
	fmt.Println("never saved:", errors.Is(err, vault.ErrNoToken))
	// Output:
	// new salt: true
	// key id length: 16
	// same access token: true
	// same refresh token: true
	// expiry: 2026-11-26T18:00:00Z
	// envelope version: lk1
	// token visible in the store: false
	// never saved: true
}

// Seal does no I/O: it returns the record a caller may store or send to the
// remote store. OpenRecord opens it only for the integration, user and
// device it was sealed for.
func ExampleVault_Seal() {
	kc, st, cleanup := exampleDeps()
	defer cleanup()
	ctx := context.Background()
	v, _, err := vault.Open(ctx, vault.Options{Keychain: kc, Store: st, User: "alice", Device: "laptop"})
	if err != nil {
		log.Fatal(err)
	}

	rec, err := v.Seal("docebo", exampleToken())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("record:", rec.User, rec.Device, rec.Integration)
	fmt.Println("sealed under the vault's key:", rec.KeyID == v.KeyID() && strings.HasPrefix(rec.Envelope, "lk1."+v.KeyID()+"."))

	tok, err := v.OpenRecord(rec)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("opens:", tok.AccessToken == exampleToken().AccessToken)

	// The same envelope presented as another integration's does not open.
	moved := rec
	moved.Integration = "document360"
	_, err = v.OpenRecord(moved)
	fmt.Println("moved to another integration:", errors.Is(err, envelope.ErrAuth))
	// Output:
	// record: alice laptop docebo
	// sealed under the vault's key: true
	// opens: true
	// moved to another integration: true
}

// RotateKey moves every record to a new salt, and so a new key id; the
// tokens load as before.
func ExampleVault_RotateKey() {
	kc, st, cleanup := exampleDeps()
	defer cleanup()
	ctx := context.Background()
	v, _, err := vault.Open(ctx, vault.Options{Keychain: kc, Store: st, User: "alice"})
	if err != nil {
		log.Fatal(err)
	}
	if err := v.SaveToken(ctx, "docebo", exampleToken(), nil, false); err != nil {
		log.Fatal(err)
	}
	before := v.KeyID()

	if err := v.RotateKey(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("new key id:", v.KeyID() != before)
	tok, _, err := v.LoadToken(ctx, "docebo")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("token still loads:", tok.AccessToken == exampleToken().AccessToken)
	// Output:
	// new key id: true
	// token still loads: true
}

// When the keychain's salt is lost, the next Open makes a new one and
// cannot open the records sealed under the old key: it deletes them, marks
// their integrations reconnect-needed and says so in the Report.
func ExampleReport_Notice() {
	kc, st, cleanup := exampleDeps()
	defer cleanup()
	ctx := context.Background()
	v, _, err := vault.Open(ctx, vault.Options{Keychain: kc, Store: st, User: "alice"})
	if err != nil {
		log.Fatal(err)
	}
	if err := v.SaveToken(ctx, "docebo", exampleToken(), nil, false); err != nil {
		log.Fatal(err)
	}

	// The salt is deleted from the keychain (a reinstalled OS, say).
	if err := kc.Delete(vault.DefaultService, "alice"); err != nil {
		log.Fatal(err)
	}
	_, rep, err := vault.Open(ctx, vault.Options{Keychain: kc, Store: st, User: "alice"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("new salt:", rep.CreatedSalt)
	fmt.Println("purged:", rep.Purged)
	fmt.Println(rep.Notice())
	conn, err := st.GetConnection(ctx, "docebo")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("docebo:", conn.State)
	// Output:
	// new salt: true
	// purged: [docebo]
	// the vault key that sealed the tokens of docebo is gone (keychain salt lost or replaced): they were removed; reconnect with `latchkey connect NAME`
	// docebo: reconnect_needed
}
