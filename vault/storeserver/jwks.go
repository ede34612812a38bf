package storeserver

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

// DefaultRefetchInterval is the least time between two key set downloads
// that a token with an unknown key id may trigger.
const DefaultRefetchInterval = 30 * time.Second

// maxJWKSBytes bounds a key set document.
const maxJWKSBytes = 1 << 20

// keySet is the IdP's key set, downloaded on demand: at the first token,
// and again when a token names a key id the set does not hold (the IdP
// rotated its keys) — but at most once per interval, so tokens carrying
// made-up key ids cannot make the store hammer the IdP. Between downloads
// such tokens are refused. A token whose key id is known but whose
// signature does not verify is refused without a download (go-oidc's
// RemoteKeySet would refetch for that too).
//
// It implements oidc.KeySet.
type keySet struct {
	url      string
	hc       *http.Client
	ctx      context.Context // for downloads: carries no deadline of a request
	interval time.Duration   // <= 0: no limit
	now      func() time.Time
	// onChange is called after a download replaced the keys (the verified
	// token cache forgets what the old set vouched for).
	onChange func()

	mu        sync.Mutex
	keys      []jose.JSONWebKey
	fetched   bool      // a download was attempted
	lastFetch time.Time // when the last download started
	inflight  chan struct{}
	gen       uint64 // bumped at every successful download
}

func newKeySet(ctx context.Context, url string, hc *http.Client, interval time.Duration) *keySet {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &keySet{url: url, hc: hc, ctx: context.WithoutCancel(ctx), interval: interval, now: time.Now}
}

// errUnknownKey: the token's key id is not in the key set, and the set was
// downloaded too recently to look again.
var errUnknownKey = errors.New("the token's key id is not in the identity provider's key set")

// VerifySignature checks jwt's signature against the key set and returns
// its payload.
func (k *keySet) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(raw, allowedJOSEAlgs())
	if err != nil {
		return nil, fmt.Errorf("malformed jwt: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("the token must carry exactly one signature")
	}
	kid := jws.Signatures[0].Header.KeyID
	keys, gen, fetched := k.snapshot()
	if fetched {
		if payload, found, err := verifyWith(jws, keys, kid); found {
			return payload, err
		}
	}
	// Unknown key id (or no key set yet): download, unless the last
	// download was too recent.
	keys, err = k.refetch(ctx, gen)
	if err != nil {
		return nil, err
	}
	if payload, found, err := verifyWith(jws, keys, kid); found {
		return payload, err
	}
	return nil, errUnknownKey
}

// verifyWith tries the keys named kid (every key when kid is empty); found
// says whether there was such a key at all.
func verifyWith(jws *jose.JSONWebSignature, keys []jose.JSONWebKey, kid string) (payload []byte, found bool, err error) {
	for i := range keys {
		if kid != "" && keys[i].KeyID != kid {
			continue
		}
		found = true
		if p, err := jws.Verify(&keys[i]); err == nil {
			return p, true, nil
		}
	}
	if found {
		return nil, true, errors.New("the token's signature does not verify")
	}
	return nil, false, nil
}

func (k *keySet) snapshot() ([]jose.JSONWebKey, uint64, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.keys, k.gen, k.fetched
}

// generation counts successful downloads.
func (k *keySet) generation() uint64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.gen
}

// refetch downloads the key set if none was downloaded since generation
// seen, and the rate limit allows; concurrent callers share one download.
func (k *keySet) refetch(ctx context.Context, seen uint64) ([]jose.JSONWebKey, error) {
	k.mu.Lock()
	if k.gen != seen {
		// Someone downloaded it since this caller looked: try that set.
		keys := k.keys
		k.mu.Unlock()
		return keys, nil
	}
	ch := k.inflight
	if ch == nil {
		if k.fetched && k.interval > 0 && k.now().Sub(k.lastFetch) < k.interval {
			k.mu.Unlock()
			return nil, fmt.Errorf("%w (the key set was downloaded less than %s ago)", errUnknownKey, k.interval)
		}
		ch = make(chan struct{})
		k.inflight, k.fetched, k.lastFetch = ch, true, k.now()
		go k.download(ch)
	}
	k.mu.Unlock()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-ch:
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.gen == seen {
		return nil, errors.New("the identity provider's key set could not be downloaded")
	}
	return k.keys, nil
}

// download fetches the key set and, on success, installs it.
func (k *keySet) download(done chan struct{}) {
	keys, err := k.get()
	k.mu.Lock()
	if err == nil {
		k.keys = keys
		k.gen++
	}
	k.inflight = nil
	onChange := k.onChange
	k.mu.Unlock()
	if err == nil && onChange != nil {
		onChange()
	}
	close(done)
}

func (k *keySet) get() ([]jose.JSONWebKey, error) {
	ctx, cancel := context.WithTimeout(k.ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Cache-Control", "no-cache")
	resp, err := k.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("key set %s: HTTP %d", k.url, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("key set %s: larger than %d bytes", k.url, maxJWKSBytes)
	}
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("key set %s: %w", k.url, err)
	}
	var keys []jose.JSONWebKey
	for _, r := range raw.Keys {
		var jwk jose.JSONWebKey
		if err := json.Unmarshal(r, &jwk); err != nil {
			continue // a key type this build does not know: skip it, keep the others
		}
		if jwk.IsPublic() && (jwk.Use == "" || jwk.Use == "sig") {
			keys = append(keys, jwk)
		}
	}
	return keys, nil
}

func allowedJOSEAlgs() []jose.SignatureAlgorithm {
	out := make([]jose.SignatureAlgorithm, len(AllowedAlgs))
	for i, a := range AllowedAlgs {
		out[i] = jose.SignatureAlgorithm(a)
	}
	return out
}
