package daemon

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/latchkey/latchkey/integrations"
	"github.com/latchkey/latchkey/vault/store"
	"github.com/latchkey/latchkey/vault/store/remotestore"
	"github.com/latchkey/latchkey/vault/syncer"
)

// pushEnabled reports whether sealed writes are queued for a remote store.
func (d *Daemon) pushEnabled() bool { return d.cfg.Store != "" }

// kickSync asks the sync loop to push now.
func (d *Daemon) kickSync() {
	if d.syncer != nil {
		d.syncer.Kick()
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
	if d.cfg.Store == "" {
		return nil
	}
	if _, err := integrations.CheckBaseURL(d.cfg.Store); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	remote := remotestore.New(d.cfg.Store, d.storeBearer, d.http)
	s := syncer.New(d.store, remote, syncer.Options{
		User: d.vault.User(), Device: d.vault.Device(), StatusFile: d.syncStatusFile(), Logger: d.log,
		Hooks: syncer.Hooks{
			OnRevoked: func(ctx context.Context, integration string) {
				if err := d.vault.DeleteToken(ctx, integration, false); err != nil && !isNotFound(err) {
					d.log.Error("delete a centrally revoked record", "integration", integration, "err", err)
				}
				d.markReconnect(ctx, integration, "an administrator revoked it in the remote store; connect again")
			},
			OnRemoteNewer: func(ctx context.Context, rec store.Record) error {
				_, err := d.store.PutRecordEnqueue(ctx, rec, store.AnyVersion, false, nil)
				return err
			},
			OnStatus: func(syncer.SyncStatus) { d.changed() },
		},
	})
	d.syncer = s
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.Run(ctx); err != nil && ctx.Err() == nil {
			d.log.Error("sync loop stopped", "err", err)
		}
	}()
	return nil
}

// syncStatus reports the outbox and the last push results.
func (d *Daemon) syncStatus(ctx context.Context) SyncStatus {
	st := SyncStatus{Remote: d.cfg.Store}
	if n, err := d.store.Count(ctx); err == nil {
		st.Pending = n
	}
	if d.cfg.Store == "" {
		return st
	}
	var ss syncer.SyncStatus
	if d.syncer != nil {
		ss = d.syncer.Status()
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
	return st
}
