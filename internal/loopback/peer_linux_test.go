package loopback

import (
	"net"
	"net/netip"
	"os"
	"testing"
)

func TestPeerUIDOfAConnectionFromThisProcess(t *testing.T) {
	t.Parallel()
	for _, network := range []string{"tcp4", "tcp6"} {
		ln, err := net.Listen(network, map[string]string{"tcp4": "127.0.0.1:0", "tcp6": "[::1]:0"}[network])
		if err != nil {
			t.Logf("%s: %v", network, err)
			continue
		}
		defer ln.Close()
		c, err := net.Dial(network, ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		local := s.LocalAddr().(*net.TCPAddr).AddrPort()
		remote := s.RemoteAddr().(*net.TCPAddr).AddrPort()
		if uid, ok := PeerUID(local, remote); !ok || uid != os.Getuid() {
			t.Errorf("%s: PeerUID = %d, %v; want %d", network, uid, ok, os.Getuid())
		}
		// The inode names the client's socket among this process's files.
		if p, ok := Peer(local, remote); !ok || !ownsSocket(t, p.Inode) {
			t.Errorf("%s: Peer = %+v, %v: not a socket of this process", network, p, ok)
		}
		// The server's own end is not the peer.
		if _, ok := PeerUID(remote, netip.AddrPortFrom(local.Addr(), 1)); ok {
			t.Errorf("%s: a connection that does not exist has a peer", network)
		}
	}
}

// ownsSocket reports whether this process has the socket of that inode open.
func ownsSocket(t *testing.T, inode string) bool {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		if l, _ := os.Readlink("/proc/self/fd/" + fd.Name()); inode != "" && l == "socket:["+inode+"]" {
			return true
		}
	}
	return false
}
