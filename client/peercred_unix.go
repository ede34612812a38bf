//go:build linux || darwin

package client

import (
	"fmt"
	"net"
	"os"
)

// CheckPeer returns an error unless the process at the other end of the
// unix-socket connection c runs as the current user. The daemon calls it on
// every connection it accepts on the control socket; peerUID is the per-OS
// call that names the peer.
func CheckPeer(c net.Conn) error {
	uid, err := connPeerUID(c)
	if err != nil {
		return err
	}
	if uid != os.Getuid() {
		return fmt.Errorf("peer uid %d is not the daemon's user", uid)
	}
	return nil
}

// checkServer is the client's side of CheckPeer: before the CLI sends a
// byte on the control socket it checks that the process listening on it
// runs as the same user, so a socket planted by another user is refused.
func checkServer(c net.Conn, socket string) error {
	uid, err := connPeerUID(c)
	if err != nil {
		return &PeerError{Socket: socket, Detail: "cannot tell who listens on it: " + err.Error()}
	}
	if uid != os.Getuid() {
		return &PeerError{Socket: socket, Detail: fmt.Sprintf("it is served by uid %d, not by you (uid %d)", uid, os.Getuid())}
	}
	return nil
}

// connPeerUID names the user of the process at the other end of c.
func connPeerUID(c net.Conn) (int, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return 0, fmt.Errorf("not a unix socket")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var uid int
	var uerr error
	if err := raw.Control(func(fd uintptr) { uid, uerr = peerUID(int(fd)) }); err != nil {
		return 0, err
	}
	return uid, uerr
}
