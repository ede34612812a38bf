package loopback

import (
	"net"
	"testing"
)

func TestIsHost(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]bool{
		"localhost":        true,
		"LocalHost":        true,
		"127.0.0.1":        true,
		"127.3.2.1":        true,
		"::1":              true,
		"::ffff:127.0.0.1": true,
		"0.0.0.0":          false,
		"::":               false,
		"10.0.0.1":         false,
		"[::1]":            false, // a Hostname has no brackets
		"localhost.":       false,
		"app.localhost":    false,
		"127.1":            false, // loose forms are ReachesThisMachine's
		"example.com":      false,
		"":                 false,
	} {
		if got := IsHost(host); got != want {
			t.Errorf("IsHost(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestIsAddr(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		"127.0.0.1:7788": true,
		"localhost:0":    true,
		"[::1]:80":       true,
		"0.0.0.0:7788":   false,
		"192.168.1.2:80": false,
		"127.0.0.1":      false, // no port
		"::1":            false,
		"":               false,
	} {
		if got := IsAddr(addr); got != want {
			t.Errorf("IsAddr(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestReachesThisMachine(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]bool{
		"localhost":        true,
		"LOCALHOST.":       true,
		"app.localhost":    true,
		"127.0.0.1":        true,
		"127.1":            true,
		"2130706433":       true,
		"0x7f.0.0.1":       true,
		"0177.0.0.1":       true,
		"0":                true,
		"0.0.0.0":          true,
		"::":               true,
		"::1":              true,
		"fe80::1%lo0":      false,
		"::1%lo":           true,
		"::ffff:127.0.0.1": true,
		"localhost.com":    false,
		"10.0.0.1":         false,
		"example.com":      false,
		"128.0.0.1":        false,
		"":                 false,
	} {
		if got := ReachesThisMachine(host); got != want {
			t.Errorf("ReachesThisMachine(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestParseLooseIPv4(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"127.0.0.1":   "127.0.0.1",
		"127.1":       "127.0.0.1",
		"127.0.1":     "127.0.0.1",
		"2130706433":  "127.0.0.1",
		"0x7f000001":  "127.0.0.1",
		"0x7f.1":      "127.0.0.1",
		"0177.0.0.01": "127.0.0.1",
		"0x":          "0.0.0.0",
		"1.2.3.4":     "1.2.3.4",
		"256.0.0.1":   "",
		"1.2.3.256":   "",
		"1.2.65536":   "",
		"4294967296":  "",
		"1.2.3.4.5":   "",
		"08.0.0.1":    "", // 8 is not an octal digit
		"1..2":        "",
		"a.b.c.d":     "",
		"-1":          "",
		"":            "",
	} {
		got := ParseLooseIPv4(in)
		if want == "" {
			if got != nil {
				t.Errorf("ParseLooseIPv4(%q) = %v, want nil", in, got)
			}
			continue
		}
		if got == nil || got.String() != want {
			t.Errorf("ParseLooseIPv4(%q) = %v, want %s", in, got, want)
		}
	}
}

// FuzzParseLooseIPv4 checks that the loose parser never panics, returns
// only IPv4 addresses, agrees with net.ParseIP on every input that is
// a dotted-quad address in canonical form, and that
// ReachesThisMachine accepts every loose form of a local address.
func FuzzParseLooseIPv4(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "127.1", "0x7f.1", "0177.0.0.1", "2130706433", "1.2.3.4.5", "", "0x", "::1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ip := ParseLooseIPv4(s)
		if ip != nil && ip.To4() == nil {
			t.Fatalf("ParseLooseIPv4(%q) = %v, not IPv4", s, ip)
		}
		if std := net.ParseIP(s); std != nil && std.To4() != nil && std.String() == s {
			if ip == nil || !ip.Equal(std) {
				t.Fatalf("ParseLooseIPv4(%q) = %v, net.ParseIP says %v", s, ip, std)
			}
		}
		if ip != nil && (ip.IsLoopback() || ip.IsUnspecified()) && !ReachesThisMachine(s) {
			t.Fatalf("ParseLooseIPv4(%q) = %v, but ReachesThisMachine says no", s, ip)
		}
	})
}
