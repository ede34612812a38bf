// Package loopback owns the one answer to "is this host this machine's
// loopback?" that latchkey gives everywhere: listen addresses that must
// stay on loopback, http:// base URLs allowed only for local sandboxes,
// redirect URIs, the injector's check that a redirect would lead back
// to itself, and who owns the other end of a loopback connection (PeerUID,
// on Linux).
//
// IsHost and IsAddr are the strict check (the name "localhost" or an IP in
// 127.0.0.0/8 or ::1). ReachesThisMachine is the wide one, for refusing
// rather than allowing: every spelling a URL parser may turn into a local
// address (*.localhost, 0.0.0.0, the loose IPv4 forms such as "127.1" or
// "0x7f.1").
package loopback
