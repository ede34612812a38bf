package vault

import (
	"context"

	"github.com/latchkey/latchkey/vault/envelope"
	"github.com/latchkey/latchkey/vault/store"
)

// Meta entries of the binding user: the current one, and the one a Rebind
// is moving to (present only while it runs, or after a crash mid-way).
const (
	metaBind     = "vault.binding_user"
	metaBindNext = "vault.binding_user.next"
)

// Rebind binds this device's records, and the sealed meta entries, to the
// user to ("" = the OS user): each is opened as bound to the current binding
// user and re-sealed, under the current key, bound to to. The daemon calls
// it when the organisation identity signs in (to = its subject) and out.
//
// It is crash-safe: the target is recorded first, each record is written
// under its new key and its old one removed in one transaction (dropping
// the old one's pending push, and queuing the new one when push is set),
// and Open finishes an interrupted Rebind.
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
			if _, err := v.st.Apply(ctx, store.Change{Put: &nr, Expect: store.AnyVersion, Push: push, Replaces: &rec.Key}); err != nil {
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
