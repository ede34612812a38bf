package daemon

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/latchkey/latchkey/vault/keychain"
)

// DefaultSaltCheckInterval is how often a running daemon reads the vault
// salt from the keychain again to notice that it was deleted (one keychain
// read). GET /v1/status checks too, at most once a second.
const DefaultSaltCheckInterval = 10 * time.Second

// saltWatch is the running daemon's view of the vault salt.
type saltWatch struct {
	mu     sync.Mutex
	last   time.Time // last check
	notice string    // what the user must be told, "" when nothing
}

// checkSalt reads the salt again and, when it was deleted (or replaced)
// while the daemon runs, handles it as a lost salt at once (vault.CheckSalt:
// a new salt; the records under the lost key deleted, their integrations
// reconnect-needed), logs it and keeps a notice for status. A keychain that
// does not answer changes nothing: status reports it. Only the running
// daemon calls it; a read-only command never purges.
func (d *Daemon) checkSalt(ctx context.Context) {
	d.salt.mu.Lock()
	defer d.salt.mu.Unlock()
	d.salt.last = time.Now()
	rep, err := d.vault.CheckSalt(ctx)
	if err != nil {
		if !errors.Is(err, keychain.ErrUnavailable) && ctx.Err() == nil {
			d.log.Warn("checking the vault salt failed", "err", err)
		}
		return
	}
	if !rep.CreatedSalt && len(rep.Purged) == 0 {
		return
	}
	what := "the vault salt was deleted from the keychain (or replaced) while the daemon ran"
	if len(rep.Purged) > 0 {
		d.salt.notice = fmt.Sprintf("%s at %s: the tokens of %s can never be read again and were removed; reconnect with `latchkey connect NAME`",
			what, time.Now().Format(time.RFC3339), strings.Join(rep.Purged, ", "))
	} else {
		d.salt.notice = fmt.Sprintf("%s at %s: a new salt was made; no token was sealed under the lost one", what, time.Now().Format(time.RFC3339))
	}
	d.log.Warn("vault salt lost: "+d.salt.notice, "integrations", strings.Join(rep.Purged, ", "), "key_id", d.vault.KeyID())
	d.kickSync()
	d.changed()
}

// checkSaltSoon is checkSalt at most once a second (for status).
func (d *Daemon) checkSaltSoon(ctx context.Context) {
	d.salt.mu.Lock()
	recent := time.Since(d.salt.last) < time.Second
	d.salt.mu.Unlock()
	if !recent {
		d.checkSalt(ctx)
	}
}

// watchSalt checks the salt every interval until ctx is done.
func (d *Daemon) watchSalt(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultSaltCheckInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			d.checkSalt(ctx)
		}
	}
}

// saltNotice is what status says about the vault salt, "" when all is well.
func (d *Daemon) saltNotice() string {
	if d.report != nil && len(d.report.LostKey) > 0 {
		return fmt.Sprintf("the tokens of %s are sealed under a vault key that is gone (the keychain salt was lost or replaced): they can never be read again; the daemon removes them when it starts (then reconnect with `latchkey connect NAME`)",
			strings.Join(d.report.LostKey, ", "))
	}
	d.salt.mu.Lock()
	defer d.salt.mu.Unlock()
	return d.salt.notice
}
