package injector

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/latchkey/latchkey/injector/auth"
)

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// hs256 signs payload (already base64url) with HMAC-SHA256 under key: the
// classic "public key as HMAC secret" confusion token.
func hs256(t *testing.T, payload string, key []byte) string {
	t.Helper()
	head := b64(`{"alg":"HS256","typ":"JWT"}`)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(head + "." + payload))
	return head + "." + payload + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// mintOther mints a well-formed token under a key the verifier does not know.
func mintOther(t *testing.T, iss, aud string) string {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	tok, err := auth.NewIssuer(priv, iss, aud).Mint("alice", []string{"*"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// mintWith signs with the real issuer's key but other iss/aud claims.
func mintWith(t *testing.T, real *auth.Issuer, iss, aud string) string {
	t.Helper()
	_ = real
	now := time.Now()
	c := jwt.MapClaims{"iss": iss, "aud": aud, "sub": "alice", "scope": []string{"*"},
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	tk := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	tk.Header["kid"] = real.KeyID()
	testKeysMu.Lock()
	priv := testPrivateKeys[real]
	testKeysMu.Unlock()
	s, err := tk.SignedString(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustReq(method, path string, hdr map[string]string) *http.Request {
	r, err := http.NewRequest(method, "http://unix"+path, nil)
	if err != nil {
		panic(err)
	}
	r.RequestURI = path
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	return r
}
