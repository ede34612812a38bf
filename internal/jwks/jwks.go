// Package jwks is an identity provider's JSON Web Key Set, downloaded on
// demand, for verifying the signatures of its JWTs. Both the injector (the
// organisation's tokens at the local API) and latchkey-store (at its API)
// use it, through go-oidc's oidc.KeySet interface.
package jwks

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

// MaxBytes bounds a key set document.
const MaxBytes = 1 << 20

// ErrUnknownKey: no key of the set verifies the token (its key id is not in
// the set), and the set was downloaded too recently to look again.
var ErrUnknownKey = errors.New("the token's key id is not in the identity provider's key set")

// Options configure a KeySet.
type Options struct {
	// URL is the provider's jwks_uri.
	URL string
	// HTTPClient downloads the set; nil means http.DefaultClient.
	HTTPClient *http.Client
	// Algorithms are the signature algorithms accepted (asymmetric only).
	Algorithms []string
	// MinRefetch is the least time between two downloads that a token with
	// an unknown key id may trigger; <= 0: no limit.
	MinRefetch time.Duration
	// Timeout bounds one download.
	Timeout time.Duration
	// Context carries what downloads need of the caller (not a request's
	// deadline: downloads are shared); nil means context.Background().
	Context context.Context
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
	// OnChange, when set, is called after a download replaced the keys (a
	// cache of verified tokens forgets what the old set vouched for).
	OnChange func()
}

// KeySet is a provider's key set, downloaded at the first token, and again
// when no key of the set verifies a token (the provider rotated its keys),
// at most once per MinRefetch, so tokens carrying made-up key ids cannot
// make the caller hammer the provider; between downloads such tokens are
// refused. A token whose key id is in the set but whose signature does not
// verify is refused without a download (go-oidc's RemoteKeySet would
// download again). Concurrent callers share one download.
//
// It implements oidc.KeySet.
type KeySet struct {
	o    Options
	algs []jose.SignatureAlgorithm

	mu        sync.Mutex
	keys      []jose.JSONWebKey
	fetched   bool      // a download was attempted
	lastFetch time.Time // when the last download started
	inflight  chan struct{}
	gen       uint64 // bumped at every successful download
}

// New returns the key set of o.URL; nothing is downloaded before the first
// token.
func New(o Options) *KeySet {
	if o.HTTPClient == nil {
		o.HTTPClient = http.DefaultClient
	}
	if o.Context == nil {
		o.Context = context.Background()
	}
	o.Context = context.WithoutCancel(o.Context)
	if o.Now == nil {
		o.Now = time.Now
	}
	algs := make([]jose.SignatureAlgorithm, len(o.Algorithms))
	for i, a := range o.Algorithms {
		algs[i] = jose.SignatureAlgorithm(a)
	}
	return &KeySet{o: o, algs: algs}
}

// VerifySignature checks raw's signature against the key set and returns
// its payload.
func (k *KeySet) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(raw, k.algs)
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
	return nil, ErrUnknownKey
}

// verifyWith tries the keys named kid. found says whether the answer is
// final: a key named kid exists (verified or not), or, for a token without
// a key id, some key verified it.
func verifyWith(jws *jose.JSONWebSignature, keys []jose.JSONWebKey, kid string) (payload []byte, found bool, err error) {
	for i := range keys {
		if kid != "" && keys[i].KeyID != kid {
			continue
		}
		if p, err := jws.Verify(&keys[i]); err == nil {
			return p, true, nil
		}
		found = kid != ""
	}
	if found {
		return nil, true, errors.New("the token's signature does not verify")
	}
	return nil, false, nil
}

func (k *KeySet) snapshot() ([]jose.JSONWebKey, uint64, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.keys, k.gen, k.fetched
}

// Generation counts successful downloads.
func (k *KeySet) Generation() uint64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.gen
}

// refetch downloads the key set if none was downloaded since generation
// seen, and the rate limit allows; concurrent callers share one download.
func (k *KeySet) refetch(ctx context.Context, seen uint64) ([]jose.JSONWebKey, error) {
	k.mu.Lock()
	if k.gen != seen {
		// Someone downloaded it since this caller looked: try that set.
		keys := k.keys
		k.mu.Unlock()
		return keys, nil
	}
	ch := k.inflight
	if ch == nil {
		if k.fetched && k.o.MinRefetch > 0 && k.o.Now().Sub(k.lastFetch) < k.o.MinRefetch {
			k.mu.Unlock()
			return nil, fmt.Errorf("%w (the key set was downloaded less than %s ago)", ErrUnknownKey, k.o.MinRefetch)
		}
		ch = make(chan struct{})
		k.inflight, k.fetched, k.lastFetch = ch, true, k.o.Now()
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
func (k *KeySet) download(done chan struct{}) {
	keys, err := k.get()
	k.mu.Lock()
	if err == nil {
		k.keys = keys
		k.gen++
	}
	k.inflight = nil
	k.mu.Unlock()
	if err == nil && k.o.OnChange != nil {
		k.o.OnChange()
	}
	close(done)
}

func (k *KeySet) get() ([]jose.JSONWebKey, error) {
	ctx := k.o.Context
	if k.o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, k.o.Timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.o.URL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Cache-Control", "no-cache")
	resp, err := k.o.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("key set %s: HTTP %d", k.o.URL, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > MaxBytes {
		return nil, fmt.Errorf("key set %s: larger than %d bytes", k.o.URL, MaxBytes)
	}
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("key set %s: %w", k.o.URL, err)
	}
	var keys []jose.JSONWebKey
	for _, r := range raw.Keys {
		var jwk jose.JSONWebKey
		if err := json.Unmarshal(r, &jwk); err != nil {
			continue // a key type this build does not know: skip it, keep the others
		}
		if jwk.IsPublic() && jwk.Valid() && (jwk.Use == "" || jwk.Use == "sig") {
			keys = append(keys, jwk)
		}
	}
	return keys, nil
}
