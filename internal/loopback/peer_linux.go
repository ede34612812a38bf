package loopback

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// PeerUID returns the user owning the other end of a TCP connection on
// this machine, the connection seen from the server as local (its own
// address) and remote (the client's): the owner of the client's socket in
// /proc/net/tcp or tcp6. ok is false when no such socket is found (the
// peer is not on this machine, or the table cannot be read).
func PeerUID(local, remote netip.AddrPort) (uid int, ok bool) {
	p, ok := Peer(local, remote)
	return p.UID, ok
}

// Peer returns the client's socket of a TCP connection on this machine
// (seen from the server as local and remote, as PeerUID): its owner and
// its inode, which names it among a process's open files
// ("socket:[<inode>]").
func Peer(local, remote netip.AddrPort) (PeerSocket, bool) {
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		if p, ok := peerIn(table, local, remote); ok {
			return p, true
		}
	}
	return PeerSocket{}, false
}

func peerIn(table string, local, remote netip.AddrPort) (PeerSocket, bool) {
	f, err := os.Open(table)
	if err != nil {
		return PeerSocket{}, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 10 {
			continue
		}
		// The client's socket: its local address is the connection's remote.
		src, ok1 := parseProcAddr(fs[1])
		dst, ok2 := parseProcAddr(fs[2])
		if !ok1 || !ok2 || !sameEnd(src, remote) || !sameEnd(dst, local) {
			continue
		}
		uid, err := strconv.Atoi(fs[7])
		return PeerSocket{UID: uid, Inode: fs[9]}, err == nil
	}
	return PeerSocket{}, false
}

func sameEnd(a, b netip.AddrPort) bool {
	return a.Port() == b.Port() && a.Addr().Unmap() == b.Addr().Unmap()
}

// parseProcAddr parses an address of /proc/net/tcp ("0100007F:1F90"): the
// IP as 32-bit words in the machine's byte order, the port in hex.
func parseProcAddr(s string) (netip.AddrPort, bool) {
	ipHex, portHex, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, false
	}
	raw, err := hex.DecodeString(ipHex)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, false
	}
	port, err := strconv.ParseUint(portHex, 16, 16)
	if err != nil {
		return netip.AddrPort{}, false
	}
	ip := make([]byte, len(raw))
	for i := 0; i < len(raw); i += 4 {
		binary.BigEndian.PutUint32(ip[i:], binary.NativeEndian.Uint32(raw[i:]))
	}
	a, _ := netip.AddrFromSlice(ip)
	return netip.AddrPortFrom(a, uint16(port)), true
}
