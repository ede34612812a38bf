package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/injector"
	"github.com/latchkey/latchkey/injector/auth"
	"github.com/latchkey/latchkey/integrations"
	"github.com/latchkey/latchkey/vault/envelope"
)

// upstreamToken is the harness's made-up upstream credential (not a secret:
// it only opens the harness's own upstream).
const upstreamToken = "bench-upstream-token-0123456789abcdef"

func numCPU() int { return runtime.GOMAXPROCS(0) }

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// runUpstream serves a ~2 KB JSON body to requests with the right
// Authorization header, 401 to the others.
func runUpstream() error {
	var items []map[string]any
	for i := 0; len(items) < 40; i++ {
		items = append(items, map[string]any{"id": i, "title": fmt.Sprintf("Course %02d", i), "status": "in_progress"})
	}
	body, _ := json.Marshal(map[string]any{"data": map[string]any{"items": items}})
	for len(body) < 2048 {
		body = append(body[:len(body)-1], []byte(`,"pad":"`+strings.Repeat("x", 2048-len(body))+`"}`)...)
	}
	want := "Bearer " + upstreamToken
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("ADDR %s\n", ln.Addr())
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != want {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})}
	ctx, stop := signalContext()
	defer stop()
	go func() { <-ctx.Done(); srv.Close() }()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// benchIntegration is the upstream as an integration.
type benchIntegration struct{ base *url.URL }

func (b benchIntegration) Name() string      { return "bench" }
func (b benchIntegration) BaseURL() *url.URL { return b.base }

// sealedTokens opens the token from a sealed envelope on every call, as the
// daemon's vault does.
type sealedTokens struct {
	key     []byte
	keyID   string
	binding envelope.Binding
	sealed  string
}

func (s *sealedTokens) Token(ctx context.Context) (*oauth2.Token, error) {
	pt, err := envelope.Open(s.key, s.keyID, s.binding, s.sealed)
	if err != nil {
		return nil, err
	}
	var tok oauth2.Token
	err = json.Unmarshal(pt, &tok)
	clear(pt)
	if err != nil {
		return nil, err
	}
	return &tok, nil
}

func (s *sealedTokens) Refresh(ctx context.Context, rejected *oauth2.Token) (*oauth2.Token, error) {
	return s.Token(ctx)
}

// benchBackend is a Backend with one integration.
type benchBackend struct {
	ci     injector.ConnectedIntegration
	audits atomic.Int64
}

func (b *benchBackend) Status(ctx context.Context) (any, error) { return map[string]any{}, nil }
func (b *benchBackend) Connected(ctx context.Context) ([]injector.ConnectedIntegration, error) {
	return []injector.ConnectedIntegration{b.ci}, nil
}
func (b *benchBackend) Lookup(name string) (injector.ConnectedIntegration, bool) {
	return b.ci, name == "bench"
}
func (b *benchBackend) StartConnect(ctx context.Context, name string) (string, error) {
	return "", integrations.ErrNotConnected
}
func (b *benchBackend) FinishConnect(ctx context.Context, name string, q url.Values) error {
	return integrations.ErrNotConnected
}
func (b *benchBackend) Disconnect(ctx context.Context, name string) error { return nil }
func (b *benchBackend) Audit(ctx context.Context, e injector.AuditEntry) {
	b.audits.Add(1)
}
func (b *benchBackend) Reader(ctx context.Context) integrations.Reader { return integrations.Reader{} }

func runInjector(cpuprofile string) error {
	if n, err := strconv.Atoi(os.Getenv("LATCHKEY_BENCH_PROCS")); err == nil && n > 0 {
		runtime.GOMAXPROCS(n)
	}
	upAddr := os.Getenv("LATCHKEY_BENCH_UPSTREAM")
	base, err := integrations.CheckBaseURL("http://" + upAddr)
	if err != nil {
		return err
	}
	key := make([]byte, 32)
	rand.Read(key)
	kid := make([]byte, 8)
	rand.Read(kid)
	keyID := hex.EncodeToString(kid)
	binding := envelope.Binding{User: "bench", Device: "bench-device", Integration: "bench"}
	plain, _ := json.Marshal(&oauth2.Token{AccessToken: upstreamToken, TokenType: "Bearer",
		RefreshToken: "bench-refresh", Expiry: time.Now().Add(24 * time.Hour)})
	sealed, err := envelope.Seal(key, keyID, binding, plain)
	if err != nil {
		return err
	}
	be := &benchBackend{ci: injector.ConnectedIntegration{
		Integration: benchIntegration{base: base},
		Tokens:      &sealedTokens{key: key, keyID: keyID, binding: binding, sealed: sealed},
	}}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	iss := auth.NewIssuer(priv, auth.DefaultIssuer, "latchkey-injector")
	v, err := auth.NewVerifier(auth.VerifierConfig{Local: iss})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv, err := injector.New(injector.Config{
		Listen:   ln.Addr().String(),
		Backend:  be,
		Verifier: v,
		Issuer:   iss,
		Logger:   slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	jwt, err := iss.Mint("bench", []string{"bench"}, 2*time.Hour)
	if err != nil {
		return err
	}
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	fmt.Printf("ADDR %s\nJWT %s\n", ln.Addr(), jwt)
	os.Stdout.Sync()
	ctx, stop := signalContext()
	defer stop()
	err = srv.Serve(ctx, ln)
	fmt.Fprintf(io.Discard, "%d audited\n", be.audits.Load())
	return err
}
