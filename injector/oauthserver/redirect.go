package oauthserver

import (
	"errors"
	"net/url"
	"strings"

	"github.com/latchkey/latchkey/internal/loopback"
)

// checkLoopbackRedirect accepts a redirect URI an app may register: http
// on a loopback IP literal or localhost (RFC 8252 §7.3), no fragment, no
// user info.
func checkLoopbackRedirect(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("redirect URI " + quote(raw) + " does not parse")
	}
	if u.Scheme != "http" {
		return errors.New("redirect URI " + quote(raw) + " must use http on the loopback interface")
	}
	if u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return errors.New("redirect URI " + quote(raw) + " may have no user info or fragment")
	}
	if !loopback.IsHost(u.Hostname()) {
		return errors.New("redirect URI " + quote(raw) + " is not on the loopback interface (127.0.0.1, [::1] or localhost)")
	}
	return nil
}

// matchRedirect reports whether the requested redirect URI is one of the
// registered ones, the port aside (RFC 8252 §7.3: an app listens on any
// port it gets); scheme, host, path and query must be the same.
func matchRedirect(registered []string, requested string) bool {
	if checkLoopbackRedirect(requested) != nil {
		return false
	}
	q, _ := url.Parse(requested)
	for _, r := range registered {
		u, err := url.Parse(r)
		if err != nil {
			continue
		}
		if u.Scheme == q.Scheme && strings.EqualFold(u.Hostname(), q.Hostname()) &&
			u.EscapedPath() == q.EscapedPath() && u.RawQuery == q.RawQuery {
			return true
		}
	}
	return false
}

// redirectWith returns uri with params added to its query (empty values
// left out).
func redirectWith(uri string, params map[string]string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return uri
	}
	q := u.Query()
	for k, v := range params {
		if v != "" {
			q.Set(k, v)
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func quote(s string) string {
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return "\"" + s + "\""
}
