package vault

import (
	"context"
	"errors"
	"fmt"

	"github.com/latchkey/latchkey/vault/envelope"
	"github.com/latchkey/latchkey/vault/keychain"
	"github.com/latchkey/latchkey/vault/store"
)

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
