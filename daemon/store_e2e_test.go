package daemon

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/client/apitype"
	"github.com/latchkey/latchkey/integrations/docebo/sandbox"
	d360 "github.com/latchkey/latchkey/integrations/document360/sandbox"
	"github.com/latchkey/latchkey/internal/httpstatus"
	"github.com/latchkey/latchkey/vault"
	"github.com/latchkey/latchkey/vault/store"
	"github.com/latchkey/latchkey/vault/store/remotestore"
	"github.com/latchkey/latchkey/vault/storeserver"
	"github.com/latchkey/latchkey/vault/storeserver/storetest"
)

// The daemon's remote-store side end to end: a real latchkey-store
// (in-process, real loopback HTTP, behind a recording TCP proxy) on SQLite
// and on PostgreSQL, verifying JWTs of a real OIDC provider; a real daemon
// signed in to that provider, connected to the Docebo sandbox.

func TestStoreE2ESQLite(t *testing.T) {
	t.Parallel()
	runStoreE2E(t, openE2ESQLite)
}

func TestStoreE2EPostgres(t *testing.T) {
	t.Parallel()
	runStoreE2E(t, openE2EPostgres)
}

// e2eClientID is the identity client id configured in the daemon; the ID
// token is for it and for the store (aud holds both).
const e2eClientID = "latchkey-desktop"

// e2eBackend is a store backend plus a dump of everything it persisted.
type e2eBackend struct {
	name string
	b    storeserver.Backend
	dump func(t *testing.T) []byte
}

func openE2ESQLite(t *testing.T) e2eBackend {
	b := storetest.OpenSQLite(t)
	return e2eBackend{name: "the SQLite file", b: b, dump: func(t *testing.T) []byte {
		t.Helper()
		var all []byte
		for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
			data, err := os.ReadFile(b.Path() + suffix)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			all = append(all, data...)
		}
		if len(all) == 0 {
			t.Fatal("the store's SQLite file is empty")
		}
		return all
	}}
}

func openE2EPostgres(t *testing.T) e2eBackend {
	dsn := storetest.PostgresURL(t) // skips (or fails under CI=true) without PostgreSQL
	b := storetest.OpenPostgres(t, dsn)
	return e2eBackend{name: "the PostgreSQL tables", b: b, dump: func(t *testing.T) []byte {
		t.Helper()
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var all bytes.Buffer
		for _, table := range []string{"records", "revocations"} {
			rows, err := conn.Query(ctx, "SELECT t::text FROM "+table+" t")
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var s string
				if err := rows.Scan(&s); err != nil {
					t.Fatal(err)
				}
				all.WriteString(s + "\n")
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
		}
		return all.Bytes()
	}}
}

// storeLog records every request the store server answered.
type storeLog struct {
	mu       sync.Mutex
	reqs     []storeReq
	inFlight int
}

type storeReq struct {
	Method, Path string
	Status       int
}

func (l *storeLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.inFlight++
		l.mu.Unlock()
		cw := httpstatus.NewRecorder(w)
		h.ServeHTTP(cw, r)
		l.mu.Lock()
		l.inFlight--
		l.reqs = append(l.reqs, storeReq{r.Method, r.URL.Path, cw.Status()})
		l.mu.Unlock()
	})
}

// mark is a position in the log, taken once no request is being answered:
// a request the store received before the tap went down is logged when it
// is answered, which must not count as one that reached it after.
func (l *storeLog) mark(t *testing.T) int {
	t.Helper()
	waitFor(t, "requests the store is answering finish", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.inFlight == 0
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.reqs)
}

// since returns the requests answered after mark.
func (l *storeLog) since(mark int) []storeReq {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]storeReq(nil), l.reqs[mark:]...)
}

// count counts the requests after mark with method and path; ok: only 2xx.
func (l *storeLog) count(mark int, method, path string, ok bool) int {
	n := 0
	for _, r := range l.since(mark) {
		if r.Method == method && r.Path == path && (!ok || r.Status/100 == 2) {
			n++
		}
	}
	return n
}

// waitFor polls cond until it holds or 20 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond) // polling an observable condition, bounded
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// secretSet is every secret that must never reach the store, by name.
type secretSet map[string][]byte

func (s secretSet) addToken(name string, tok *oauth2.Token) {
	if tok.AccessToken != "" {
		s[name+" access token"] = []byte(tok.AccessToken)
	}
	if tok.RefreshToken != "" {
		s[name+" refresh token"] = []byte(tok.RefreshToken)
	}
}

// secretForms are the ways a secret could show up: as is, in hex, and in
// standard or URL-safe base64 at any byte offset of a larger encoded blob
// (the part of the encoding that does not depend on the neighbouring bytes).
func secretForms(secret []byte) map[string][]byte {
	forms := map[string][]byte{"raw": secret, "hex": []byte(hex.EncodeToString(secret))}
	for name, enc := range map[string]*base64.Encoding{"base64": base64.StdEncoding, "base64url": base64.URLEncoding} {
		for shift := 0; shift < 3; shift++ {
			s := strings.TrimRight(enc.EncodeToString(append(make([]byte, shift), secret...)), "=")
			start := 0
			if shift > 0 {
				start = 4
			}
			if len(s)-4 > start+8 {
				forms[fmt.Sprintf("%s@%d", name, shift)] = []byte(s[start : len(s)-4])
			}
		}
	}
	return forms
}

// assertNoSecrets fails if any form of any secret occurs in data.
func assertNoSecrets(t *testing.T, where string, data []byte, secrets secretSet) {
	t.Helper()
	if len(data) == 0 {
		t.Fatalf("%s: nothing to look at", where)
	}
	names := make([]string, 0, len(secrets))
	for n := range secrets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for form, b := range secretForms(secrets[n]) {
			if bytes.Contains(data, b) {
				t.Errorf("%s holds the %s (%s form)", where, n, form)
			}
		}
	}
}

func runStoreE2E(t *testing.T, openBackend func(*testing.T) e2eBackend) {
	be := openBackend(t) // first: a missing PostgreSQL skips before anything starts
	ctx := context.Background()
	h := newHarness(t, sandbox.Options{RotateRefresh: true})

	idp := storetest.NewIdP(t)
	srv := storetest.StartServer(t, be.b, idp)
	seen := &storeLog{}
	srv.SetWrap(seen.wrap)
	tap := storetest.NewTap(t, srv.Listener.Addr().String())
	h.useStore(tap.URL(), idp)

	user, dev := h.d.vault.User(), h.d.vault.Device()
	// The provider's subject is not the OS user name: the store keys
	// records by sub, the daemon's vault by the OS user.
	const sub = "idp|alice-5f2e9c"
	key := func(integration string) store.Key {
		return store.Key{User: user, Device: dev, Integration: integration}
	}
	rpath := func(integration string) string { return "/v1/records/" + dev + "/" + integration }
	// reader reads the user's records straight from the store (not through
	// the tap, whose capture is the daemon's traffic only).
	reader := remotestore.New(srv.URL, func(context.Context) (string, error) {
		return idp.Token(sub, storetest.Claims{}), nil
	}, srv.Client())

	secrets := secretSet{"docebo client secret": []byte(sandbox.DefaultClientSecret), "document360 API token": []byte(d360Token),
		"document360 client secret": []byte("widget-secret")}
	salt, err := h.kc.Get(vault.DefaultService, h.d.vault.KeychainAccount())
	if err != nil {
		t.Fatalf("read the salt from the file keychain: %v", err)
	}
	rawSalt, err := base64.StdEncoding.DecodeString(salt)
	if err != nil || len(rawSalt) != vault.SaltLen {
		t.Fatalf("the keychain's salt item is not a salt: %v", err)
	}
	secrets["salt"] = rawSalt
	secrets["salt (keychain text)"] = []byte(salt)
	collect := func(integration string) *oauth2.Token {
		t.Helper()
		tok, _, err := h.d.vault.LoadToken(ctx, integration)
		if err != nil {
			t.Fatalf("load %s: %v", integration, err)
		}
		secrets.addToken(fmt.Sprintf("%s #%d", integration, len(secrets)), tok)
		return tok
	}

	// Sign in by storing the identity tokens the way a login does: an ID
	// token for the desktop client and the store (aud holds both).
	signIn := func() {
		t.Helper()
		idTok := idp.Token(sub, storetest.Claims{Extra: map[string]any{
			"aud": []string{e2eClientID, storetest.Audience}, "email": "alice@example.com", "name": "Alice Example",
		}})
		tok := (&oauth2.Token{AccessToken: "idp-at-" + randomHex(16), RefreshToken: "idp-rt-" + randomHex(16), TokenType: "Bearer",
			Expiry: time.Now().Add(time.Hour)}).WithExtra(map[string]any{"id_token": idTok})
		secrets.addToken(fmt.Sprintf("identity #%d", len(secrets)), tok)
		acct := &vault.Account{ID: sub, DisplayName: "Alice Example", Email: "alice@example.com"}
		if err := h.d.saveToken(ctx, identityName, tok, acct); err != nil {
			t.Fatal(err)
		}
	}

	// inStep: nothing pending, and the store holds every local record of
	// this device as it is locally.
	inStep := func() bool {
		if n, err := h.d.store.Count(ctx); err != nil || n != 0 {
			return false
		}
		recs, err := h.d.store.ListRecords(ctx, user)
		if err != nil || len(recs) == 0 {
			return false
		}
		for _, l := range recs {
			if l.Device != dev {
				continue
			}
			r, err := reader.GetRecord(ctx, l.Key)
			if err != nil || r.Envelope != l.Envelope || r.KeyID != l.KeyID {
				return false
			}
		}
		return true
	}
	remoteVersion := func(integration string) int64 {
		t.Helper()
		r, err := reader.GetRecord(ctx, key(integration))
		if err != nil {
			t.Fatalf("the store's %s record: %v", integration, err)
		}
		return r.Version
	}
	proxy := func() int {
		return h.api("GET", "/v1/proxy/docebo/manage/v1/user/session", nil)
	}

	// ---- Store up: sign in, connect, use the token, refresh it. ----
	signIn()
	h.connect()
	collect("docebo")
	withDocument360(t, h, d360.Options{})
	waitFor(t, "every sealed record is at the store", inStep)
	if _, err := reader.GetRecord(ctx, key(identityName)); err != nil {
		t.Fatalf("identity record: %v", err)
	}
	if _, err := reader.GetRecord(ctx, key("document360")); err != nil {
		t.Fatalf("document360 record: %v", err)
	}
	v1 := remoteVersion("docebo")
	if code := proxy(); code != 200 {
		t.Fatalf("proxy: %d", code)
	}
	refreshes := h.sb.GrantCalls("refresh_token")
	h.sb.ExpireAccessTokens()
	if code := proxy(); code != 200 {
		t.Fatalf("proxy after the access token expired: %d", code)
	}
	if h.sb.GrantCalls("refresh_token") != refreshes+1 {
		t.Fatal("the proxy call did not refresh the token")
	}
	collect("docebo")
	waitFor(t, "the refreshed record is at the store", inStep)
	if v2 := remoteVersion("docebo"); v2 <= v1 {
		t.Fatalf("the store's docebo version went %d → %d with the refresh", v1, v2)
	}
	// Ciphertext only, so far; and the dumps do hold the sealed records
	// (so the checks look at the right bytes).
	cur, err := h.d.store.GetRecord(ctx, key("docebo"))
	if err != nil {
		t.Fatal(err)
	}
	if dump := be.dump(t); !bytes.Contains(dump, []byte(cur.Envelope)) {
		t.Fatalf("%s does not hold the docebo envelope: the dump looks at the wrong bytes", be.name)
	}
	if sent := tap.Sent(); !bytes.Contains(sent, []byte(cur.Envelope)) || !bytes.Contains(sent, []byte("PUT "+rpath("docebo"))) {
		t.Fatal("the captured traffic does not hold the docebo push")
	}
	assertNoSecrets(t, be.name, be.dump(t), secrets)
	assertNoSecrets(t, "the daemon→store traffic", tap.Sent(), secrets)

	// ---- Store down for the whole phase. ----
	tap.SetUp(false)
	down := seen.mark(t)
	downAt := time.Now()
	// Refresh Docebo, disconnect Document360, sign in again.
	h.sb.ExpireAccessTokens()
	if code := proxy(); code != 200 {
		t.Fatalf("proxy (refresh) with the store down: %d", code)
	}
	collect("docebo")
	if err := h.cl.Disconnect(ctx, "document360"); err != nil {
		t.Fatalf("disconnect with the store down: %v", err)
	}
	signIn()
	// The daemon keeps working.
	var courses struct {
		Items []json.RawMessage `json:"items"`
	}
	if code := h.api("GET", "/v1/courses", &courses); code != 200 || len(courses.Items) == 0 {
		t.Fatalf("courses with the store down: %d, %d items", code, len(courses.Items))
	}
	var search searchDoc
	if code := h.api("GET", "/v1/search?q=go", &search); code != 200 || len(search.Results) == 0 {
		t.Fatalf("search with the store down: %d, %d results", code, len(search.Results))
	}
	if code := proxy(); code != 200 {
		t.Fatalf("proxy with the store down: %d", code)
	}
	// Status says so: pending items and the last error.
	var st *apitype.Status
	waitFor(t, "status shows pending pushes and a sync error", func() bool {
		st, err = h.d.StatusDoc(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st.Sync.Pending > 0 && st.Sync.LastError != "" && st.Sync.LastErrorAt != nil && st.Sync.LastErrorAt.After(downAt) &&
			st.Sync.Down && st.Sync.NextRetry != nil
	})
	// The next retry is a probe within seconds, not minutes away.
	if wait := time.Until(*st.Sync.NextRetry); wait > 11*time.Second {
		t.Fatalf("status says the next retry is %s away", wait)
	}
	if st.Sync.Remote != tap.URL() {
		t.Fatalf("status names the store %q", st.Sync.Remote)
	}
	stJSON, _ := json.Marshal(st)
	assertNoSecrets(t, "the status document", stJSON, secrets)
	// What is queued: the newest write of each key, once.
	queued, err := h.d.store.Pending(ctx, time.Now().Add(24*time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]store.Op{"docebo": store.OpPut, "document360": store.OpDelete, identityName: store.OpPut}
	got := map[string]store.Op{}
	envelopes := map[string]string{}
	for _, it := range queued {
		if _, dup := got[it.Record.Integration]; dup {
			t.Fatalf("two outbox items for %s", it.Record.Integration)
		}
		got[it.Record.Integration] = it.Op
		envelopes[it.Record.Integration] = it.Record.Envelope
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || st.Sync.Pending != len(want) {
		t.Fatalf("outbox %v (status pending %d), want %v", got, st.Sync.Pending, want)
	}
	if reqs := seen.since(down); len(reqs) != 0 {
		t.Fatalf("requests reached the store while it was down: %+v", reqs)
	}

	// ---- The store comes back: every queued record arrives exactly once. ----
	up := seen.mark(t)
	tap.SetUp(true)
	upAt := time.Now()
	h.d.kickSync()
	waitFor(t, "the outbox is drained into the store", func() bool {
		if !inStep() {
			return false
		}
		_, err := reader.GetRecord(ctx, key("document360"))
		return errors.Is(err, store.ErrNotFound)
	})
	for integration, env := range envelopes {
		switch want[integration] {
		case store.OpPut:
			if n := seen.count(up, "PUT", rpath(integration), false); n != 1 {
				t.Errorf("%s: %d PUTs after the store came back, want exactly 1", integration, n)
			}
			if n := seen.count(up, "PUT", rpath(integration), true); n != 1 {
				t.Errorf("%s: %d accepted PUTs, want 1", integration, n)
			}
			r, err := reader.GetRecord(ctx, key(integration))
			if err != nil || r.Envelope != env {
				t.Errorf("%s: the store holds another envelope than the one queued (%v)", integration, err)
			}
		case store.OpDelete:
			if n := seen.count(up, "DELETE", rpath(integration), true); n != 1 {
				t.Errorf("%s: %d accepted DELETEs, want 1", integration, n)
			}
		}
	}
	waitFor(t, "status shows the sync caught up", func() bool {
		st, err = h.d.StatusDoc(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st.Sync.Pending == 0 && st.Sync.LastSuccess != nil && st.Sync.LastSuccess.After(upAt) &&
			!st.Sync.Down && st.Sync.NextRetry == nil && st.Sync.LastError == ""
	})

	// ---- A newer sealed record at the store wins by version. ----
	tok, _, err := h.d.vault.LoadToken(ctx, "docebo")
	if err != nil {
		t.Fatal(err)
	}
	newer := *tok
	newer.Expiry = tok.Expiry.Add(time.Hour).Truncate(time.Second)
	rec, err := h.d.vault.Seal("docebo", &newer)
	if err != nil {
		t.Fatal(err)
	}
	put, err := reader.PutRecord(ctx, rec, remoteVersion("docebo")) // as another writer of this device would
	if err != nil {
		t.Fatal(err)
	}
	h.d.kickSync()
	waitFor(t, "the newer remote record is adopted locally", func() bool {
		l, err := h.d.store.GetRecord(ctx, key("docebo"))
		return err == nil && l.Envelope == put.Envelope
	})
	if got, _, err := h.d.vault.LoadToken(ctx, "docebo"); err != nil || !got.Expiry.Equal(newer.Expiry) {
		t.Fatalf("after adopting: %v, expiry %v want %v", err, got.Expiry, newer.Expiry)
	}
	if r, err := reader.GetRecord(ctx, key("docebo")); err != nil || r.Envelope != put.Envelope || r.Version != put.Version {
		t.Fatalf("the newer remote record was overwritten: %v %+v", err, r)
	}
	if recs, err := h.d.store.ListRecords(ctx, sub); err != nil || len(recs) != 0 {
		t.Fatalf("local records under the provider's subject: %v %+v", err, recs)
	}
	if code := proxy(); code != 200 {
		t.Fatalf("proxy with the adopted token: %d", code)
	}

	// ---- Central revocation. ----
	admin := remotestore.New(srv.URL, func(context.Context) (string, error) {
		return idp.Token("security-officer", storetest.Claims{Admin: true}), nil
	}, srv.Client())
	if err := admin.AdminRevoke(ctx, store.Key{User: sub, Device: dev, Integration: "docebo"}); err != nil {
		t.Fatalf("admin revoke: %v", err)
	}
	revokedAt := seen.mark(t)
	h.d.kickSync()
	waitFor(t, "docebo is reconnect-needed", func() bool { return h.state("docebo") == "reconnect_needed" })
	st, err = h.d.StatusDoc(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range st.Integrations {
		if in.Name == "docebo" && !strings.Contains(in.Reason, "revoked") {
			t.Fatalf("docebo reason %q does not say it was revoked", in.Reason)
		}
	}
	if _, _, err := h.d.vault.LoadToken(ctx, "docebo"); !errors.Is(err, vault.ErrNoToken) {
		t.Fatalf("the local sealed docebo record survived the revocation: %v", err)
	}
	if _, err := h.d.store.GetRecord(ctx, key("docebo")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("local docebo record: %v", err)
	}
	if code := proxy(); code < 400 {
		t.Fatalf("proxy after revocation: %d", code)
	}
	// Nothing pushed it back, and the rest is untouched.
	h.d.kickSync()
	waitFor(t, "the sync is idle again", func() bool {
		n, err := h.d.store.Count(ctx)
		return err == nil && n == 0 && inStep()
	})
	if n := seen.count(revokedAt, "PUT", rpath("docebo"), false); n != 0 {
		t.Fatalf("the daemon pushed the revoked record again (%d PUTs)", n)
	}
	if _, err := reader.GetRecord(ctx, key("docebo")); !errors.Is(err, remotestore.ErrRevoked) {
		t.Fatalf("store's docebo after revocation: %v", err)
	}
	if st.Identity == nil || !st.Identity.SignedIn || st.Identity.Subject != sub {
		t.Fatalf("the identity after the docebo revocation: %+v", st.Identity)
	}

	// ---- Ciphertext only, over everything the store ever saw. ----
	assertNoSecrets(t, be.name, be.dump(t), secrets)
	assertNoSecrets(t, "the daemon→store traffic", tap.Sent(), secrets)
}

// The ciphertext-only checks would see a secret that leaked in the clear or
// encoded at any offset of a larger blob.
func TestStoreE2ESecretDetector(t *testing.T) {
	t.Parallel()
	secret := []byte("rt-" + randomHex(20))
	for prefix := 0; prefix < 3; prefix++ {
		blob := append(append(bytes.Repeat([]byte("x"), prefix+5), `{"refresh_token":"`...), secret...)
		blob = append(blob, `","x":1}`...)
		for _, data := range [][]byte{
			blob,
			[]byte(base64.StdEncoding.EncodeToString(blob)),
			[]byte(base64.RawURLEncoding.EncodeToString(blob)),
			[]byte(hex.EncodeToString(secret)),
		} {
			found := false
			for _, f := range secretForms(secret) {
				found = found || bytes.Contains(data, f)
			}
			if !found {
				t.Fatalf("prefix %d: the detector missed the secret in %q", prefix, data)
			}
		}
	}
	// And it does not cry wolf on a sealed envelope of it.
	h := newHarness(t, sandbox.Options{})
	rec, err := h.d.vault.Seal("docebo", &oauth2.Token{AccessToken: "at", RefreshToken: string(secret)})
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range secretForms(secret) {
		if bytes.Contains([]byte(rec.Envelope), f) {
			t.Fatalf("the %s form of the secret is in its envelope", name)
		}
	}
}

// useStore points the daemon at the latchkey-store at url, with idp as the
// organisation's identity provider, restarts it and waits for its sync loop.
func (h *harness) useStore(url string, idp *storetest.IdP) {
	h.t.Helper()
	err := SaveFileConfig(h.paths.ConfigFile(), func(c *Config) error {
		c.Store = url
		c.Identity = IdentityConfig{Issuer: idp.Issuer(), ClientID: e2eClientID}
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	h.restart()
	h.t.Cleanup(func() {
		if h.t.Failed() {
			h.t.Logf("daemon log:\n%s", h.logs.String())
		}
	})
	waitFor(h.t, "the sync loop runs", func() bool { return h.d.syncLoop() != nil })
}

// signInAs stores an identity-provider token for sub, as a login would, with
// an ID token meant for the daemon's client and the store.
func (h *harness) signInAs(ctx context.Context, idp *storetest.IdP, sub string) {
	h.t.Helper()
	idTok := idp.Token(sub, storetest.Claims{Extra: map[string]any{"aud": []string{e2eClientID, storetest.Audience}}})
	itok := (&oauth2.Token{AccessToken: "idp-at-" + randomHex(16), RefreshToken: "idp-rt-" + randomHex(16), TokenType: "Bearer",
		Expiry: time.Now().Add(time.Hour)}).WithExtra(map[string]any{"id_token": idTok})
	if err := h.d.saveToken(ctx, identityName, itok, &vault.Account{ID: sub}); err != nil {
		h.t.Fatal(err)
	}
}
