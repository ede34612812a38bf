//go:build linux || darwin

package daemon

import (
	"fmt"
	"net"
	"os"
)

// checkPeer accepts a control-socket connection only from a process of the
// daemon's own user; peerUID is the per-OS call that names the peer.
func checkPeer(c net.Conn) error {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return fmt.Errorf("not a unix socket")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return err
	}
	var uid int
	var uerr error
	if err := raw.Control(func(fd uintptr) { uid, uerr = peerUID(int(fd)) }); err != nil {
		return err
	}
	if uerr != nil {
		return uerr
	}
	if uid != os.Getuid() {
		return fmt.Errorf("peer uid %d is not the daemon's user", uid)
	}
	return nil
}
