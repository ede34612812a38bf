package vault

import (
	"bytes"
	"fmt"
	"net/url"
	"reflect"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// Records sealed before tokenFormat2 hold JSON; they still open.
func TestDecodeLegacyJSONToken(t *testing.T) {
	t.Parallel()
	legacy := []byte(`{"access_token":"at","token_type":"Bearer","refresh_token":"rt",` +
		`"expiry":"2030-01-02T03:04:05.000000006Z","expires_in":3599,` +
		`"extra_kind":"json","extra":{"id_token":"eyJ.x.y","scope":"api"}}`)
	dec, err := decodeToken(legacy)
	if err != nil {
		t.Fatal(err)
	}
	got := dec.oauth2()
	want := (&oauth2.Token{AccessToken: "at", TokenType: "Bearer", RefreshToken: "rt",
		Expiry: time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC), ExpiresIn: 3599}).
		WithExtra(map[string]any{"id_token": "eyJ.x.y", "scope": "api"})
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("legacy record:\n got %#v\nwant %#v", got, want)
	}
	// Re-sealing writes the new format, which reads back the same.
	b, err := encodeToken(tokenOf(got))
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != tokenFormat2 {
		t.Fatalf("encodeToken wrote format %#x", b[0])
	}
	again, err := oauth2Token(decodeToken(b))
	if err != nil || !reflect.DeepEqual(again, want) {
		t.Fatalf("re-sealed: %#v, %v", again, err)
	}
}

// The per-call decode keeps the access token, type, expiry and lifetime,
// and nothing else: no refresh token, no extras (the ID token among them),
// from the binary format and from a legacy JSON record alike.
func TestDecodeAccessTokenKeepsOnlyWhatACallNeeds(t *testing.T) {
	t.Parallel()
	full := realisticToken()
	bin, err := encodeToken(tokenOf(full))
	if err != nil {
		t.Fatal(err)
	}
	legacy := []byte(`{"access_token":"` + full.AccessToken + `","token_type":"Bearer","refresh_token":"rt",` +
		`"expiry":"2026-11-25T18:00:00.123456789Z","expires_in":3600,` +
		`"extra_kind":"json","extra":{"id_token":"eyJ.x.y","scope":"api"}}`)
	want := &oauth2.Token{AccessToken: full.AccessToken, TokenType: "Bearer", Expiry: full.Expiry, ExpiresIn: 3600}
	for name, b := range map[string][]byte{"binary": bin, "json": legacy} {
		got, err := oauth2Token(decodeAccessToken(b))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %#v\nwant %#v", name, got, want)
		}
		if got.Extra("id_token") != nil || got.RefreshToken != "" {
			t.Errorf("%s: the per-call token carries the refresh token or extras", name)
		}
	}
	// A record cut inside the fields it reads (all of them but the extras,
	// which take the last byte of a record without any) is refused.
	bare, err := encodeToken(tokenOf(&oauth2.Token{AccessToken: full.AccessToken, TokenType: "Bearer",
		RefreshToken: full.RefreshToken, Expiry: full.Expiry, ExpiresIn: 3600}))
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(bare) - 1 {
		if _, err := decodeAccessToken(bin[:n]); err == nil {
			t.Fatalf("a plaintext cut at %d of %d bytes decoded", n, len(bin))
		}
	}
}

// Every truncation, and any trailing byte, of a valid plaintext is refused.
func TestDecodeTokenIsStrict(t *testing.T) {
	t.Parallel()
	b, err := encodeToken(tokenOf(realisticToken()))
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(b) {
		if _, err := decodeToken(b[:n]); err == nil {
			t.Fatalf("a plaintext cut at %d of %d bytes decoded", n, len(b))
		}
	}
	if _, err := decodeToken(append(bytes.Clone(b), 0)); err == nil {
		t.Fatal("a trailing byte was ignored")
	}
	for _, bad := range [][]byte{
		{0x03}, // unknown format
		{tokenFormat2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, // huge length
		{tokenFormat2, 0, 0, 0, 2},                                        // bad expiry flag
		{tokenFormat2, 0, 0, 0, 1, 0, 0x80, 0x94, 0xeb, 0xdc, 0x03, 0, 0}, // nanoseconds >= 1e9
		{tokenFormat2, 0, 0, 0, 0, 0, 9},                                  // unknown extras kind
		{tokenFormat2, 0, 0, 0, 0, 0, extrasMap, 1, 1, 'k', 'q'},          // unknown value tag
		{tokenFormat2, 0, 0, 0, 0, 0, extrasMap, 0x7f},                    // count past the end
		{tokenFormat2, 0, 0, 0, 0, 0, extrasMap, 1, 1, 'k', 'j', 1, '{'},  // bad JSON value
	} {
		if tok, err := decodeToken(bad); err == nil {
			t.Errorf("% x decoded as %#v", bad, tok)
		}
	}
}

// FuzzDecodeToken: any plaintext decodes or fails without panicking, and
// what decodes re-encodes to a plaintext that decodes to the same token.
func FuzzDecodeToken(f *testing.F) {
	for _, tok := range []token{tokenOf(realisticToken()), {}, {AccessToken: "a", extras: tokenExtras{kind: extrasMap, m: map[string]any{"n": 1.5, "b": true, "z": nil, "l": []any{"x"}}}}} {
		b, err := encodeToken(tok)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"access_token":"a","extra_kind":"form","extra_form":{"k":["v"]}}`))
	for _, v := range loadKAT(f) {
		f.Add(unhex(f, v.Plaintext))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		call, callErr := decodeAccessToken(b)
		tok, err := decodeToken(b)
		if err != nil {
			return
		}
		// What decodes whole also decodes for a call, to the same fields.
		if callErr != nil {
			t.Fatalf("decodes whole but not for a call: %v", callErr)
		}
		if call.AccessToken != tok.AccessToken || call.TokenType != tok.TokenType ||
			!call.Expiry.Equal(tok.Expiry) || call.ExpiresIn != tok.ExpiresIn || call.RefreshToken != "" {
			t.Fatalf("per-call decode %#v differs from %#v", call, tok)
		}
		re, err := encodeToken(tok)
		if err != nil {
			t.Fatalf("decoded token does not re-encode: %v", err)
		}
		again, err := decodeToken(re)
		if err != nil {
			t.Fatalf("re-encoded token does not decode: %v", err)
		}
		if a, b := fmt.Sprintf("%#v", tok), fmt.Sprintf("%#v", again); a != b {
			t.Fatalf("round trip changed the token:\n%s\n%s", a, b)
		}
	})
}

// The provider's whole token response is kept as extras by oauth2; the
// fields the token already has (the access and refresh tokens among them)
// are not sealed a second time.
func TestTokenExtrasDropTypedFields(t *testing.T) {
	t.Parallel()
	for name, tok := range map[string]*oauth2.Token{
		"json": (&oauth2.Token{AccessToken: "at-0123456789", RefreshToken: "rt-0123456789", TokenType: "Bearer", ExpiresIn: 3600}).
			WithExtra(map[string]any{"access_token": "at-0123456789", "refresh_token": "rt-0123456789",
				"token_type": "Bearer", "expires_in": 3600.0, "scope": "api", "id_token": "eyJ.x.y"}),
		"form": (&oauth2.Token{AccessToken: "at-0123456789", RefreshToken: "rt-0123456789"}).
			WithExtra(url.Values{"access_token": {"at-0123456789"}, "refresh_token": {"rt-0123456789"}, "scope": {"api"}, "id_token": {"eyJ.x.y"}}),
	} {
		t.Run(name, func(t *testing.T) {
			b, err := encodeToken(tokenOf(tok))
			if err != nil {
				t.Fatal(err)
			}
			for what, secret := range map[string]string{"the access token": "at-0123456789", "the refresh token": "rt-0123456789"} {
				if n := bytes.Count(b, []byte(secret)); n != 1 {
					t.Errorf("%s sealed %d times", what, n)
				}
			}
			got, err := oauth2Token(decodeToken(b))
			if err != nil {
				t.Fatal(err)
			}
			if got.AccessToken != tok.AccessToken || got.RefreshToken != tok.RefreshToken {
				t.Fatalf("typed fields lost: %+v", got)
			}
			if got.Extra("scope") != "api" || got.Extra("id_token") != "eyJ.x.y" {
				t.Fatalf("extras lost: scope %v, id_token %v", got.Extra("scope"), got.Extra("id_token"))
			}
			for _, k := range []string{"access_token", "refresh_token"} {
				if v := got.Extra(k); v != nil && v != "" { // a url.Values answers ""
					t.Fatalf("%s came back among the extras", k)
				}
			}
		})
	}
}

// A plaintext buffer that has to grow is wiped before it is dropped: no
// copy of a token stays behind where the caller cannot clear it.
func TestPlainWriterWipesWhatItOutgrows(t *testing.T) {
	t.Parallel()
	w := plainWriter{b: make([]byte, 0, 32)}
	w.str("secret-0123")
	old := w.b[:cap(w.b)]
	w.str(string(bytes.Repeat([]byte("x"), 40)))
	if cap(w.b) == cap(old) {
		t.Fatal("the buffer did not grow; the test proves nothing")
	}
	if !bytes.Equal(old, make([]byte, len(old))) {
		t.Fatalf("the outgrown buffer still holds %q", old)
	}
	if !bytes.Contains(w.b, []byte("secret-0123")) {
		t.Fatal("the new buffer lost what was written")
	}
}
