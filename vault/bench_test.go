package vault

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"golang.org/x/oauth2"
)

func benchVault(b *testing.B) *Vault {
	b.Helper()
	v, _ := mustOpen(b, Options{Keychain: testKeychain(b), Store: openStore(b, filepath.Join(b.TempDir(), "latchkey.db")), User: "alice", Device: "d1"})
	return v
}

// BenchmarkSeal: JSON encoding and sealing of a realistic token (access +
// refresh + expiry + id_token/scope extras).
func BenchmarkSeal(b *testing.B) {
	v := benchVault(b)
	tok := realisticToken()
	pt, _ := encodeToken(tokenOf(tok))
	b.ReportMetric(float64(len(pt)), "plaintext-bytes")
	for b.Loop() {
		if _, err := v.Seal("docebo", tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpen: opening and decoding the same token.
func BenchmarkOpen(b *testing.B) {
	v := benchVault(b)
	rec, err := v.Seal("docebo", realisticToken())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := v.OpenRecord(rec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDeriveKey: HKDF-SHA256 from the salt to the key and its id
// (once per Open, and per key during a rotation).
func BenchmarkDeriveKey(b *testing.B) {
	salt := bytes.Repeat([]byte{7}, SaltLen)
	for b.Loop() {
		if _, err := deriveKey(salt, "alice"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadToken: the daemon's read of a whole token (the
// store's record cache, the envelope opened, the token decoded), against
// BenchmarkLoadLatestToken, which reads SQLite each time.
func BenchmarkLoadToken(b *testing.B) {
	benchLoad(b, (*Vault).LoadToken)
}

// BenchmarkLoadAccessToken: the proxy's per-request read, which decodes
// the access token alone.
func BenchmarkLoadAccessToken(b *testing.B) {
	benchLoad(b, func(v *Vault, ctx context.Context, name string) (*oauth2.Token, int64, error) {
		tok, err := v.LoadAccessToken(ctx, name)
		return tok, 0, err
	})
}

func BenchmarkLoadLatestToken(b *testing.B) {
	benchLoad(b, (*Vault).LoadLatestToken)
}

func benchLoad(b *testing.B, load func(*Vault, context.Context, string) (*oauth2.Token, int64, error)) {
	v := benchVault(b)
	ctx := context.Background()
	if err := v.SaveToken(ctx, "docebo", realisticToken(), nil, false); err != nil {
		b.Fatal(err)
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := load(v, ctx, "docebo"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
