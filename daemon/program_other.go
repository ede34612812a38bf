//go:build !linux

package daemon

import "net/netip"

// peerProgram cannot tell the program on the other end of a connection on
// this OS.
func peerProgram(local, remote netip.AddrPort) string { return "" }
