//go:build !linux

package loopback

import "net/netip"

// PeerUID returns the user owning the other end of a TCP connection on
// this machine; ok is false where the system does not say (here).
func PeerUID(local, remote netip.AddrPort) (uid int, ok bool) { return 0, false }

// Peer returns the client's socket of a TCP connection on this machine;
// ok is false where the system does not say (here).
func Peer(local, remote netip.AddrPort) (PeerSocket, bool) { return PeerSocket{}, false }
