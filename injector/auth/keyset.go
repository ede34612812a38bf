package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// keySet is an oidc.KeySet over a provider's JWKS: keys are cached, and a
// token naming a kid that is not cached triggers a re-fetch, at most once per
// minGap (go-oidc's RemoteKeySet re-fetches on every miss, which lets anyone
// with a made-up kid make the daemon hammer the provider).
type keySet struct {
	url    string
	client *http.Client
	algs   []string
	minGap time.Duration
	now    func() time.Time

	mu        sync.Mutex // serialises fetches; guards the fields below
	keys      []jose.JSONWebKey
	lastFetch time.Time
}

// VerifySignature implements oidc.KeySet. go-oidc has already checked the
// algorithm against the allow-list; it is checked again here.
func (k *keySet) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	algs := make([]jose.SignatureAlgorithm, len(k.algs))
	for i, a := range k.algs {
		algs[i] = jose.SignatureAlgorithm(a)
	}
	jws, err := jose.ParseSignedCompact(raw, algs)
	if err != nil {
		return nil, fmt.Errorf("malformed jwt: %v", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("exactly one signature required")
	}
	kid := jws.Signatures[0].Header.KeyID

	k.mu.Lock()
	defer k.mu.Unlock()
	if p, ok := k.try(jws, kid); ok {
		return p, nil
	}
	if k.has(kid) && kid != "" {
		// Known key, bad signature: no point fetching.
		return nil, errors.New("signature does not verify")
	}
	now := k.now()
	if !k.lastFetch.IsZero() && now.Sub(k.lastFetch) < k.minGap {
		return nil, errors.New("unknown signing key (key set fetched recently)")
	}
	k.lastFetch = now
	keys, err := k.fetch(context.WithoutCancel(ctx))
	if err != nil {
		return nil, fmt.Errorf("fetching signing keys: %w", err)
	}
	k.keys = keys
	if p, ok := k.try(jws, kid); ok {
		return p, nil
	}
	return nil, errors.New("signature does not verify")
}

func (k *keySet) has(kid string) bool {
	for i := range k.keys {
		if k.keys[i].KeyID == kid {
			return true
		}
	}
	return false
}

func (k *keySet) try(jws *jose.JSONWebSignature, kid string) ([]byte, bool) {
	for i := range k.keys {
		key := &k.keys[i]
		if kid != "" && key.KeyID != kid {
			continue
		}
		if key.Use != "" && key.Use != "sig" {
			continue
		}
		if p, err := jws.Verify(key); err == nil {
			return p, true
		}
	}
	return nil, false
}

func (k *keySet) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("JWKS endpoint answered HTTP %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("JWKS is not valid JSON: %v", err)
	}
	out := set.Keys[:0]
	for _, key := range set.Keys {
		if key.IsPublic() && key.Valid() {
			out = append(out, key)
		}
	}
	return out, nil
}
