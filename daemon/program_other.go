//go:build !linux

package daemon

// peerProgram cannot tell the program on the other end of a connection on
// this OS.
func peerProgram(string, int) string { return "" }
