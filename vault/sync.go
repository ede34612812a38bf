package vault

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/vault/store"
)

// ErrNotNewer: a record offered to replace this device's local one (by the
// remote store) is not newer than it by the sequence sealed inside both: it
// is older, or another record of the same sequence, or has no sequence while
// the local one has. A restored or compromised store serves such records.
var ErrNotNewer = errors.New("vault: the record is not newer than the one this device holds")

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

// AdoptRecord stores rec, a newer sealed record of this device read from the
// remote store, after OpenNewer accepted it, and marks its integration
// connected with the token's expiry, in one transaction. It is not queued
// for the remote store, which holds it already. rec.User must be the
// binding user.
func (v *Vault) AdoptRecord(ctx context.Context, rec store.Record) error {
	if rec.User != v.BindingUser() || rec.Device != v.device {
		return fmt.Errorf("vault: the record of %s is not this device's under the current binding", rec.Integration)
	}
	tok, err := v.OpenNewer(ctx, rec)
	if errors.Is(err, ErrNotNewer) {
		return err
	}
	if err != nil {
		return fmt.Errorf("the store's newer record of %s cannot be opened with this device's key: %w", rec.Integration, err)
	}
	_, err = v.st.Apply(ctx, store.Change{Put: &rec, Expect: store.AnyVersion, Conn: connected(tok.Expiry, nil)})
	return err
}
