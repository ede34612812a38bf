package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey/latchkey/internal/testenv"
	"github.com/latchkey/latchkey/vault/storeserver"
)

// Quiet is a logger that drops everything (tests that want logs pass their own).
var Quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// OpenSQLite opens a SQLite backend in a fresh temporary file.
func OpenSQLite(t testing.TB) *storeserver.SQLite {
	t.Helper()
	b, err := storeserver.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// PostgresURL creates a fresh database in the cluster named by
// LATCHKEY_TEST_POSTGRES (skipping, or failing under CI=true, without one)
// and returns its URL; the database is dropped at the end of the test.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := testenv.Require(t, testenv.Postgres)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to LATCHKEY_TEST_POSTGRES: %v", err)
	}
	defer conn.Close(ctx)
	suffix := make([]byte, 6)
	rand.Read(suffix)
	name := "lk_test_" + hex.EncodeToString(suffix)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// OpenPostgres opens a Postgres backend on dsn, closed at the end of the test.
func OpenPostgres(t testing.TB, dsn string) *storeserver.Postgres {
	t.Helper()
	b, err := storeserver.OpenPostgres(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// Verifier returns the real OIDC verifier of the server for idp (discovery),
// with the production defaults (token cache, key set refetch interval).
func Verifier(t testing.TB, idp *IdP) *storeserver.OIDCVerifier {
	t.Helper()
	return VerifierWith(t, idp, nil)
}

// VerifierWith is Verifier with adjust applied to its configuration first
// (e.g. a short RefetchInterval for a rotation test).
func VerifierWith(t testing.TB, idp *IdP, adjust func(*storeserver.OIDCConfig)) *storeserver.OIDCVerifier {
	t.Helper()
	c := storeserver.OIDCConfig{Issuer: idp.Issuer(), Audience: Audience, AdminClaim: AdminClaim, AdminValue: AdminValue}
	if adjust != nil {
		adjust(&c)
	}
	v, err := storeserver.NewOIDCVerifier(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Server is a store server on real loopback HTTP.
type Server struct {
	*httptest.Server
	Store *storeserver.Server
	// Wrap, if set before requests arrive, wraps the handler (fault
	// injection); guarded by mu.
	mu   sync.Mutex
	wrap func(http.Handler) http.Handler
}

// StartServer serves backend on 127.0.0.1 with tokens from idp.
func StartServer(t testing.TB, backend storeserver.Backend, idp *IdP) *Server {
	t.Helper()
	return StartServerVerifier(t, backend, Verifier(t, idp))
}

// StartServerVerifier serves backend on 127.0.0.1, accepting the tokens v
// accepts.
func StartServerVerifier(t testing.TB, backend storeserver.Backend, v storeserver.Verifier) *Server {
	t.Helper()
	return StartServerConfig(t, storeserver.Config{Backend: backend, Verifier: v, Logger: Quiet})
}

// StartServerConfig serves the server c describes on 127.0.0.1.
func StartServerConfig(t testing.TB, c storeserver.Config) *Server {
	t.Helper()
	s, err := storeserver.New(c)
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{Store: s}
	srv.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		srv.mu.Lock()
		wrap := srv.wrap
		srv.mu.Unlock()
		var h http.Handler = s
		if wrap != nil {
			h = wrap(h)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// SetWrap installs (or, with nil, removes) a handler wrapper.
func (s *Server) SetWrap(w func(http.Handler) http.Handler) {
	s.mu.Lock()
	s.wrap = w
	s.mu.Unlock()
}

// Tap is a TCP proxy on loopback that records every byte the client sends
// and can be switched down (connections refused) and up again.
type Tap struct {
	t      testing.TB
	ln     net.Listener
	target string

	mu   sync.Mutex
	up   bool
	sent []byte
	open []net.Conn
}

// NewTap starts a proxy to target (host:port), up.
func NewTap(t testing.TB, target string) *Tap {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Tap{t: t, ln: ln, target: target, up: true}
	go p.accept()
	t.Cleanup(func() { ln.Close(); p.SetUp(false) })
	return p
}

// URL is http://<proxy address>.
func (p *Tap) URL() string { return "http://" + p.ln.Addr().String() }

// Sent is a copy of every byte clients sent through the proxy.
func (p *Tap) Sent() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]byte(nil), p.sent...)
}

// SetUp switches the proxy: down closes open connections and refuses new
// ones (the store looks unreachable).
func (p *Tap) SetUp(up bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up = up
	if !up {
		for _, c := range p.open {
			c.Close()
		}
		p.open = nil
	}
}

func (p *Tap) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		up := p.up
		if up {
			p.open = append(p.open, c)
		}
		p.mu.Unlock()
		if !up {
			c.Close()
			continue
		}
		go p.pipe(c)
	}
}

func (p *Tap) pipe(c net.Conn) {
	defer c.Close()
	u, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	p.mu.Lock()
	if !p.up { // switched down while dialing: nothing may reach the target now
		p.mu.Unlock()
		u.Close()
		return
	}
	p.open = append(p.open, u)
	p.mu.Unlock()
	defer u.Close()
	done := make(chan struct{})
	go func() {
		io.Copy(c, u)
		c.Close()
		close(done)
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			p.mu.Lock()
			up := p.up
			if up {
				p.sent = append(p.sent, buf[:n]...)
			}
			p.mu.Unlock()
			if !up {
				break
			}
			if _, werr := u.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	u.Close()
	<-done
}

// ConsoleFiles writes into dir what a store serving its console reads from
// files: a fresh secrets key (--secrets-key-file) and the console's OIDC
// client secret (--console-client-secret-file), both 0600.
func ConsoleFiles(t testing.TB, dir, clientSecret string) (keyFile, secretFile string) {
	t.Helper()
	line, err := storeserver.NewSecretsKeyLine()
	if err != nil {
		t.Fatal(err)
	}
	keyFile, secretFile = filepath.Join(dir, "secrets.key"), filepath.Join(dir, "console.secret")
	for f, v := range map[string]string{keyFile: line + "\n", secretFile: clientSecret + "\n"} {
		if err := os.WriteFile(f, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return keyFile, secretFile
}
