package oauthserver

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// documentTransport fetches client ID metadata documents: a client id is a
// URL the requester picks, so the transport connects to public unicast
// addresses only (never this machine, its networks or link-local
// services), checked on the address actually dialled so that a name
// resolving to a private address is refused too, and ignores the proxy
// environment.
func documentTransport() *http.Transport {
	d := &net.Dialer{
		Timeout: 10 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || !publicAddress(net.IP(ap.Addr().AsSlice())) {
				return errors.New("a client ID metadata document must be on a public address")
			}
			return nil
		},
	}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 10 * time.Second,
		MaxIdleConns:          4,
		IdleConnTimeout:       30 * time.Second,
	}
}

// sharedAddressSpace is 100.64.0.0/10 (RFC 6598, carrier-grade NAT), which
// net.IP.IsPrivate does not cover.
var sharedAddressSpace = netip.MustParsePrefix("100.64.0.0/10")

// publicAddress reports whether ip is a global unicast address outside the
// private, shared and local ranges.
func publicAddress(ip net.IP) bool {
	if ip == nil || !ip.IsGlobalUnicast() || ip.IsPrivate() {
		return false
	}
	a, ok := netip.AddrFromSlice(ip)
	return ok && !sharedAddressSpace.Contains(a.Unmap())
}
