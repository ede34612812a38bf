package vault

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/latchkey/latchkey/vault/envelope"
	"github.com/latchkey/latchkey/vault/keychain"
	"github.com/latchkey/latchkey/vault/store"
)

// DefaultService is the keychain service latchkey's items live under.
const DefaultService = "latchkey"

// Reasons recorded on connections the vault marks reconnect-needed.
const (
	ReasonLostKey = "its token was sealed under a vault key that is gone (the keychain salt was lost or replaced): connect it again"
	ReasonCorrupt = "its stored token failed its integrity check and was removed: connect it again"
)

// Options configure Open.
type Options struct {
	// Keychain holds the salt (keychain.System(), or the opt-in
	// keychain.File).
	Keychain keychain.Keychain
	// Store is the local database (sqlitestore.Store; an in-memory fake in
	// tests).
	Store Store
	// User is the OS user name: the keychain account and part of every
	// binding.
	User string
	// Device is this machine's id; empty means DeviceID(Store).
	Device string
	// Service is the keychain service; empty means "latchkey".
	Service string
	// Account is the keychain account of this setup's salt (and the prefix
	// of its secrets' accounts); empty means User. Setups of one OS user
	// with their own state directories use distinct accounts so they never
	// share or overwrite each other's items; key derivation and record
	// bindings use User whatever the account.
	Account string
	// LegacyAccount is where this store's items were kept before the store
	// recorded its account (latchkey before per-setup accounts kept them
	// under User); empty when the store is new. See adoptItems.
	LegacyAccount string
	// Secrets names the secrets (SetSecret names) adoptItems moves along
	// with the salt.
	Secrets []string
	// Push: a remote store is configured, so the records Open purges and
	// RotateKey re-seals are also queued in the outbox for it.
	Push bool
	// ReadOnly opens for reading only (`latchkey status` without a
	// daemon): nothing is purged, no interrupted rotation or re-binding is
	// finished; records sealed under a key that is gone are listed in
	// Report.LostKey and left for the daemon to purge. (A missing salt is
	// still made, which deletes nothing.)
	ReadOnly bool
}

// Report says what Open had to do.
type Report struct {
	// CreatedSalt: no salt existed, a new one was made (first start, or a
	// lost salt).
	CreatedSalt bool
	// Purged lists, sorted, the integrations whose tokens were sealed under a
	// key that is gone: their records were deleted and they are marked
	// reconnect-needed.
	Purged []string
	// ResumedRotation: an interrupted key rotation was found and finished.
	ResumedRotation bool
	// LostKey (ReadOnly only) lists, sorted, the integrations whose records
	// are sealed under a key that is gone; the daemon purges them when it
	// next opens the vault.
	LostKey []string
}

// Notice returns what the user must be told after Open, in plain words, or
// "" when there is nothing to say.
func (r *Report) Notice() string {
	if r == nil || len(r.Purged) == 0 {
		return ""
	}
	return fmt.Sprintf("the vault key that sealed the tokens of %s is gone (keychain salt lost or replaced): they were removed; reconnect with `latchkey connect NAME`",
		strings.Join(r.Purged, ", "))
}

// Vault seals and opens one user's tokens on one device.
type Vault struct {
	kc      keychain.Keychain
	st      Store
	user    string // the OS user: key derivation and the default binding
	account string // the keychain account (Options.Account)
	device  string
	service string
	push    bool

	// cached is the per-request read: the store's GetRecordCached when it
	// has one, else GetRecord.
	cached func(context.Context, store.Key) (store.Record, error)

	// bind is the user records are bound to (AAD and record key): the
	// organisation identity's subject when one is signed in, else user.
	// Changed only by Rebind, holding mu for writing; read lock-free.
	bind atomic.Pointer[string]
	prev atomic.Pointer[string] // the binding user before the last Rebind

	// mu guards cur and keys. SaveToken holds it for reading from sealing to
	// the end of the write, so a rotation that switches keys (holding it for
	// writing) sees every record sealed under the old key when it lists them.
	mu   sync.RWMutex
	cur  *key            // seals
	keys map[string]*key // opens: cur, and the previous key during a rotation

	rotateMu sync.Mutex // one rotation at a time in this process

	// seq is the highest record sequence this process sealed or saw (see
	// nextSeq): Open starts it at the highest of this device's records.
	seq atomic.Uint64

	// parsed holds, per integration, the last envelope OpenRecord parsed
	// (*parsedEnvelope). The record cache hands back the very same string
	// while the record is unchanged, so telling whether it still applies is
	// a pointer comparison. It holds ciphertext only.
	parsed sync.Map

	// plain holds plaintext buffers (*[]byte) for the opens of
	// openWith, wiped before they go back: one buffer reused rather than a
	// fresh one per request left to the garbage collector.
	plain sync.Pool

	// testHook, when set (tests), is called during a rotation: at stage
	// "resealed" before the first record (n = 0) and after each re-sealed
	// record (n = count so far), and at stage "replaced" once the primary salt
	// is replaced but ".next" not yet deleted.
	testHook func(stage string, n int)
}

// Open loads (or creates) the salt, derives the key, purges records sealed
// under keys that are gone, and finishes an interrupted rotation.
func Open(ctx context.Context, o Options) (*Vault, *Report, error) {
	if o.Keychain == nil || o.Store == nil {
		return nil, nil, errors.New("vault: Open needs a keychain and a store")
	}
	if o.User == "" {
		return nil, nil, errors.New("vault: Open needs a user name")
	}
	v := &Vault{kc: o.Keychain, st: o.Store, user: o.User, account: o.Account, device: o.Device, service: o.Service, push: o.Push}
	v.cached = v.st.GetRecord
	if c, ok := v.st.(CachedRecordReader); ok {
		v.cached = c.GetRecordCached
	}
	if v.service == "" {
		v.service = DefaultService
	}
	if v.account == "" {
		v.account = v.user
	}
	if v.device == "" {
		d, err := DeviceID(ctx, o.Store)
		if err != nil {
			return nil, nil, err
		}
		v.device = d
	}
	rep := &Report{}
	var primary, next []byte
	// Read (or create) the salts holding the database lock, so that two
	// processes starting at once agree on one salt, and a rotation in another
	// process is seen either before or after it switches, never half-way.
	err := v.st.Lock(ctx, func() error {
		if err := v.adoptItems(ctx, o.LegacyAccount, o.Secrets); err != nil {
			return err
		}
		var err error
		primary, next, rep.CreatedSalt, err = v.readOrCreateSalts()
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	// Recorded once the items are in place (outside the lock: Lock's f must
	// not write); a crash before it only makes the next Open re-check them.
	if cur, err := v.st.GetMeta(ctx, metaKeychainAccount); err != nil || cur != v.account {
		if err := v.st.SetMeta(ctx, metaKeychainAccount, v.account); err != nil {
			return nil, nil, err
		}
	}
	if v.keys, v.cur, err = v.saltKeys(primary, next); err != nil {
		return nil, nil, err
	}
	bind := v.user
	if b, err := v.st.GetMeta(ctx, metaBind); err == nil && b != "" {
		bind = b
	}
	v.bind.Store(&bind)
	if o.ReadOnly {
		recs, err := v.ownRecords(ctx)
		if err != nil {
			return nil, nil, err
		}
		for _, r := range recs {
			if v.keys[r.KeyID] == nil {
				rep.LostKey = append(rep.LostKey, r.Integration)
			}
		}
		sort.Strings(rep.LostKey)
		return v, rep, nil
	}
	if next, err := v.st.GetMeta(ctx, metaBindNext); err == nil && next != "" {
		// A Rebind was interrupted: finish it (it is idempotent).
		if err := v.rebindLocked(ctx, next, o.Push); err != nil {
			return nil, nil, fmt.Errorf("vault: resume the interrupted re-binding: %w", err)
		}
	}
	// Records under no known key are never tried: they are purged.
	recs, err := v.ownRecords(ctx)
	if err != nil {
		return nil, nil, err
	}
	if rep.Purged, err = v.purgeUnknown(ctx, recs); err != nil {
		return nil, nil, err
	}
	for _, r := range recs {
		if seq, err := v.recordSeq(r); err == nil {
			v.noteSeq(seq)
		}
	}
	if next != nil {
		rep.ResumedRotation = true
		if err := v.finishRotation(ctx, v.cur, next); err != nil {
			return nil, nil, fmt.Errorf("vault: resume the interrupted key rotation: %w", err)
		}
	}
	return v, rep, nil
}

// purgeUnknown removes the records of recs sealed under no key this vault
// knows, marks their integrations reconnect-needed, and returns them sorted.
// The keychain is read again first: a rotation another process started after
// this one read it stores its salt before sealing anything under it, so a
// record under a key that is still unknown afterwards is truly orphaned.
func (v *Vault) purgeUnknown(ctx context.Context, recs []store.Record) ([]string, error) {
	known := func(id string) bool {
		v.mu.RLock()
		defer v.mu.RUnlock()
		return v.keys[id] != nil
	}
	var unknown []store.Record
	for _, r := range recs {
		if !known(r.KeyID) {
			unknown = append(unknown, r)
		}
	}
	if len(unknown) == 0 {
		return nil, nil
	}
	if err := v.reload(ctx); err != nil {
		return nil, err
	}
	var purged []string
	for _, r := range unknown {
		if known(r.KeyID) {
			continue
		}
		if err := v.MarkReconnect(ctx, r.Integration, ReasonLostKey, v.push); err != nil {
			return nil, err
		}
		purged = append(purged, r.Integration)
	}
	sort.Strings(purged)
	return purged, nil
}

// KeychainAccount returns the keychain account of this vault's salt.
func (v *Vault) KeychainAccount() string { return v.account }

// User returns the user this vault seals for.
func (v *Vault) User() string { return v.user }

// Device returns the device this vault seals for.
func (v *Vault) Device() string { return v.device }

func (v *Vault) prevBind() string {
	if p := v.prev.Load(); p != nil {
		return *p
	}
	return v.user
}

// BindingUser returns the user records are bound to: the organisation
// identity's subject while one is signed in (see Rebind), else User.
func (v *Vault) BindingUser() string { return *v.bind.Load() }

func (v *Vault) storeKey(integration string) store.Key {
	return store.Key{User: v.BindingUser(), Device: v.device, Integration: integration}
}

func (v *Vault) binding(integration string) envelope.Binding {
	return envelope.Binding{User: v.BindingUser(), Device: v.device, Integration: integration}
}
