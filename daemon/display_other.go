//go:build !(linux && cgo)

package daemon

import (
	"context"
	"sync"
)

// watchForDisplay is a no-op: only a Linux desktop session can bring a
// display after the daemon started, and only a cgo build has a tray there.
func (d *Daemon) watchForDisplay(ctx context.Context, wg *sync.WaitGroup, stop context.CancelFunc) {}
