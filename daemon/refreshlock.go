package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// daemonLockFile is the one-daemon lock, in the state directory with the
// database it protects: two daemons given the same state directory but
// different runtime directories still exclude each other.
func (p Paths) daemonLockFile() string { return filepath.Join(p.StateDir, "daemon.lock") }

// refreshLockFile is the lock every process takes to refresh name's token
// (the daemon and the offline CLI alike), beside the database.
func (p Paths) refreshLockFile(name string) string {
	return filepath.Join(p.StateDir, "refresh-"+name+".lock")
}

// lockPoll is how often a process waiting for the refresh lock tries it.
const lockPoll = 20 * time.Millisecond

// lockRefresh takes the cross-process lock of name's refreshes, waiting
// for another process's refresh to finish until ctx ends. The returned
// function releases it (once; later calls do nothing). The lock dies with
// its process.
func (d *Daemon) lockRefresh(ctx context.Context, name string) (func(), error) {
	path := d.paths.refreshLockFile(name)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the refresh lock %s: %w", path, err)
	}
	var tick *time.Ticker
	for {
		err := lockFile(f)
		if err == nil {
			if tick != nil {
				tick.Stop()
			}
			var once sync.Once
			return func() { once.Do(func() { f.Close() }) }, nil
		}
		if !errors.Is(err, errLocked) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if tick == nil {
			tick = time.NewTicker(lockPoll)
			defer tick.Stop()
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("another latchkey process is refreshing the %s token and has not finished: %w", name, ctx.Err())
		case <-tick.C:
		}
	}
}
