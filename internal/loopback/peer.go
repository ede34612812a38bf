package loopback

import (
	"net"
	"net/http"
	"net/netip"
)

// PeerSocket is the client's end of a TCP connection on this machine, as
// the system lists it.
type PeerSocket struct {
	UID   int    // the user owning the socket
	Inode string // the socket's inode, "" where the system does not say
}

// RequestEnds returns a served request's connection as the server sees it:
// its own address (http.LocalAddrContextKey) and the client's. ok is false
// when either is not known.
func RequestEnds(r *http.Request) (local, remote netip.AddrPort, ok bool) {
	la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return local, remote, false
	}
	local, err1 := netip.ParseAddrPort(la.String())
	remote, err2 := netip.ParseAddrPort(r.RemoteAddr)
	return local, remote, err1 == nil && err2 == nil
}
