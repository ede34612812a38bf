package vault

import (
	"net/url"
	"time"

	"golang.org/x/oauth2"
)

// token is a token as the vault seals it: the fields of an OAuth 2.0
// token response that latchkey uses, and the provider's extras. A token
// made from an *oauth2.Token (tokenOf) keeps the extras named in
// keptExtras; one opened from a record keeps whatever extras the record
// holds (records sealed by earlier builds kept the provider's whole
// response), so re-sealing it changes nothing.
type token struct {
	AccessToken  string
	TokenType    string
	RefreshToken string
	Expiry       time.Time
	ExpiresIn    int64
	extras       tokenExtras
}

// tokenExtras are a token's extras as sealed: none, a JSON object's
// members, or form values (a provider answering
// application/x-www-form-urlencoded); a nil map is kept apart from none.
type tokenExtras struct {
	kind byte // extrasNone, extrasNilMap, extrasMap, extrasNilForm, extrasForm
	m    map[string]any
	form url.Values
}

// keptExtras are the extras of a provider's token response that latchkey
// reads (the OpenID Connect ID token, the granted scope) and so seals.
var keptExtras = []string{"id_token", "scope"}

// tokenOf is the vault's token for tok: its typed fields and, read with
// tok.Extra, the extras in keptExtras that it has.
func tokenOf(tok *oauth2.Token) token {
	t := token{AccessToken: tok.AccessToken, TokenType: tok.TokenType, RefreshToken: tok.RefreshToken, Expiry: tok.Expiry, ExpiresIn: tok.ExpiresIn}
	for _, k := range keptExtras {
		switch v := tok.Extra(k); v {
		case nil, "": // absent (a map answers nil, url.Values "")
		default:
			if t.extras.m == nil {
				t.extras = tokenExtras{kind: extrasMap, m: map[string]any{}}
			}
			t.extras.m[k] = v
		}
	}
	return t
}

// oauth2 is t as an *oauth2.Token, its extras readable with Extra.
func (t token) oauth2() *oauth2.Token {
	tok := &oauth2.Token{AccessToken: t.AccessToken, TokenType: t.TokenType, RefreshToken: t.RefreshToken, Expiry: t.Expiry, ExpiresIn: t.ExpiresIn}
	switch t.extras.kind {
	case extrasNilMap:
		tok = tok.WithExtra(map[string]any(nil))
	case extrasMap:
		tok = tok.WithExtra(t.extras.m)
	case extrasNilForm:
		tok = tok.WithExtra(url.Values(nil))
	case extrasForm:
		tok = tok.WithExtra(t.extras.form)
	}
	return tok
}

// oauth2Token converts what a decode returned at the package's edge.
func oauth2Token(t token, err error) (*oauth2.Token, error) {
	if err != nil {
		return nil, err
	}
	return t.oauth2(), nil
}
