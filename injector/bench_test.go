package injector

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/injector/auth"
)

// benchEnv is the proxy with its full per-request work against a ~2 KB
// upstream on loopback.
func benchEnv(b *testing.B) (target, jwt string, client *http.Client) {
	body := `{"data":"` + strings.Repeat("x", 2000) + `"}`
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer upstream-token" {
			w.WriteHeader(401)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}))
	b.Cleanup(up.Close)
	base, _ := url.Parse(up.URL)
	be := &backend{conns: []ConnectedIntegration{{
		Integration: &integ{name: "docebo", base: base},
		Tokens:      &tokens{cur: "upstream-token"},
	}}}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	iss := auth.NewIssuer(priv, auth.DefaultIssuer, "latchkey-injector")
	v, _ := auth.NewVerifier(auth.VerifierConfig{Local: iss})
	s, err := New(Config{Backend: be, Verifier: v, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Serve(ctx, ln); close(done) }()
	b.Cleanup(func() { cancel(); <-done; s.Close() })
	jwt, _ = iss.Mint("bench", []string{"docebo"}, time.Hour)
	client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true}}
	return "http://" + ln.Addr().String() + "/v1/proxy/docebo/api/v1/items", jwt, client
}

func benchGet(b *testing.B, client *http.Client, target, jwt string) {
	req, _ := http.NewRequest("GET", target, nil)
	req.Header.Set("Authorization", "Bearer "+jwt)
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("status %d", resp.StatusCode)
	}
}

func BenchmarkProxySerial(b *testing.B) {
	target, jwt, client := benchEnv(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		benchGet(b, client, target, jwt)
	}
}

func BenchmarkProxyParallel(b *testing.B) {
	target, jwt, client := benchEnv(b)
	b.SetParallelism(16)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			benchGet(b, client, target, jwt)
		}
	})
}
