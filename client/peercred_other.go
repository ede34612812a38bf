//go:build !linux && !darwin

package client

import "net"

// CheckPeer: on this OS the control socket is protected by its directory's
// permissions (Windows: the per-user AF_UNIX socket in the user's profile);
// there is no portable peer-credential call.
func CheckPeer(net.Conn) error { return nil }

// checkServer: as CheckPeer, the directory's permissions protect the socket.
func checkServer(net.Conn, string) error { return nil }
