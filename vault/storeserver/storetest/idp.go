package storetest

import (
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/latchkey/latchkey/internal/fakeidp"
)

// Audience is the aud the IdP puts in tokens unless told otherwise.
const Audience = "latchkey-store"

// AdminClaim and AdminValue mark administrators in tokens minted with
// Admin: true.
const (
	AdminClaim = "groups"
	AdminValue = "latchkey-admins"
)

// IdP is the tests' fake identity provider (internal/fakeidp) with the
// store's defaults: tokens for Audience, administrators marked by
// AdminClaim.
type IdP struct{ *fakeidp.IdP }

// NewIdP starts an IdP with one RSA key; it stops at the end of the test.
func NewIdP(t testing.TB) *IdP {
	t.Helper()
	return &IdP{fakeidp.New(t)}
}

// Claims adjust a minted token.
type Claims struct {
	Admin    bool          // add groups: [latchkey-admins]
	Audience string        // default Audience
	Issuer   string        // default Issuer()
	TTL      time.Duration // default 1h; negative: already expired
	Extra    map[string]any
	Alg      jose.SignatureAlgorithm // default RS256
	Key      any                     // default the current RSA key
	KeyID    string                  // default the current key's id
}

// Token mints a JWT for sub signed with the current key.
func (p *IdP) Token(sub string, c Claims) string {
	if c.Audience == "" {
		c.Audience = Audience
	}
	extra := c.Extra
	if c.Admin {
		extra = map[string]any{AdminClaim: []string{"staff", AdminValue}}
		for k, v := range c.Extra {
			extra[k] = v
		}
	}
	return p.IdP.Token(sub, fakeidp.Claims{Audience: c.Audience, Issuer: c.Issuer, TTL: c.TTL,
		Extra: extra, Alg: c.Alg, Key: c.Key, KeyID: c.KeyID})
}
