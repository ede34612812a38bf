package jwks

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// provider serves a key set that a test can rotate, and counts downloads.
type provider struct {
	mu        sync.Mutex
	keys      map[string]*ecdsa.PrivateKey // kid → key
	body      []byte                       // when set, served instead
	downloads atomic.Int32
	srv       *httptest.Server
}

func newProvider(t *testing.T, kids ...string) *provider {
	p := &provider{keys: map[string]*ecdsa.PrivateKey{}}
	for _, kid := range kids {
		p.add(t, kid)
	}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.downloads.Add(1)
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.body != nil {
			w.Write(p.body)
			return
		}
		var set jose.JSONWebKeySet
		for kid, k := range p.keys {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.PublicKey, KeyID: kid, Algorithm: "ES256", Use: "sig"})
		}
		json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *provider) add(t *testing.T, kid string) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.keys[kid] = k
	p.mu.Unlock()
	return k
}

func (p *provider) setBody(b []byte) {
	p.mu.Lock()
	p.body = b
	p.mu.Unlock()
}

func (p *provider) key(kid string) *ecdsa.PrivateKey {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.keys[kid]
}

// sign makes a compact JWS of payload with key, naming kid when not empty.
func sign(t *testing.T, key *ecdsa.PrivateKey, kid, payload string) string {
	opts := &jose.SignerOptions{}
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign([]byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }
func newKeySet(p *provider, c *clock) *KeySet {
	return New(Options{URL: p.srv.URL, Algorithms: []string{"ES256"}, MinRefetch: time.Minute, Timeout: 5 * time.Second, Now: c.now})
}

func TestKeySetDownloadsOnDemandAndRateLimits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newProvider(t, "k1")
	var clk clock
	var changes atomic.Int32
	ks := New(Options{URL: p.srv.URL, Algorithms: []string{"ES256"}, MinRefetch: time.Minute, Now: clk.now,
		OnChange: func() { changes.Add(1) }})

	got, err := ks.VerifySignature(ctx, sign(t, p.key("k1"), "k1", "one"))
	if err != nil || string(got) != "one" {
		t.Fatalf("first token: %q, %v", got, err)
	}
	if _, err := ks.VerifySignature(ctx, sign(t, p.key("k1"), "k1", "two")); err != nil {
		t.Fatal(err)
	}
	if n := p.downloads.Load(); n != 1 {
		t.Fatalf("%d downloads for two tokens under one key, want 1", n)
	}
	if changes.Load() != 1 || ks.Generation() != 1 {
		t.Fatalf("OnChange called %d times, generation %d", changes.Load(), ks.Generation())
	}

	// Known key id, bad signature: refused without a download.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := ks.VerifySignature(ctx, sign(t, other, "k1", "forged")); err == nil || errors.Is(err, ErrUnknownKey) {
		t.Fatalf("forged signature under a known kid: %v", err)
	}
	// Unknown key ids within MinRefetch: refused without a download.
	for i := range 20 {
		if _, err := ks.VerifySignature(ctx, sign(t, other, "made-up-"+string(rune('a'+i)), "x")); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("made-up kid: %v", err)
		}
	}
	if n := p.downloads.Load(); n != 1 {
		t.Fatalf("%d downloads after a forged and made-up tokens, want still 1", n)
	}

	// The provider rotates: once MinRefetch has passed, the new key is found.
	p.add(t, "k2")
	if _, err := ks.VerifySignature(ctx, sign(t, p.key("k2"), "k2", "rotated")); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("rotated key before the interval: %v", err)
	}
	clk.advance(time.Minute)
	if got, err := ks.VerifySignature(ctx, sign(t, p.key("k2"), "k2", "rotated")); err != nil || string(got) != "rotated" {
		t.Fatalf("rotated key after the interval: %q, %v", got, err)
	}
	if n := p.downloads.Load(); n != 2 || changes.Load() != 2 {
		t.Fatalf("%d downloads, %d changes, want 2 and 2", n, changes.Load())
	}
}

// A token without a key id is tried against every key; one signed by a key
// the set does not hold yet makes it download again (rate-limited).
func TestKeySetTokenWithoutKeyID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newProvider(t, "k1")
	var clk clock
	ks := newKeySet(p, &clk)
	if _, err := ks.VerifySignature(ctx, sign(t, p.key("k1"), "", "a")); err != nil {
		t.Fatal(err)
	}
	k2 := p.add(t, "k2")
	clk.advance(time.Minute)
	if got, err := ks.VerifySignature(ctx, sign(t, k2, "", "b")); err != nil || string(got) != "b" {
		t.Fatalf("kid-less token under a new key: %q, %v", got, err)
	}
	if n := p.downloads.Load(); n != 2 {
		t.Fatalf("%d downloads, want 2", n)
	}
}

func TestKeySetConcurrentUnknownKidsShareOneDownload(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newProvider(t, "k1")
	var clk clock
	ks := newKeySet(p, &clk)
	tok := sign(t, p.key("k1"), "k1", "x")
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if _, err := ks.VerifySignature(ctx, tok); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := p.downloads.Load(); n != 1 {
		t.Fatalf("50 concurrent first tokens caused %d downloads, want 1", n)
	}
}

func TestKeySetRefusesBadDocuments(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, body := range map[string][]byte{
		"too large": []byte(`{"keys":[],"pad":"` + strings.Repeat("x", MaxBytes) + `"}`),
		"not json":  []byte(`<html>`),
	} {
		t.Run(name, func(t *testing.T) {
			p := newProvider(t, "k1")
			p.setBody(body)
			var clk clock
			ks := newKeySet(p, &clk)
			if _, err := ks.VerifySignature(ctx, sign(t, p.key("k1"), "k1", "x")); err == nil {
				t.Fatal("a token verified against a bad key set document")
			}
		})
	}
	// A key of a type this build does not know is skipped; the others stay.
	p := newProvider(t, "k1")
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	good, _ := json.Marshal(jose.JSONWebKey{Key: &p.key("k1").PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"})
	set.Keys = []json.RawMessage{[]byte(`{"kty":"nope","kid":"x"}`), good}
	body, _ := json.Marshal(set)
	p.setBody(body)
	var clk clock
	if _, err := newKeySet(p, &clk).VerifySignature(ctx, sign(t, p.key("k1"), "k1", "x")); err != nil {
		t.Fatalf("a key beside an unknown key type: %v", err)
	}
}

func TestKeySetRefusesAlgorithmsNotAllowed(t *testing.T) {
	t.Parallel()
	p := newProvider(t, "k1")
	ks := New(Options{URL: p.srv.URL, Algorithms: []string{"RS256"}})
	if _, err := ks.VerifySignature(context.Background(), sign(t, p.key("k1"), "k1", "x")); err == nil {
		t.Fatal("an ES256 token verified with only RS256 allowed")
	}
	if n := p.downloads.Load(); n != 0 {
		t.Fatalf("%d downloads for a token refused at parsing", n)
	}
}
