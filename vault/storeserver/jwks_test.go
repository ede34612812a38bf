package storeserver_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/vault/storeserver"
	"github.com/latchkey/latchkey/vault/storeserver/storetest"
)

func randomKid(t *testing.T) string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// status GETs /v1/records on srv with token.
func status(t *testing.T, srv *storetest.Server, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL+"/v1/records", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Tokens with made-up key ids must not make the store download the IdP's
// key set for each of them.
func TestUnknownKeyIDsRefetchAtMostOncePerInterval(t *testing.T) {
	t.Parallel()
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, warm := range []bool{false, true} {
		name := map[bool]string{false: "cold", true: "warm"}[warm]
		t.Run(name, func(t *testing.T) {
			idp := storetest.NewIdP(t)
			srv := storetest.StartServer(t, storetest.OpenSQLite(t), idp) // the default 30 s interval
			good := idp.Token("alice", storetest.Claims{})
			if warm {
				if code := status(t, srv, good); code != 200 {
					t.Fatalf("valid token: %d", code)
				}
			}
			before := idp.JWKSFetches()
			var wg sync.WaitGroup
			codes := make([]int, 100)
			for i := range codes {
				tok := idp.Token("mallory", storetest.Claims{KeyID: randomKid(t), Key: other})
				wg.Add(1)
				go func() {
					defer wg.Done()
					codes[i] = status(t, srv, tok)
				}()
			}
			wg.Wait()
			for i, c := range codes {
				if c != http.StatusUnauthorized {
					t.Fatalf("token %d with a made-up key id: %d", i, c)
				}
			}
			if n := idp.JWKSFetches() - before; n > 1 {
				t.Fatalf("100 tokens with unknown key ids caused %d key set downloads, want at most 1", n)
			}
			// A known key id with a signature by another key: refused, no download.
			before = idp.JWKSFetches()
			if code := status(t, srv, idp.Token("mallory", storetest.Claims{Key: other})); code != http.StatusUnauthorized {
				t.Fatalf("forged signature under a known key id: %d", code)
			}
			if n := idp.JWKSFetches() - before; n != 0 {
				t.Fatalf("a bad signature under a known key id caused %d downloads", n)
			}
			// The real key still works throughout, without another download.
			if code := status(t, srv, good); code != 200 {
				t.Fatalf("valid token after the flood: %d", code)
			}
			if n := idp.JWKSFetches() - before; n != 0 {
				t.Fatalf("valid token caused %d downloads", n)
			}
		})
	}
}

// A rotation is picked up once the interval has passed, with one download
// however many tokens name the new key id at once.
func TestRotationSeenAfterRefetchInterval(t *testing.T) {
	t.Parallel()
	idp := storetest.NewIdP(t)
	const interval = 300 * time.Millisecond
	v := storetest.VerifierWith(t, idp, func(c *storeserver.OIDCConfig) { c.RefetchInterval = interval })
	srv := storetest.StartServerVerifier(t, storetest.OpenSQLite(t), v)
	first := time.Now() // before the first download starts
	if code := status(t, srv, idp.Token("alice", storetest.Claims{})); code != 200 {
		t.Fatalf("first token: %d", code)
	}
	before := idp.JWKSFetches()
	idp.Rotate(false)
	rotated := idp.Token("alice", storetest.Claims{})
	deadline := time.Now().Add(5 * time.Second)
	for status(t, srv, rotated) != 200 {
		if time.Now().After(deadline) {
			t.Fatal("the rotated key was never accepted")
		}
		time.Sleep(20 * time.Millisecond) // polling an observable condition, bounded
	}
	if since := time.Since(first); since < interval {
		t.Fatalf("the rotated key was fetched after %s, before the %s interval", since, interval)
	}
	if n := idp.JWKSFetches() - before; n != 1 {
		t.Fatalf("%d key set downloads for the rotation, want 1", n)
	}
}
