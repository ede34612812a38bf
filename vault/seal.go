package vault

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/vault/envelope"
	"github.com/latchkey/latchkey/vault/store"
)

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

// OpenAccessRecord is OpenRecord for one API call: the access token, its
// type and expiry, as LoadAccessToken returns them.
func (v *Vault) OpenAccessRecord(rec store.Record) (*oauth2.Token, error) {
	return oauth2Token(v.openRecord(rec, decodeAccessToken))
}
