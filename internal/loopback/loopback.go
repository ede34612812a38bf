package loopback

import (
	"net"
	"strconv"
	"strings"
)

// IsHost reports whether host (as url.URL.Hostname or net.SplitHostPort
// return it: no brackets, no port) is "localhost" (any case) or a loopback
// IP address (127.0.0.0/8, ::1, or an IPv4-mapped loopback address).
func IsHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// IsAddr reports whether a host:port address is on a loopback host
// (IsHost). An address that does not split into host and port is not.
func IsAddr(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	return err == nil && IsHost(host)
}

// ReachesThisMachine reports whether a URL host names this machine's
// loopback or unspecified address in any spelling a client accepts:
// localhost and *.localhost (any case, a trailing dot allowed), 127.0.0.0/8
// and ::1 (with or without an IPv6 zone), IPv4-mapped forms, 0.0.0.0 and
// ::, and the decimal, octal and hexadecimal IPv4 forms URL parsers
// normalise (ParseLooseIPv4).
func ReachesThisMachine(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	if i := strings.IndexByte(h, '%'); i >= 0 {
		h = h[:i] // an IPv6 zone
	}
	ip := net.ParseIP(h)
	if ip == nil {
		ip = ParseLooseIPv4(h)
	}
	return ip != nil && (ip.IsLoopback() || ip.IsUnspecified())
}

// ParseLooseIPv4 parses the IPv4 forms of the WHATWG URL standard (and
// inet_aton): one to four parts, each decimal, octal (leading 0) or
// hexadecimal (0x), the last filling the remaining bytes ("127.1",
// "2130706433", "0x7f.0.0.1"). It returns nil for anything else.
func ParseLooseIPv4(h string) net.IP {
	parts := strings.Split(h, ".")
	if len(parts) > 4 || h == "" {
		return nil
	}
	var vals []uint64
	for _, p := range parts {
		base := 10
		switch {
		case strings.HasPrefix(p, "0x"):
			base, p = 16, p[2:]
			if p == "" {
				p = "0"
			}
		case len(p) > 1 && p[0] == '0':
			base, p = 8, p[1:]
		}
		v, err := strconv.ParseUint(p, base, 32)
		if err != nil {
			return nil
		}
		vals = append(vals, v)
	}
	var n uint64
	for i, v := range vals[:len(vals)-1] {
		if v > 255 {
			return nil
		}
		n |= v << (8 * (3 - i))
	}
	last := vals[len(vals)-1]
	if last >= 1<<(8*(5-len(vals))) {
		return nil
	}
	n |= last
	return net.IPv4(byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}
