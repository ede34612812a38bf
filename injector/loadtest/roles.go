package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/injector"
	"github.com/latchkey/latchkey/injector/auth"
	"github.com/latchkey/latchkey/integrations"
	"github.com/latchkey/latchkey/vault"
	"github.com/latchkey/latchkey/vault/keychain"
	"github.com/latchkey/latchkey/vault/store"
	"github.com/latchkey/latchkey/vault/store/sqlitestore"
)

// upstreamToken is the harness's made-up upstream credential (not a secret:
// it only opens the harness's own upstream).
const upstreamToken = "bench-upstream-token-0123456789abcdef"

func numCPU() int { return runtime.GOMAXPROCS(0) }

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// Upstream paths besides the data path (any other path): Docebo's token
// endpoint and the session lookup the daemon makes once it is connected.
const (
	upstreamTokenPath   = "/oauth2/token"
	upstreamSessionPath = "/manage/v1/user/session"
	// benchClientID is the client id the daemon under test is configured
	// with; the client secret is upstreamClientSecret.
	benchClientID = "latchkey-bench"
	// upstreamClientSecret is the harness's made-up client secret (not a
	// secret: it only opens the harness's own token endpoint).
	upstreamClientSecret = "bench-client-secret-0123456789"
	// upstreamTokenLifetime is the expires_in of the access token the token
	// endpoint hands out: a day, so the daemon does not refresh during a
	// run.
	upstreamTokenLifetime = 24 * time.Hour
)

// runUpstream serves a ~2 KB JSON body to requests with the right
// Authorization header, 401 to the others. It also answers Docebo's token
// endpoint (client_credentials with the bench client, a day-long access
// token) and its session lookup, so that the real daemon can connect to it.
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
	tokenBody, _ := json.Marshal(map[string]any{"access_token": upstreamToken, "token_type": "Bearer",
		"expires_in": int(upstreamTokenLifetime / time.Second), "scope": "api"})
	sessionBody := []byte(`{"data":{"id":"1","username":"bench","firstname":"Bench","lastname":"User","email":"bench@example.invalid"}}`)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == upstreamTokenPath {
			if r.Method != http.MethodPost || r.ParseForm() != nil || r.PostForm.Get("grant_type") != "client_credentials" ||
				r.PostForm.Get("client_id") != benchClientID || r.PostForm.Get("client_secret") != upstreamClientSecret {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				w.Write([]byte(`{"error":"invalid_client","error_description":"the bench token endpoint takes client_credentials from the bench client only"}`))
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Write(tokenBody)
			return
		}
		if r.Header.Get("Authorization") != want {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == upstreamSessionPath {
			w.Write(sessionBody)
			return
		}
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

// vaultTokens reads the token through the daemon's vault on every call, as
// the daemon's token manager does: the sealed record from the SQLite store
// (its per-request record cache), opened and decoded.
type vaultTokens struct {
	v    *vault.Vault
	name string
}

func (t vaultTokens) Token(ctx context.Context) (*oauth2.Token, error) {
	tok, _, err := t.v.LoadToken(ctx, t.name)
	return tok, err
}

// CallToken is the proxy's per-request read, as the daemon's token manager
// does it: the access token alone.
func (t vaultTokens) CallToken(ctx context.Context) (*oauth2.Token, error) {
	return t.v.LoadAccessToken(ctx, t.name)
}

func (t vaultTokens) Refresh(ctx context.Context, rejected *oauth2.Token) (*oauth2.Token, error) {
	tok, _, err := t.v.LoadLatestToken(ctx, t.name)
	return tok, err
}

// benchBackend is a Backend with one integration whose audit trail goes to
// the SQLite store, as the daemon's does.
type benchBackend struct {
	ci injector.ConnectedIntegration
	st *sqlitestore.Store
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
func (b *benchBackend) Audit(ctx context.Context, entries []injector.AuditEntry) {
	rows := make([]store.AuditRow, len(entries))
	for i, e := range entries {
		rows[i] = store.AuditRow{Time: e.Time, Caller: e.Caller, Integration: e.Integration,
			Method: e.Method, Path: e.Path, Status: e.Status, Duration: e.Duration}
	}
	if err := b.st.AppendAudit(ctx, rows...); err != nil {
		fmt.Fprintln(os.Stderr, "audit:", err)
	}
}
func (b *benchBackend) Reader(ctx context.Context) integrations.Reader { return integrations.Reader{} }

// openBenchVault opens a vault as the daemon does (SQLite store, salt in a
// keychain) in dir and seals a token of the shape Docebo's token endpoint
// returns. The keychain is the file keychain with a cheap KDF: the salt is
// read once, at start, so which keychain holds it does not change the
// per-request work.
func openBenchVault(ctx context.Context, dir string) (*vault.Vault, *sqlitestore.Store, error) {
	st, err := sqlitestore.Open(filepath.Join(dir, "latchkey.db"))
	if err != nil {
		return nil, nil, err
	}
	kc, err := keychain.FileWithKDF(filepath.Join(dir, "keychain.json"), []byte("bench"),
		keychain.KDFParams{Time: 1, MemoryKiB: 8 << 10, Threads: 1})
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	v, _, err := vault.Open(ctx, vault.Options{Keychain: kc, Store: st, User: "bench"})
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	tok := (&oauth2.Token{AccessToken: upstreamToken, TokenType: "Bearer",
		RefreshToken: "bench-refresh-0123456789abcdef", Expiry: time.Now().Add(24 * time.Hour), ExpiresIn: 3600}).
		WithExtra(map[string]any{"access_token": upstreamToken, "token_type": "Bearer", "expires_in": 3600.0,
			"scope": "api", "refresh_token": "bench-refresh-0123456789abcdef"})
	if err := v.SaveToken(ctx, "bench", tok, nil, false); err != nil {
		st.Close()
		return nil, nil, err
	}
	return v, st, nil
}

func runInjector(cpuprofile string) error {
	if n, err := strconv.Atoi(os.Getenv("LATCHKEY_BENCH_PROCS")); err == nil && n > 0 {
		runtime.GOMAXPROCS(n)
	}
	upAddr := os.Getenv("LATCHKEY_BENCH_UPSTREAM")
	base, err := integrations.CheckBaseURL("http://" + upAddr)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "latchkey-bench-vault-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	vlt, st, err := openBenchVault(context.Background(), dir)
	if err != nil {
		return err
	}
	defer st.Close()
	be := &benchBackend{st: st, ci: injector.ConnectedIntegration{
		Integration: benchIntegration{base: base},
		Tokens:      vaultTokens{v: vlt, name: "bench"},
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
	return err
}
