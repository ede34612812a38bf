//go:build !linux && !darwin

package daemon

import "net"

// checkPeer: on this OS the control socket is protected by its directory's
// permissions (Windows: the per-user AF_UNIX socket in the user's profile);
// there is no portable peer-credential call.
func checkPeer(net.Conn) error { return nil }

// checkServer: as checkPeer, the directory's permissions protect the socket.
func checkServer(net.Conn, string) error { return nil }
