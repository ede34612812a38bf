package vault

import (
	"context"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/vault/envelope"
	"github.com/latchkey/latchkey/vault/keychain"
	"github.com/latchkey/latchkey/vault/store"
)

// DefaultService is the keychain service latchkey's items live under.
const DefaultService = "latchkey"

// SaltLen is the length of the salt in bytes.
const SaltLen = 32

// nextSuffix names the keychain account of the salt a rotation moves to.
const nextSuffix = ".next"

// Meta entries of the binding user: the current one, and the one a Rebind
// is moving to (present only while it runs, or after a crash mid-way).
const (
	metaBind     = "vault.binding_user"
	metaBindNext = "vault.binding_user.next"
)

// ErrNoToken: no sealed token is stored for that integration on this device.
var ErrNoToken = errors.New("vault: no token stored")

// ErrNotNewer: a record offered to replace this device's local one (by the
// remote store) is not newer than it by the sequence sealed inside both: it
// is older, or another record of the same sequence, or has no sequence while
// the local one has. A restored or compromised store serves such records.
var ErrNotNewer = errors.New("vault: the record is not newer than the one this device holds")

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

// KeyIDOf returns the id of the key the salt stored in kc gives user (the
// primary salt, or the next one mid-rotation), without creating a salt or
// touching any record: for status displays. No salt: keychain.ErrNotFound.
func KeyIDOf(kc keychain.Keychain, service, user string) (string, error) {
	if service == "" {
		service = DefaultService
	}
	v := &Vault{kc: kc, service: service, user: user}
	salt, err := v.getSalt(user + nextSuffix)
	if err == nil && salt == nil {
		salt, err = v.getSalt(user)
	}
	if err != nil {
		return "", err
	}
	if salt == nil {
		return "", keychain.ErrNotFound
	}
	k, err := deriveKey(salt, user)
	if err != nil {
		return "", err
	}
	return k.id, nil
}

// key is one vault key: the AEAD key and its public id.
type key struct {
	id   string
	aes  []byte      // XChaCha20-Poly1305 key
	aead cipher.AEAD // built from aes once, for the per-request opens
}

// deriveKey derives the record key and its id from salt, bound to user.
func deriveKey(salt []byte, user string) (*key, error) {
	k, err := hkdf.Key(sha256.New, salt, nil, "latchkey/v1/record-key\x00"+user, 32)
	if err != nil {
		return nil, fmt.Errorf("vault: derive key: %w", err)
	}
	id, err := hkdf.Key(sha256.New, salt, nil, "latchkey/v1/key-id\x00"+user, envelope.KeyIDLen/2)
	if err != nil {
		return nil, fmt.Errorf("vault: derive key id: %w", err)
	}
	aead, err := envelope.NewAEAD(k)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	return &key{id: hex.EncodeToString(id), aes: k, aead: aead}, nil
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

// KeyID returns the id of the key that seals (never the key); "" for a
// read-only vault opened without a salt.
func (v *Vault) KeyID() string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.cur == nil {
		return ""
	}
	return v.cur.id
}

// CheckSalt reads the salt from the keychain again and, when it is gone
// (neither the salt nor a rotation's next one is there: keychain.ErrNotFound,
// not a keychain that does not answer, which is an error), handles it as a
// lost salt at once, as Open would at the next start: a new salt is made
// and seals from then on, and this device's records sealed under the lost
// key are deleted and their integrations marked reconnect-needed (the
// report lists them). A salt replaced by another process is taken up, and
// the records under no key it knows purged the same way. Nothing to do: an
// empty report.
func (v *Vault) CheckSalt(ctx context.Context) (*Report, error) {
	rep := &Report{}
	// The usual case, without the database lock: a salt this vault knows is
	// there (".next" first, as reload reads them).
	for _, account := range []string{v.account + nextSuffix, v.account} {
		s, err := v.getSalt(account)
		if err != nil {
			return nil, err
		}
		if s == nil {
			continue
		}
		k, err := deriveKey(s, v.user)
		if err != nil {
			return nil, err
		}
		v.mu.RLock()
		ok := v.keys[k.id] != nil
		v.mu.RUnlock()
		if ok {
			return rep, nil
		}
		break
	}
	var primary, next []byte
	err := v.st.Lock(ctx, func() error {
		var err error
		primary, next, rep.CreatedSalt, err = v.readOrCreateSalts()
		return err
	})
	if err != nil {
		return nil, err
	}
	known := true
	for _, s := range [][]byte{primary, next} {
		if s == nil {
			continue
		}
		k, err := deriveKey(s, v.user)
		if err != nil {
			return nil, err
		}
		v.mu.RLock()
		known = known && v.keys[k.id] != nil
		v.mu.RUnlock()
	}
	if known {
		return rep, nil
	}
	// The keys are now those of the salts in the keychain, and no other.
	keys, cur, err := v.saltKeys(primary, next)
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	v.keys, v.cur = keys, cur
	v.mu.Unlock()
	recs, err := v.ownRecords(ctx)
	if err != nil {
		return nil, err
	}
	if rep.Purged, err = v.purgeUnknown(ctx, recs); err != nil {
		return nil, err
	}
	return rep, nil
}

// KeychainAccount returns the keychain account of this vault's salt.
func (v *Vault) KeychainAccount() string { return v.account }

// readOrCreateSalts reads this vault's salts from the keychain (the primary
// and a rotation's next one) and makes and stores a primary one when neither
// is there (created). Callers hold the database lock.
func (v *Vault) readOrCreateSalts() (primary, next []byte, created bool, err error) {
	if primary, err = v.getSalt(v.account); err != nil {
		return nil, nil, false, err
	}
	if next, err = v.getSalt(v.account + nextSuffix); err != nil {
		return nil, nil, false, err
	}
	if primary == nil && next == nil {
		if primary, err = newSalt(); err != nil {
			return nil, nil, false, err
		}
		if err := v.setSalt(v.account, primary); err != nil {
			return nil, nil, false, err
		}
		created = true
	}
	return primary, next, created, nil
}

// saltKeys derives the keys of the given salts (nil ones skipped); cur is
// next's key when there is one (a rotation under way seals under it), else
// primary's.
func (v *Vault) saltKeys(primary, next []byte) (keys map[string]*key, cur *key, err error) {
	keys = map[string]*key{}
	for _, s := range [][]byte{primary, next} {
		if s == nil {
			continue
		}
		k, err := deriveKey(s, v.user)
		if err != nil {
			return nil, nil, err
		}
		keys[k.id], cur = k, k // next, when present, wins
	}
	return keys, cur, nil
}

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

// Seal seals tok for integration under the current key. It does no I/O.
func (v *Vault) Seal(integration string, tok *oauth2.Token) (store.Record, error) {
	if tok == nil {
		return store.Record{}, errNothingToSeal
	}
	v.mu.RLock()
	k := v.cur
	v.mu.RUnlock()
	return v.sealWith(k, integration, tokenOf(tok))
}

func (v *Vault) sealWith(k *key, integration string, tok token) (store.Record, error) {
	if k == nil {
		return store.Record{}, errors.New("vault: opened read-only without a salt: nothing can be sealed")
	}
	if integration == "" {
		return store.Record{}, errors.New("vault: seal needs an integration name")
	}
	pt, err := encodeTokenSeq(tok, v.nextSeq())
	if err != nil {
		return store.Record{}, err
	}
	defer clear(pt)
	s, err := envelope.Seal(k.aes, k.id, v.binding(integration), pt)
	if err != nil {
		return store.Record{}, err
	}
	return store.Record{Key: v.storeKey(integration), KeyID: k.id, Envelope: s}, nil
}

// OpenRecord opens a record sealed for this vault's user and device. A
// record under a key this vault does not hold fails with
// envelope.ErrKeyMismatch without being tried; an altered record, or one
// sealed for another user, device or integration, fails with an envelope
// error (ErrAuth, ErrMalformed, ErrUnsupportedVersion).
func (v *Vault) OpenRecord(rec store.Record) (*oauth2.Token, error) {
	return oauth2Token(v.openRecord(rec, decodeToken))
}

// openRecord opens rec and decodes its plaintext with decode.
func (v *Vault) openRecord(rec store.Record, decode func([]byte) (token, error)) (token, error) {
	e, err := v.parse(rec)
	if err != nil {
		return token{}, err
	}
	v.mu.RLock()
	k := v.keys[e.KeyID]
	v.mu.RUnlock()
	if k == nil {
		return token{}, fmt.Errorf("%w: %s is sealed under key %s", envelope.ErrKeyMismatch, rec.Integration, e.KeyID)
	}
	return v.openWith(k, rec, e, decode)
}

// nextSeq returns the sequence of a new seal: the time in nanoseconds, or
// one more than the highest sequence this process sealed or saw when that
// is later (a clock set back, or seals in the same nanosecond).
func (v *Vault) nextSeq() uint64 {
	now := uint64(max(time.Now().UnixNano(), 1))
	for {
		last := v.seq.Load()
		n := max(now, last+1)
		if v.seq.CompareAndSwap(last, n) {
			return n
		}
	}
}

// noteSeq raises the highest sequence seen to seq.
func (v *Vault) noteSeq(seq uint64) {
	for {
		last := v.seq.Load()
		if seq <= last || v.seq.CompareAndSwap(last, seq) {
			return
		}
	}
}

// recordSeq opens rec and returns its sequence only (nothing else of the
// plaintext is decoded).
func (v *Vault) recordSeq(rec store.Record) (uint64, error) {
	var seq uint64
	_, err := v.openRecord(rec, func(b []byte) (token, error) {
		if len(b) == 0 || b[0] != '{' {
			if _, _, ok := tokenBody(b); !ok {
				return token{}, errTokenDecode
			}
		}
		seq = tokenSeq(b)
		return token{}, nil
	})
	return seq, err
}

// OpenNewer opens rec, a record of this device read from elsewhere (the
// remote store), and checks that it is newer than the local record of its
// integration by the sequences sealed inside both (which whoever stores the
// ciphertext cannot change): a lower sequence, the same sequence with
// another envelope, or none while the local record has one fail with
// ErrNotNewer. With no local record, or one that does not open, only
// rec's opening is checked; two records sealed before sequences existed
// are not compared.
func (v *Vault) OpenNewer(ctx context.Context, rec store.Record) (*oauth2.Token, error) {
	var seq uint64
	tok, err := v.openRecord(rec, func(b []byte) (token, error) {
		seq = tokenSeq(b)
		return decodeToken(b)
	})
	if err != nil {
		return nil, err
	}
	local, err := v.st.GetRecord(ctx, v.storeKey(rec.Integration))
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, err
	case local.Envelope != rec.Envelope:
		if lseq, err := v.recordSeq(local); err == nil && lseq > 0 && seq <= lseq {
			return nil, fmt.Errorf("%w: the offered record of %s has sequence %d, this device's %d", ErrNotNewer, rec.Integration, seq, lseq)
		}
	}
	v.noteSeq(seq)
	return tok.oauth2(), nil
}

type parsedEnvelope struct {
	text string
	env  envelope.Envelope
}

// parse parses rec's envelope, or reuses the last parse of the same text.
func (v *Vault) parse(rec store.Record) (envelope.Envelope, error) {
	if p, ok := v.parsed.Load(rec.Integration); ok && p.(*parsedEnvelope).text == rec.Envelope {
		return p.(*parsedEnvelope).env, nil
	}
	e, err := envelope.Parse(rec.Envelope)
	if err != nil {
		return e, err
	}
	v.parsed.Store(rec.Integration, &parsedEnvelope{text: rec.Envelope, env: e})
	return e, nil
}

// openWith opens rec, parsed as e, under k, and decodes it with decode.
func (v *Vault) openWith(k *key, rec store.Record, e envelope.Envelope, decode func([]byte) (token, error)) (token, error) {
	// A record is opened as bound to the user it is stored under, which
	// must be this vault's binding user (or the OS user, which a record read
	// just before a Rebind may still carry): a record moved to another
	// user's key does not open.
	b := v.binding(rec.Integration)
	if rec.User != "" && rec.User != b.User {
		if rec.User != v.user && rec.User != v.prevBind() {
			return token{}, fmt.Errorf("%w: the record of %s belongs to another user", envelope.ErrAuth, rec.Integration)
		}
		b.User = rec.User
	}
	bp, _ := v.plain.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	pt, err := e.OpenAEAD(k.aead, k.id, b, *bp)
	if err != nil {
		return token{}, err
	}
	defer func() {
		clear(pt[:cap(pt)])
		*bp = pt[:0]
		v.plain.Put(bp)
	}()
	return decode(pt)
}

// SetSealedMeta seals value (a signing key, say) and stores it in the
// store's meta table under name, bound to (user, device, name). RotateKey
// re-seals every such entry with the records.
func (v *Vault) SetSealedMeta(ctx context.Context, name string, value []byte) error {
	if name == "" {
		return errors.New("vault: sealed meta needs a name")
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	s, err := envelope.Seal(v.cur.aes, v.cur.id, v.binding(name), value)
	if err != nil {
		return err
	}
	return v.st.SetMeta(ctx, name, s)
}

// GetSealedMeta opens the meta entry name stored by SetSealedMeta. Absent:
// store.ErrNotFound; under a key that is gone: envelope.ErrKeyMismatch.
func (v *Vault) GetSealedMeta(ctx context.Context, name string) ([]byte, error) {
	s, err := v.st.GetMeta(ctx, name)
	if err != nil {
		return nil, err
	}
	e, err := envelope.Parse(s)
	if err != nil {
		return nil, err
	}
	v.mu.RLock()
	k := v.keys[e.KeyID]
	v.mu.RUnlock()
	if k == nil {
		return nil, fmt.Errorf("%w: meta %s is sealed under key %s", envelope.ErrKeyMismatch, name, e.KeyID)
	}
	return envelope.Open(k.aes, k.id, v.binding(name), s)
}

// SaveToken seals tok and writes it to the local store; in the same
// transaction it queues it for the remote store when push is set and upserts
// conn (its Integration is set to integration) when not nil.
func (v *Vault) SaveToken(ctx context.Context, integration string, tok *oauth2.Token, conn *store.Connection, push bool) error {
	if conn != nil {
		c := *conn
		c.Integration = integration
		conn = &c
	}
	if tok == nil {
		return errNothingToSeal
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	rec, err := v.sealWith(v.cur, integration, tokenOf(tok))
	if err != nil {
		return err
	}
	_, err = v.st.Apply(ctx, store.Change{Put: &rec, Expect: store.AnyVersion, Push: push, Conn: replace(conn)})
	return err
}

// SaveSealed writes rec, a record Seal made, the way SaveToken writes a
// token (queued for the remote store when push is set, conn upserted when
// not nil, in one transaction). A record sealed under a key or for a binding
// user that changed since is opened and sealed again first, under the lock
// SaveToken holds, so it never lands under a key a rotation dropped.
func (v *Vault) SaveSealed(ctx context.Context, rec store.Record, conn *store.Connection, push bool) error {
	name := rec.Integration
	if conn != nil {
		c := *conn
		c.Integration = name
		conn = &c
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.cur == nil {
		return errors.New("vault: opened read-only without a salt: nothing can be stored")
	}
	if rec.KeyID != v.cur.id || rec.User != v.BindingUser() {
		k := v.keys[rec.KeyID]
		if k == nil {
			return fmt.Errorf("%w: %s is sealed under key %s", envelope.ErrKeyMismatch, name, rec.KeyID)
		}
		e, err := envelope.Parse(rec.Envelope)
		if err != nil {
			return err
		}
		tok, err := v.openWith(k, rec, e, decodeToken)
		if err != nil {
			return err
		}
		if rec, err = v.sealWith(v.cur, name, tok); err != nil {
			return err
		}
	}
	_, err := v.st.Apply(ctx, store.Change{Put: &rec, Expect: store.AnyVersion, Push: push, Conn: replace(conn)})
	return err
}

// OpenAccessRecord is OpenRecord for one API call: the access token, its
// type and expiry, as LoadAccessToken returns them.
func (v *Vault) OpenAccessRecord(rec store.Record) (*oauth2.Token, error) {
	return oauth2Token(v.openRecord(rec, decodeAccessToken))
}

// LoadToken opens the token stored for integration and returns it with the
// record's version: the per-request read. The sealed record may come from
// the store's short-lived record cache (sqlitestore.GetRecordCached): a
// write by this process is seen at once, one by another process within
// sqlitestore.RecordCacheTTL. No record: ErrNoToken. A record under a key
// this process does not hold (another process may have rotated the key)
// makes it re-read the keychain once before failing with
// envelope.ErrKeyMismatch.
func (v *Vault) LoadToken(ctx context.Context, integration string) (*oauth2.Token, int64, error) {
	return v.loadToken(ctx, integration, v.cached, decodeToken)
}

// LoadAccessToken is LoadToken for one call to the integration's API: the
// token it returns holds the access token, its type and expiry, nothing
// more. The refresh token and the provider's extras, decrypted with the
// rest of the record, are skipped rather than decoded: they are never
// copied out of the plaintext buffer, which is wiped at once.
func (v *Vault) LoadAccessToken(ctx context.Context, integration string) (*oauth2.Token, error) {
	tok, _, err := v.loadToken(ctx, integration, v.cached, decodeAccessToken)
	return tok, err
}

// LoadLatestToken is LoadToken reading the database itself, for decisions
// that must see every process's last write (a refresh).
func (v *Vault) LoadLatestToken(ctx context.Context, integration string) (*oauth2.Token, int64, error) {
	return v.loadToken(ctx, integration, v.st.GetRecord, decodeToken)
}

func (v *Vault) loadToken(ctx context.Context, integration string, get func(context.Context, store.Key) (store.Record, error), decode func([]byte) (token, error)) (*oauth2.Token, int64, error) {
	rec, err := get(ctx, v.storeKey(integration))
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, fmt.Errorf("%w for %s", ErrNoToken, integration)
	}
	if err != nil {
		return nil, 0, err
	}
	tok, err := v.openRecord(rec, decode)
	if errors.Is(err, envelope.ErrKeyMismatch) {
		if rerr := v.reload(ctx); rerr == nil {
			tok, err = v.openRecord(rec, decode)
		}
	}
	if err != nil {
		return nil, 0, err
	}
	return tok.oauth2(), rec.Version, nil
}

// DeleteToken removes the token of integration locally (queuing the delete
// for the remote store when push is set). It leaves the connection metadata
// alone: the caller says what the integration's state is now (MarkReconnect
// does both in one transaction). Deleting a token that is not there is not
// an error.
func (v *Vault) DeleteToken(ctx context.Context, integration string, push bool) error {
	if integration == "" {
		return errors.New("vault: delete needs an integration name")
	}
	k := v.storeKey(integration)
	_, err := v.st.Apply(ctx, store.Change{Delete: &k, Push: push})
	return err
}

// MarkReconnect removes the token of integration (queuing the delete when
// push is set) and marks it reconnect-needed with reason, in one
// transaction. Account metadata is kept so the user sees which account to
// reconnect.
func (v *Vault) MarkReconnect(ctx context.Context, integration, reason string, push bool) error {
	k := v.storeKey(integration)
	_, err := v.st.Apply(ctx, store.Change{Delete: &k, Push: push, Conn: reconnectNeeded(reason)})
	return err
}

// SignOut ends the organisation identity on this device in one
// transaction: it removes integration's record (queuing the remote delete
// when push is set), stores conn (the identity's connection, signed out),
// sets the meta entries in meta ("" deletes) and records the OS user as the
// binding target. Re-binding the records (Rebind with to = "") follows; if
// the process dies first, Open finishes it. So a crash at any point leaves
// the identity either wholly signed in or signed out, never a mix.
func (v *Vault) SignOut(ctx context.Context, integration string, conn store.Connection, meta map[string]string, push bool) error {
	if integration == "" {
		return errors.New("vault: sign-out needs an integration name")
	}
	all := map[string]string{metaBindNext: v.user}
	for k, val := range meta {
		if k == metaBind || k == metaBindNext {
			return fmt.Errorf("vault: sign-out may not set %s", k)
		}
		all[k] = val
	}
	v.rotateMu.Lock()
	defer v.rotateMu.Unlock()
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.BindingUser() == v.user {
		delete(all, metaBindNext) // nothing to re-bind
	}
	k := v.storeKey(integration)
	_, err := v.st.Apply(ctx, store.Change{Delete: &k, Push: push, Conn: replace(&conn), Meta: all})
	return err
}

// RotateKey makes a new salt and re-seals every record of this device under
// it. The new salt is stored (as "<user>.next") before any record is
// re-sealed, and the old one is replaced only after every record is, so a
// crash at any point leaves every record openable; Open finishes the job.
//
// Rotate in the process that owns the vault (the daemon): another process
// still holding the old key would go on sealing under it.
func (v *Vault) RotateKey(ctx context.Context) error {
	v.rotateMu.Lock()
	defer v.rotateMu.Unlock()
	var next []byte
	err := v.st.Lock(ctx, func() error {
		var err error
		if next, err = v.getSalt(v.account + nextSuffix); err != nil || next != nil {
			return err // resume a rotation another process started
		}
		if next, err = newSalt(); err != nil {
			return err
		}
		return v.setSalt(v.account+nextSuffix, next)
	})
	if err != nil {
		return err
	}
	nk, err := deriveKey(next, v.user)
	if err != nil {
		return err
	}
	v.mu.Lock()
	v.keys[nk.id], v.cur = nk, nk
	v.mu.Unlock()
	return v.finishRotation(ctx, nk, next)
}

// errStale: a record under an old key appeared after the last pass.
var errStale = errors.New("vault: records still under the old key")

// finishRotation re-seals every record and sealed meta entry not under nk,
// then makes nextSalt the primary salt and deletes ".next". Re-sealing works
// on the plaintext bytes, whatever their format.
func (v *Vault) finishRotation(ctx context.Context, nk *key, nextSalt []byte) error {
	n := 0
	v.hook("resealed", 0)
	for pass := 0; ; pass++ {
		if pass > 100 {
			return errors.New("vault: key rotation did not settle (records keep changing under it); run it again")
		}
		stale, err := v.resealRecords(ctx, nk, &n)
		if err != nil {
			return err
		}
		staleMeta, err := v.resealMeta(ctx, nk)
		if err != nil {
			return err
		}
		if stale+staleMeta > 0 {
			continue
		}
		err = v.st.Lock(ctx, func() error {
			if s, err := v.countStale(ctx, nk); err != nil || s > 0 {
				if err == nil {
					err = errStale
				}
				return err
			}
			if err := v.setSalt(v.account, nextSalt); err != nil {
				return err
			}
			v.hook("replaced", n)
			if err := v.kc.Delete(v.service, v.account+nextSuffix); err != nil && !errors.Is(err, keychain.ErrNotFound) {
				return fmt.Errorf("vault: remove the rotated-from salt: %w", err)
			}
			return nil
		})
		if errors.Is(err, errStale) {
			continue
		}
		if err != nil {
			return err
		}
		v.mu.Lock()
		v.keys = map[string]*key{nk.id: nk}
		v.cur = nk
		v.mu.Unlock()
		return nil
	}
}

// resealRecords re-seals this device's records not under nk and returns how
// many it found. Records under no known key, or that fail their integrity
// check, are removed and their integrations marked reconnect-needed.
func (v *Vault) resealRecords(ctx context.Context, nk *key, n *int) (int, error) {
	recs, err := v.ownRecords(ctx)
	if err != nil {
		return 0, err
	}
	var unknown []store.Record
	stale := 0
	for _, rec := range recs {
		if rec.KeyID == nk.id {
			continue
		}
		stale++
		v.mu.RLock()
		old := v.keys[rec.KeyID]
		v.mu.RUnlock()
		if old == nil {
			unknown = append(unknown, rec)
			continue
		}
		pt, err := envelope.Open(old.aes, old.id, v.binding(rec.Integration), rec.Envelope)
		if errors.Is(err, envelope.ErrAuth) || errors.Is(err, envelope.ErrMalformed) || errors.Is(err, envelope.ErrUnsupportedVersion) {
			if err := v.MarkReconnect(ctx, rec.Integration, ReasonCorrupt, v.push); err != nil {
				return 0, err
			}
			continue
		}
		if err != nil {
			return 0, err
		}
		s, err := envelope.Seal(nk.aes, nk.id, v.binding(rec.Integration), pt)
		clear(pt)
		if err != nil {
			return 0, err
		}
		nr := store.Record{Key: rec.Key, KeyID: nk.id, Envelope: s}
		_, err = v.st.Apply(ctx, store.Change{Put: &nr, Expect: rec.Version, Push: v.push})
		if errors.Is(err, store.ErrConflict) {
			continue // written meanwhile; the next pass looks again
		}
		if err != nil {
			return 0, err
		}
		*n++
		v.hook("resealed", *n)
	}
	if _, err := v.purgeUnknown(ctx, unknown); err != nil {
		return 0, err
	}
	return stale, nil
}

// resealMeta re-seals the sealed meta entries (values that are envelopes
// bound to their own name) under a known key other than nk, and returns how
// many it found. Entries under no known key are left for their owner, who
// cannot open them either and must replace them.
func (v *Vault) resealMeta(ctx context.Context, nk *key) (int, error) {
	metas, err := v.st.ListMeta(ctx)
	if err != nil {
		return 0, err
	}
	stale := 0
	for name, val := range metas {
		old := v.sealedMetaKey(val, nk)
		if old == nil {
			continue
		}
		pt, err := envelope.Open(old.aes, old.id, v.binding(name), val)
		if err != nil {
			continue // not ours (another binding) or damaged: not ours to fix
		}
		stale++
		s, err := envelope.Seal(nk.aes, nk.id, v.binding(name), pt)
		clear(pt)
		if err != nil {
			return 0, err
		}
		if _, err := v.st.CompareAndSetMeta(ctx, name, val, s); err != nil {
			return 0, err
		}
	}
	return stale, nil
}

// sealedMetaKey returns the known key other than nk that val is sealed
// under, or nil.
func (v *Vault) sealedMetaKey(val string, nk *key) *key {
	e, err := envelope.Parse(val)
	if err != nil || e.KeyID == nk.id {
		return nil
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.keys[e.KeyID]
}

// countStale counts records and sealed meta entries still under a known key
// other than nk (and records under no known key).
func (v *Vault) countStale(ctx context.Context, nk *key) (int, error) {
	recs, err := v.ownRecords(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range recs {
		if r.KeyID != nk.id {
			n++
		}
	}
	metas, err := v.st.ListMeta(ctx)
	if err != nil {
		return 0, err
	}
	for name, val := range metas {
		if k := v.sealedMetaKey(val, nk); k != nil {
			// Count only entries that are ours to re-seal.
			if pt, err := envelope.Open(k.aes, k.id, v.binding(name), val); err == nil {
				clear(pt)
				n++
			}
		}
	}
	return n, nil
}

func (v *Vault) hook(stage string, n int) {
	if v.testHook != nil {
		v.testHook(stage, n)
	}
}

// reload re-reads the salts from the keychain (another process may have
// rotated them) and adds their keys; the newest one seals from then on.
// ".next" is read before the primary: a rotation that completes between the
// two reads has already made its salt the primary, so the newest salt is
// seen either way, without taking the store's lock.
func (v *Vault) reload(ctx context.Context) error {
	next, err := v.getSalt(v.account + nextSuffix)
	if err != nil {
		return err
	}
	primary, err := v.getSalt(v.account)
	if err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, s := range [][]byte{primary, next} {
		if s == nil {
			continue
		}
		k, err := deriveKey(s, v.user)
		if err != nil {
			return err
		}
		v.keys[k.id], v.cur = k, k
	}
	return nil
}

// Rebind binds this device's records, and the sealed meta entries, to the
// user to ("" = the OS user): each is opened as bound to the current binding
// user and re-sealed, under the current key, bound to to. The daemon calls
// it when the organisation identity signs in (to = its subject) and out.
//
// It is crash-safe: the target is recorded first, each record is written
// under its new key before its old one is removed (dropping the old one's
// pending push, and queuing the new one when push is set), and Open
// finishes an interrupted Rebind.
func (v *Vault) Rebind(ctx context.Context, to string, push bool) error {
	if to == "" {
		to = v.user
	}
	v.rotateMu.Lock()
	defer v.rotateMu.Unlock()
	v.mu.Lock()
	defer v.mu.Unlock()
	if to == v.BindingUser() {
		return nil
	}
	return v.rebindLocked(ctx, to, push)
}

// rebindLocked does Rebind's work; the caller holds mu for writing (or is
// Open, before the vault is shared).
func (v *Vault) rebindLocked(ctx context.Context, to string, push bool) error {
	from := v.BindingUser()
	if err := v.st.SetMeta(ctx, metaBindNext, to); err != nil {
		return err
	}
	bound := func(user, name string) envelope.Binding {
		return envelope.Binding{User: user, Device: v.device, Integration: name}
	}
	if from != to {
		recs, err := v.st.ListRecords(ctx, from)
		if err != nil {
			return err
		}
		for _, rec := range recs {
			if rec.Device != v.device {
				continue
			}
			var pt []byte
			k := v.keys[rec.KeyID]
			if k != nil {
				pt, err = envelope.Open(k.aes, k.id, bound(from, rec.Integration), rec.Envelope)
			}
			if k == nil || err != nil {
				// Cannot be opened: it cannot follow; the integration must
				// be connected again.
				reason := ReasonLostKey
				if k != nil {
					reason = ReasonCorrupt
				}
				if _, err := v.st.Apply(ctx, store.Change{Delete: &rec.Key, Conn: reconnectNeeded(reason)}); err != nil {
					return err
				}
				continue
			}
			sealed, err := envelope.Seal(v.cur.aes, v.cur.id, bound(to, rec.Integration), pt)
			clear(pt)
			if err != nil {
				return err
			}
			nr := store.Record{Key: store.Key{User: to, Device: v.device, Integration: rec.Integration}, KeyID: v.cur.id, Envelope: sealed}
			if _, err := v.st.Apply(ctx, store.Change{Put: &nr, Expect: store.AnyVersion, Push: push}); err != nil {
				return err
			}
			if _, err := v.st.Apply(ctx, store.Change{Delete: &rec.Key}); err != nil {
				return err
			}
		}
		metas, err := v.st.ListMeta(ctx)
		if err != nil {
			return err
		}
		for name, val := range metas {
			e, err := envelope.Parse(val)
			if err != nil {
				continue // not a sealed entry
			}
			k := v.keys[e.KeyID]
			if k == nil {
				continue
			}
			pt, err := envelope.Open(k.aes, k.id, bound(from, name), val)
			if err != nil {
				continue // not bound to from: not ours, or already moved
			}
			sealed, err := envelope.Seal(v.cur.aes, v.cur.id, bound(to, name), pt)
			clear(pt)
			if err != nil {
				return err
			}
			if _, err := v.st.CompareAndSetMeta(ctx, name, val, sealed); err != nil {
				return err
			}
		}
	}
	v.prev.Store(&from)
	v.bind.Store(&to)
	if err := v.st.SetMeta(ctx, metaBind, to); err != nil {
		return err
	}
	return v.st.DeleteMeta(ctx, metaBindNext)
}

// ownRecords lists this user's records on this device.
func (v *Vault) ownRecords(ctx context.Context) ([]store.Record, error) {
	all, err := v.st.ListRecords(ctx, v.BindingUser())
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, r := range all {
		if r.Device == v.device {
			out = append(out, r)
		}
	}
	return out, nil
}

// metaKeychainAccount is the meta key naming the keychain account this
// store's salt and secrets are kept under.
const metaKeychainAccount = "vault.keychain_account"

// adoptItems copies this store's keychain items to v.account from where they
// were kept before: the account the store last recorded (the setup moved
// between the default state directory and another), or legacy when the
// store recorded none yet (it predates per-setup accounts). An item already
// under v.account is left alone, so a crash part-way is finished by the next
// Open; the old items are kept, as another setup of the same user may still
// use them. Once done, Open records v.account. It runs under the database
// lock and writes only to the keychain.
func (v *Vault) adoptItems(ctx context.Context, legacy string, secrets []string) error {
	from, err := v.st.GetMeta(ctx, metaKeychainAccount)
	switch {
	case errors.Is(err, store.ErrNotFound):
		from = legacy
	case err != nil:
		return err
	}
	if from == "" || from == v.account {
		return nil
	}
	items := []string{"", nextSuffix}
	for _, name := range secrets {
		if name != "" {
			items = append(items, ":"+name)
		}
	}
	for _, suffix := range items {
		if _, err := v.kc.Get(v.service, v.account+suffix); err == nil {
			continue
		} else if !errors.Is(err, keychain.ErrNotFound) {
			return fmt.Errorf("vault: read the keychain: %w", err)
		}
		val, err := v.kc.Get(v.service, from+suffix)
		if errors.Is(err, keychain.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("vault: read the keychain: %w", err)
		}
		if err := v.kc.Set(v.service, v.account+suffix, val); err != nil {
			return fmt.Errorf("vault: move the keychain item %s/%s to %s%s: %w", v.service, from+suffix, v.account, suffix, err)
		}
	}
	return nil
}

// getSalt reads the salt under account, nil when there is none.
func (v *Vault) getSalt(account string) ([]byte, error) {
	s, err := v.kc.Get(v.service, account)
	if errors.Is(err, keychain.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("vault: read the salt: %w", err)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != SaltLen {
		return nil, fmt.Errorf("vault: the keychain item %s/%s does not hold a latchkey salt (delete it to start over; every integration will need reconnecting)", v.service, account)
	}
	return b, nil
}

func (v *Vault) setSalt(account string, salt []byte) error {
	if err := v.kc.Set(v.service, account, base64.StdEncoding.EncodeToString(salt)); err != nil {
		return fmt.Errorf("vault: store the salt: %w", err)
	}
	return nil
}

func newSalt() ([]byte, error) {
	b := make([]byte, SaltLen)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	return b, nil
}

// SetSecret stores a secret (an integration's client secret, say) in the
// keychain under account "<user>:<name>".
func (v *Vault) SetSecret(name, value string) error {
	if name == "" {
		return errors.New("vault: secret needs a name")
	}
	return v.kc.Set(v.service, v.account+":"+name, value)
}

// GetSecret returns the secret name (keychain.ErrNotFound if absent).
func (v *Vault) GetSecret(name string) (string, error) {
	if name == "" {
		return "", errors.New("vault: secret needs a name")
	}
	return v.kc.Get(v.service, v.account+":"+name)
}

// DeleteSecret removes the secret name (keychain.ErrNotFound if absent).
func (v *Vault) DeleteSecret(name string) error {
	if name == "" {
		return errors.New("vault: secret needs a name")
	}
	return v.kc.Delete(v.service, v.account+":"+name)
}

// metaDeviceID is the meta key of the device id.
const metaDeviceID = "device_id"

// DeviceID returns this machine's stable device id for the user owning s,
// creating it (16 random bytes, hex) the first time.
func DeviceID(ctx context.Context, s MetaStore) (string, error) {
	id, err := s.GetMeta(ctx, metaDeviceID)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("vault: %w", err)
	}
	return s.SetMetaIfAbsent(ctx, metaDeviceID, hex.EncodeToString(b))
}
