package injector

import (
	"net/url"
	"strings"
	"testing"
)

func TestCleanProxyPath(t *testing.T) {
	t.Parallel()
	ok := map[string]string{
		"":                       "",
		"manage/v1/user/session": "manage/v1/user/session",
		"a/b/":                   "a/b/",
		"learn/v1/courses;x=1":   "learn/v1/courses;x=1",
		"files/na%20me.pdf":      "files/na me.pdf",
		"a.b/c..d/...":           "a.b/c..d/...",
	}
	for in, want := range ok {
		got, err := cleanProxyPath(in)
		if err != nil || got != want {
			t.Errorf("%q → %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{
		"..", ".", "a/../b", "a/./b", "a//b", "/a", "%2e%2e/x", "%2E./x", "a%2fb", "a%2Fb",
		"a%5cb", "a\\b", "@evil.example/x", "a%40b", "%252e%252e", "a%00b", "a b", "a\tb",
		"a#b", "a?b", "a%", "a%2", "a%zz", "a%3fb", "\x7f",
	} {
		if _, err := cleanProxyPath(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzCleanProxyPath: whatever the input, an accepted path joined to a base
// URL the way the proxy does it stays on the base's host, under its path,
// without dot segments or userinfo, and survives a round trip through the
// wire form.
func FuzzCleanProxyPath(f *testing.F) {
	for _, s := range []string{"api/x", "../x", "%2e%2e/x", "a%2fb", "@h/x", "a//b", "a/b/", "x%252f", "a;b=c/d", "%41%42"} {
		f.Add(s)
	}
	base, _ := url.Parse("https://tenant.example/base")
	f.Fuzz(func(t *testing.T, in string) {
		dec, err := cleanProxyPath(in)
		if err != nil {
			return
		}
		u := &url.URL{Scheme: base.Scheme, Host: base.Host, Path: base.Path + "/" + dec, RawPath: base.EscapedPath() + "/" + in}
		wire := u.String()
		back, err := url.Parse(wire)
		if err != nil {
			t.Fatalf("%q: wire form %q does not parse: %v", in, wire, err)
		}
		if back.Host != base.Host || back.User != nil || back.Scheme != base.Scheme {
			t.Fatalf("%q: left the host: %q", in, wire)
		}
		if back.Path != base.Path+"/"+dec || !strings.HasPrefix(back.Path, base.Path+"/") {
			t.Fatalf("%q: path changed on the wire: %q vs %q", in, back.Path, base.Path+"/"+dec)
		}
		for _, seg := range strings.Split(back.Path, "/") {
			if seg == ".." || seg == "." {
				t.Fatalf("%q: dot segment in %q", in, back.Path)
			}
		}
		if back.RawQuery != "" || back.Fragment != "" {
			t.Fatalf("%q: smuggled a query or fragment: %q", in, wire)
		}
		if strings.ContainsAny(dec, "\\@") || strings.Contains(dec, "//") {
			t.Fatalf("%q: decoded %q", in, dec)
		}
		// A second decoding (as a lax upstream might do) adds no traversal.
		if dd, err := url.PathUnescape(dec); err == nil && dd != dec {
			t.Fatalf("%q: still escaped after decoding: %q", in, dec)
		}
	})
}
