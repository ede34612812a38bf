package daemon

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/latchkey/latchkey/client/apitype"
	"github.com/latchkey/latchkey/integrations"
	"github.com/latchkey/latchkey/vault"
	"github.com/latchkey/latchkey/vault/store"
	"github.com/latchkey/latchkey/vault/store/remotestore"
	"github.com/latchkey/latchkey/vault/syncer"
)

// pushEnabled reports whether sealed writes are queued for a remote store.
func (d *Daemon) pushEnabled() bool { return d.conf().Store != "" }

// syncLoop is the running sync loop, nil before Run started it or with no
// store. Run starts it after the injector and the control socket already
// serve, so it is read under d.mu.
func (d *Daemon) syncLoop() *syncer.Syncer {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.syncer
}

// kickSync asks the sync loop to push now.
func (d *Daemon) kickSync() {
	if s := d.syncLoop(); s != nil {
		s.Kick()
	}
}

// syncStatusFile keeps the last sync status so `latchkey status` can show
// it while the daemon is down.
func (d *Daemon) syncStatusFile() string { return filepath.Join(d.paths.StateDir, "sync-status.json") }

// startSync starts the outbox push loop when a remote store is configured.
// Every seal is committed locally first (with its outbox entry, in one
// transaction); the loop pushes with backoff while the store is down and
// flushes at start-up and on every kick.
func (d *Daemon) startSync(ctx context.Context, wg *sync.WaitGroup) error {
	storeURL := d.conf().Store
	if storeURL == "" {
		return nil
	}
	if _, err := integrations.CheckBaseURL(storeURL); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	remote := remotestore.New(storeURL, d.storeBearer, d.http)
	s := syncer.New(d.store, remote, syncer.Options{
		User: d.vault.BindingUser(), Device: d.vault.Device(), StatusFile: d.syncStatusFile(), Logger: d.log,
		Hooks: syncer.Hooks{
			OnRevoked: func(ctx context.Context, integration string) {
				// One transaction: the sealed record goes and the state says why.
				reason := "an administrator revoked it in the remote store; connect again"
				if err := d.vault.MarkReconnect(ctx, integration, reason, false); err != nil {
					d.log.Error("disconnect a centrally revoked integration", "integration", integration, "err", err)
					return
				}
				d.log.Warn("integration needs reconnecting", "integration", integration, "reason", reason)
				d.changed()
			},
			OnRemoteNewer: d.adoptRemote,
			OnStatus:      func(syncer.SyncStatus) { d.changed() },
		},
	})
	d.mu.Lock()
	d.syncer = s
	d.mu.Unlock()
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.Run(ctx); err != nil && ctx.Err() == nil {
			d.log.Error("sync loop stopped", "err", err)
		}
	}()
	return nil
}

// adoptRemote stores a newer sealed record of this device read from the
// remote store. The store keys records by the identity's subject (the JWT's
// sub); locally they are keyed by the user the vault binds them to. A record this
// vault cannot open is refused (the local, working token stays), and so is
// one that is not newer than the local record by the sequence sealed inside
// both (vault.OpenNewer): the store's version counter alone is not trusted,
// so a restored or compromised store cannot roll the device back.
func (d *Daemon) adoptRemote(ctx context.Context, rec store.Record) error {
	rec.User = d.vault.BindingUser()
	if rec.Device != d.vault.Device() {
		return fmt.Errorf("the store's record of %s is for device %s, not this one", rec.Integration, rec.Device)
	}
	err := d.vault.AdoptRecord(ctx, rec)
	if errors.Is(err, vault.ErrNotNewer) {
		return fmt.Errorf("%w: %w", syncer.ErrNotNewer, err)
	}
	if err != nil {
		return err
	}
	d.changed()
	return nil
}

// rebind binds the vault's records to user ("" = the OS user) and tells
// the sync loop.
func (d *Daemon) rebind(ctx context.Context, user string) error {
	if err := d.vault.Rebind(ctx, user, d.pushEnabled()); err != nil {
		return fmt.Errorf("bind the sealed tokens to the signed-in identity: %w", err)
	}
	if s := d.syncLoop(); s != nil {
		s.SetUser(d.vault.BindingUser())
		s.Kick()
	}
	return nil
}

// syncStatus reports the outbox and the last push results.
func (d *Daemon) syncStatus(ctx context.Context) apitype.SyncStatus {
	st := apitype.SyncStatus{Remote: d.conf().Store}
	if n, err := d.store.Count(ctx); err == nil {
		st.Pending = n
	}
	if st.Remote == "" {
		return st
	}
	var ss syncer.SyncStatus
	if s := d.syncLoop(); s != nil {
		ss = s.Status()
	} else if s, err := syncer.ReadStatus(d.syncStatusFile()); err == nil {
		ss = s
	}
	if !ss.LastSuccess.IsZero() {
		t := ss.LastSuccess
		st.LastSuccess = &t
	}
	if !ss.LastErrorAt.IsZero() {
		t := ss.LastErrorAt
		st.LastErrorAt = &t
	}
	st.LastError = ss.LastError
	st.Down = ss.Down
	if ss.Down && !ss.NextRetry.IsZero() {
		t := ss.NextRetry
		st.NextRetry = &t
	}
	st.Refused = ss.Refused
	if !ss.RefusedAt.IsZero() {
		t := ss.RefusedAt
		st.RefusedAt = &t
	}
	return st
}
