package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/vault/storeserver/storetest"
)

// serve runs `latchkey-store serve args…` until the test ends and returns
// the bound address.
func serve(t *testing.T, args ...string) string {
	t.Helper()
	addr, _ := serveWithMetrics(t, args...)
	return addr
}

// serveWithMetrics is serve that also returns the address of the metrics
// listener ("" when --metrics-listen was not given).
func serveWithMetrics(t *testing.T, args ...string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	var metricsAddr string
	done := make(chan error, 1)
	cmd := newRootCmd(io.Discard, io.Discard, func(listener, a string) {
		if listener == "metrics" {
			metricsAddr = a // Run reports it before the API listener
			return
		}
		addr <- a
	})
	cmd.SetArgs(append([]string{"serve"}, args...))
	go func() { done <- cmd.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve after shutdown: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("serve did not shut down")
		}
	})
	select {
	case a := <-addr:
		return a, metricsAddr
	case err := <-done:
		t.Fatalf("serve: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not start")
	}
	return "", ""
}

func TestServeSQLiteWithEnv(t *testing.T) {
	idp := storetest.NewIdP(t)
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	// Flags from the environment; the command line wins over it.
	t.Setenv("LATCHKEY_STORE_ISSUER", idp.Issuer())
	t.Setenv("LATCHKEY_STORE_AUDIENCE", storetest.Audience)
	t.Setenv("LATCHKEY_STORE_LISTEN", "127.0.0.1:1") // overridden below
	t.Setenv("LATCHKEY_STORE_ADMIN_CLAIM", storetest.AdminClaim)
	t.Setenv("LATCHKEY_STORE_ADMIN_VALUE", storetest.AdminValue)
	addr := serve(t, "--listen", "127.0.0.1:0")
	base := "http://" + addr
	resp, err := http.Get(base + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", err, resp)
	}
	resp.Body.Close()
	for _, tc := range []struct {
		tok  string
		path string
		want int
	}{
		{"", "/v1/records", 401},
		{idp.Token("alice", storetest.Claims{}), "/v1/records", 200},
		{idp.Token("alice", storetest.Claims{}), "/v1/admin/records", 403},
		{idp.Token("boss", storetest.Claims{Admin: true}), "/v1/admin/records", 200},
	} {
		req, _ := http.NewRequest("GET", base+tc.path, nil)
		if tc.tok != "" {
			req.Header.Set("Authorization", "Bearer "+tc.tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET %s: %d, want %d", tc.path, resp.StatusCode, tc.want)
		}
	}
	// The default database is in the XDG state directory, private.
	db := filepath.Join(state, "latchkey", "store.db")
	fi, err := os.Stat(db)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("default database %s: %v %v", db, err, fi)
	}
	di, _ := os.Stat(filepath.Dir(db))
	if di.Mode().Perm() != 0o700 {
		t.Fatalf("state directory mode %v", di.Mode())
	}
}

func TestServeRefusals(t *testing.T) {
	idp := storetest.NewIdP(t)
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"plain http off loopback": {[]string{"--listen", "0.0.0.0:0", "--jwks-url", idp.JWKSURL(), "--audience", "a"}, "loopback only"},
		"no identity provider":    {[]string{"--listen", "127.0.0.1:0", "--audience", "a"}, "--issuer"},
		"no audience":             {[]string{"--listen", "127.0.0.1:0", "--jwks-url", idp.JWKSURL()}, "--audience"},
		"half an admin rule":      {[]string{"--listen", "127.0.0.1:0", "--jwks-url", idp.JWKSURL(), "--audience", "a", "--admin-claim", "groups"}, "--admin-value"},
		"bad database":            {[]string{"--listen", "127.0.0.1:0", "--jwks-url", idp.JWKSURL(), "--audience", "a", "--db", "mysql://x"}, "--db"},
		"half tls":                {[]string{"--listen", "0.0.0.0:0", "--tls-cert", "c.pem", "--jwks-url", idp.JWKSURL(), "--audience", "a"}, "--tls-key"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv("XDG_STATE_HOME", t.TempDir())
			cmd := newRootCmd(io.Discard, io.Discard, nil)
			cmd.SetArgs(append([]string{"serve"}, tc.args...))
			err := cmd.ExecuteContext(t.Context())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

func TestServeTLSAndJWKSURL(t *testing.T) {
	idp := storetest.NewIdP(t)
	dir := t.TempDir()
	certPEM, keyPEM := selfSigned(t)
	certF, keyF := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certF, certPEM, 0o600)
	os.WriteFile(keyF, keyPEM, 0o600)
	addr := serve(t, "--listen", "127.0.0.1:0", "--tls-cert", certF, "--tls-key", keyF,
		"--jwks-url", idp.JWKSURL(), "--audience", storetest.Audience,
		"--db", "sqlite://"+filepath.Join(dir, "s.db"), "--log-format", "json")
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	_, port, _ := net.SplitHostPort(addr)
	req, _ := http.NewRequest("GET", "https://localhost:"+port+"/v1/records", nil)
	req.Header.Set("Authorization", "Bearer "+idp.Token("alice", storetest.Claims{}))
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("over TLS: %d", resp.StatusCode)
	}
	// Plain HTTP to the TLS port is not served.
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP answered on the TLS listener")
		}
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	cmd := newRootCmd(&out, io.Discard, nil)
	cmd.SetArgs([]string{"version"})
	if err := cmd.Execute(); err != nil || !strings.HasPrefix(out.String(), "latchkey-store ") {
		t.Fatalf("version: %v %q", err, out.String())
	}
}

func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(k)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}

// TestServeMetricsOnlyWhenAsked: /metrics is not on the API listener; it is
// served, without a token, only on --metrics-listen, which serves nothing
// else and follows the loopback rule.
func TestServeMetricsOnlyWhenAsked(t *testing.T) {
	idp := storetest.NewIdP(t)
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	common := []string{"--listen", "127.0.0.1:0", "--jwks-url", idp.JWKSURL(), "--audience", storetest.Audience}

	addr, maddr := serveWithMetrics(t, common...)
	if maddr != "" {
		t.Fatalf("a metrics listener at %s without --metrics-listen", maddr)
	}
	if code, body := get("http://" + addr + "/metrics"); code != 404 || strings.Contains(body, "latchkey_store_") {
		t.Fatalf("GET /metrics on the API listener without a token: %d %.80q, want 404", code, body)
	}

	addr, maddr = serveWithMetrics(t, append(common, "--metrics-listen", "127.0.0.1:0")...)
	if maddr == "" || maddr == addr {
		t.Fatalf("metrics listener %q, API %q", maddr, addr)
	}
	if code, _ := get("http://" + addr + "/healthz"); code != 200 {
		t.Fatalf("healthz: %d", code)
	}
	if code, body := get("http://" + addr + "/metrics"); code != 404 || strings.Contains(body, "latchkey_store_") {
		t.Fatalf("GET /metrics on the API listener: %d, want 404", code)
	}
	code, body := get("http://" + maddr + "/metrics")
	if code != 200 || !strings.Contains(body, `latchkey_store_requests_total{code="200",route="GET /healthz"} 1`) {
		t.Fatalf("GET /metrics on the metrics listener: %d %.200q", code, body)
	}
	if code, _ := get("http://" + maddr + "/v1/records"); code != 404 {
		t.Fatalf("the metrics listener serves the API: %d", code)
	}

	cmd := newRootCmd(io.Discard, io.Discard, nil)
	cmd.SetArgs(append([]string{"serve"}, append(common, "--metrics-listen", "0.0.0.0:0")...))
	if err := cmd.ExecuteContext(t.Context()); err == nil || !strings.Contains(err.Error(), "--metrics-listen") || !strings.Contains(err.Error(), "loopback only") {
		t.Fatalf("plain-HTTP metrics off loopback: %v", err)
	}
}

// gen-man (hidden; make package runs it) writes one page per command, the
// serve flags in serve's page.
func TestGenMan(t *testing.T) {
	dir := t.TempDir()
	cmd := newRootCmd(io.Discard, io.Discard, nil)
	cmd.SetArgs([]string{"gen-man", dir})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(dir, "latchkey-store-serve.1"))
	if err != nil || !bytes.Contains(page, []byte("secrets-key-file")) || !bytes.Contains(page, []byte(".TH")) {
		t.Fatalf("latchkey-store-serve.1: %v\n%s", err, page)
	}
	if _, err := os.Stat(filepath.Join(dir, "latchkey-store-gen-man.1")); err == nil {
		t.Error("the hidden gen-man command has a man page")
	}
}
