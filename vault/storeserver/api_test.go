package storeserver_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/latchkey/latchkey/vault/envelope"
	"github.com/latchkey/latchkey/vault/store"
	"github.com/latchkey/latchkey/vault/store/remotestore"
	"github.com/latchkey/latchkey/vault/storeserver"
	"github.com/latchkey/latchkey/vault/storeserver/storetest"
)

// testKey seals test envelopes; its id goes into every envelope.
var (
	testKey   = bytes.Repeat([]byte{0x42}, 32)
	testKeyID = "0123456789abcdef"
)

func seal(t testing.TB, k store.Key, plaintext string) string {
	t.Helper()
	s, err := envelope.Seal(testKey, testKeyID, envelope.Binding{User: k.User, Device: k.Device, Integration: k.Integration}, []byte(plaintext))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func open(t testing.TB, rec store.Record) string {
	t.Helper()
	pt, err := envelope.Open(testKey, testKeyID, envelope.Binding{User: rec.User, Device: rec.Device, Integration: rec.Integration}, rec.Envelope)
	if err != nil {
		t.Fatalf("open %v: %v", rec.Key, err)
	}
	return string(pt)
}

// env is one server under test plus an IdP and helpers to call it.
type env struct {
	t   *testing.T
	idp *storetest.IdP
	srv *storetest.Server
	b   storeserver.Backend
}

func (e *env) client(sub string, admin bool) *remotestore.Client {
	tok := e.idp.Token(sub, storetest.Claims{Admin: admin})
	return remotestore.New(e.srv.URL, func(context.Context) (string, error) { return tok, nil }, e.srv.Client())
}

// do sends a raw request and returns status, headers and body.
func (e *env) do(method, path, token string, hdr map[string]string, body string) (int, http.Header, string) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// metrics returns what the server's metrics handler serves.
func (e *env) metrics() string {
	e.t.Helper()
	rec := httptest.NewRecorder()
	e.srv.Store.Metrics().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		e.t.Fatalf("metrics: %d", rec.Code)
	}
	return rec.Body.String()
}

func errCode(t testing.TB, body string) string {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("not a JSON error body: %q", body)
	}
	return e.Error.Code
}

func putBody(keyID, env string) string {
	b, _ := json.Marshal(map[string]string{"key_id": keyID, "envelope": env})
	return string(b)
}

type backendOpener func(t *testing.T) storeserver.Backend

func openSQLite(t *testing.T) storeserver.Backend { return storetest.OpenSQLite(t) }

// pgBackend remembers its database URL so a test can dump the table.
type pgBackend struct {
	*storeserver.Postgres
	dsn string
}

func openPostgres(t *testing.T) storeserver.Backend {
	dsn := storetest.PostgresURL(t)
	return &pgBackend{Postgres: storetest.OpenPostgres(t, dsn), dsn: dsn}
}

func TestAPISQLite(t *testing.T) {
	t.Parallel()
	runSuite(t, openSQLite)
}

func TestAPIPostgres(t *testing.T) {
	t.Parallel()
	runSuite(t, openPostgres)
}

// runSuite is the one API suite both backends pass.
func runSuite(t *testing.T, openBackend backendOpener) {
	newEnv := func(t *testing.T) *env {
		idp := storetest.NewIdP(t)
		b := openBackend(t)
		return &env{t: t, idp: idp, b: b, srv: storetest.StartServer(t, b, idp)}
	}
	t.Run("CRUD", func(t *testing.T) {
		t.Parallel()
		testCRUD(t, newEnv(t))
	})
	t.Run("Auth", func(t *testing.T) {
		t.Parallel()
		testAuth(t, newEnv(t))
	})
	t.Run("Isolation", func(t *testing.T) {
		t.Parallel()
		testIsolation(t, newEnv(t))
	})
	t.Run("AdminListRevoke", func(t *testing.T) {
		t.Parallel()
		testAdmin(t, newEnv(t))
	})
	t.Run("Validation", func(t *testing.T) {
		t.Parallel()
		testValidation(t, newEnv(t))
	})
	t.Run("HealthMetrics", func(t *testing.T) {
		t.Parallel()
		testHealthMetrics(t, newEnv(t))
	})
	t.Run("JWKSRotation", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		// Two rotations back to back: a short refetch interval, so the
		// second is seen without waiting 30 s.
		v := storetest.VerifierWith(t, e.idp, func(c *storeserver.OIDCConfig) { c.RefetchInterval = 100 * time.Millisecond })
		e.srv = storetest.StartServerVerifier(t, e.b, v)
		testRotation(t, e)
	})
	t.Run("ConcurrentReadModifyWrite", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		testConcurrentRMW(t, e.idp, []string{e.srv.URL}, e.srv.Client())
	})
	t.Run("CiphertextOnly", func(t *testing.T) {
		t.Parallel()
		testCiphertextOnly(t, newEnv(t))
	})
	t.Run("OrgIntegrations", func(t *testing.T) {
		t.Parallel()
		testOrgIntegrations(t, openBackend)
	})
	t.Run("OrgWithoutSecretsKey", func(t *testing.T) {
		t.Parallel()
		testOrgWithoutSecretsKey(t, openBackend)
	})
	t.Run("OrgKeyRotation", func(t *testing.T) {
		t.Parallel()
		testOrgKeyRotation(t, openBackend)
	})
}

func testCRUD(t *testing.T, e *env) {
	tok := e.idp.Token("alice", storetest.Claims{})
	k := store.Key{User: "alice", Device: "laptop-1", Integration: "docebo"}
	env1 := seal(t, k, "v1")
	path := "/v1/records/laptop-1/docebo"

	code, _, body := e.do("PUT", path, tok, nil, putBody(testKeyID, env1))
	if code != http.StatusPreconditionRequired || errCode(t, body) != "precondition_required" {
		t.Fatalf("PUT without precondition: %d %s", code, body)
	}
	code, h, body := e.do("PUT", path, tok, map[string]string{"If-None-Match": "*"}, putBody(testKeyID, env1))
	if code != http.StatusCreated || h.Get("ETag") != `"1"` {
		t.Fatalf("create: %d %v %s", code, h.Get("ETag"), body)
	}
	var rec store.Record
	json.Unmarshal([]byte(body), &rec)
	if rec.Version != 1 || rec.User != "alice" || rec.Envelope != env1 || rec.KeyID != testKeyID || rec.UpdatedAt.IsZero() {
		t.Fatalf("create returned %+v", rec)
	}
	code, _, body = e.do("PUT", path, tok, map[string]string{"If-None-Match": "*"}, putBody(testKeyID, seal(t, k, "other")))
	if code != http.StatusPreconditionFailed || errCode(t, body) != "conflict" {
		t.Fatalf("second create: %d %s", code, body)
	}
	env2 := seal(t, k, "v2")
	code, h, _ = e.do("PUT", path, tok, map[string]string{"If-Match": `"1"`}, putBody(testKeyID, env2))
	if code != http.StatusOK || h.Get("ETag") != `"2"` {
		t.Fatalf("update: %d %q", code, h.Get("ETag"))
	}
	code, _, _ = e.do("PUT", path, tok, map[string]string{"If-Match": `"1"`}, putBody(testKeyID, seal(t, k, "stale")))
	if code != http.StatusPreconditionFailed {
		t.Fatalf("stale update: %d", code)
	}
	code, h, body = e.do("GET", path, tok, nil, "")
	json.Unmarshal([]byte(body), &rec)
	if code != 200 || h.Get("ETag") != `"2"` || rec.Envelope != env2 || open(t, rec) != "v2" {
		t.Fatalf("get after stale update: %d %q %+v", code, h.Get("ETag"), rec)
	}
	// Through the typed client too.
	c := e.client("alice", false)
	k2 := store.Key{User: "alice", Device: "laptop-1", Integration: "another"}
	if _, err := c.PutRecord(t.Context(), store.Record{Key: k2, KeyID: testKeyID, Envelope: seal(t, k2, "x")}, store.CreateOnly); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutRecord(t.Context(), store.Record{Key: k2, KeyID: testKeyID, Envelope: seal(t, k2, "y")}, 7); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale put via client: %v", err)
	}
	if _, err := c.PutRecord(t.Context(), store.Record{Key: k2, KeyID: testKeyID, Envelope: seal(t, k2, "y")}, store.AnyVersion); err == nil {
		t.Fatal("AnyVersion accepted by the remote client")
	}
	list, err := c.ListRecords(t.Context(), "")
	if err != nil || len(list) != 2 || list[0].Integration != "another" || list[1].Integration != "docebo" || list[1].Version != 2 {
		t.Fatalf("list: %v %+v", err, list)
	}
	// Delete: stale If-Match refused, then deleted, then gone.
	code, _, _ = e.do("DELETE", path, tok, map[string]string{"If-Match": `"1"`}, "")
	if code != http.StatusPreconditionFailed {
		t.Fatalf("stale delete: %d", code)
	}
	code, _, _ = e.do("DELETE", path, tok, map[string]string{"If-Match": `"2"`}, "")
	if code != http.StatusNoContent {
		t.Fatalf("delete: %d", code)
	}
	if _, err := c.GetRecord(t.Context(), k); !errors.Is(err, store.ErrNotFound) || errors.Is(err, remotestore.ErrRevoked) {
		t.Fatalf("get deleted: %v", err)
	}
	if err := c.DeleteRecord(t.Context(), k); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete again: %v", err)
	}
	// Update of a missing record is a precondition failure, not a create.
	if _, err := c.PutRecord(t.Context(), store.Record{Key: k, KeyID: testKeyID, Envelope: env2}, 2); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("If-Match on a missing record: %v", err)
	}
}

func testAuth(t *testing.T, e *env) {
	path := "/v1/records"
	if code, h, body := e.do("GET", path, "", nil, ""); code != 401 || errCode(t, body) != "unauthorized" || h.Get("WWW-Authenticate") == "" {
		t.Fatalf("no token: %d", code)
	}
	otherKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	bad := map[string]string{
		"garbage":        "not.a.jwt",
		"wrong audience": e.idp.Token("alice", storetest.Claims{Audience: "someone-else"}),
		"wrong issuer":   e.idp.Token("alice", storetest.Claims{Issuer: "https://evil.example"}),
		"expired":        e.idp.Token("alice", storetest.Claims{TTL: -time.Minute}),
		"foreign key":    e.idp.Token("alice", storetest.Claims{Key: otherKey}),
		"foreign ec key": e.idp.Token("alice", storetest.Claims{Key: ecKey, Alg: jose.ES256}),
		"hmac":           e.idp.Token("alice", storetest.Claims{Key: []byte("0123456789abcdef0123456789abcdef"), Alg: jose.HS256}),
		"alg none":       noneToken(e.idp.Issuer()),
		"no sub":         e.idp.Token("", storetest.Claims{}),
	}
	for name, tok := range bad {
		if code, _, _ := e.do("GET", path, tok, nil, ""); code != 401 {
			t.Errorf("%s: got %d, want 401", name, code)
		}
	}
	if code, _, _ := e.do("GET", path, e.idp.Token("alice", storetest.Claims{}), nil, ""); code != 200 {
		t.Fatalf("good token: %d", code)
	}
	// The health routes need no token.
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, _, _ := e.do("GET", p, "", nil, ""); code != 200 {
			t.Errorf("%s: %d", p, code)
		}
	}
	// The metrics are not on the API's routes (Run serves them on a
	// listener of their own when asked).
	if code, _, body := e.do("GET", "/metrics", "", nil, ""); code != 404 || strings.Contains(body, "latchkey_store_") {
		t.Errorf("/metrics on the API without a token: %d", code)
	}
}

func noneToken(iss string) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]string{"alg": "none", "typ": "JWT"}) + "." +
		enc(map[string]any{"iss": iss, "sub": "alice", "aud": storetest.Audience, "exp": 4102444800}) + "."
}

func testIsolation(t *testing.T, e *env) {
	ctx := t.Context()
	a, b := e.client("alice", false), e.client("bob", false)
	ka := store.Key{User: "alice", Device: "d1", Integration: "docebo"}
	ea := seal(t, ka, "alice-secret")
	if _, err := a.PutRecord(ctx, store.Record{Key: ka, KeyID: testKeyID, Envelope: ea}, store.CreateOnly); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetRecord(ctx, ka); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("bob read alice's record: %v", err)
	}
	if l, err := b.ListRecords(ctx, "alice"); err != nil || len(l) != 0 {
		t.Fatalf("bob listed: %v %+v", err, l)
	}
	kb := store.Key{User: "bob", Device: "d1", Integration: "docebo"}
	if _, err := b.PutRecord(ctx, store.Record{Key: ka, KeyID: testKeyID, Envelope: seal(t, kb, "bob")}, 1); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("bob overwrote alice's record: %v", err)
	}
	if err := b.DeleteRecord(ctx, ka); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("bob deleted alice's record: %v", err)
	}
	// Bob's create on the same path lands in bob's namespace.
	rb, err := b.PutRecord(ctx, store.Record{Key: ka, KeyID: testKeyID, Envelope: seal(t, kb, "bob")}, store.CreateOnly)
	if err != nil || rb.User != "bob" {
		t.Fatalf("bob create: %v %+v", err, rb)
	}
	// Users cannot reach the admin routes.
	if _, err := a.AdminList(ctx, "bob"); !errors.Is(err, remotestore.ErrUnauthorized) {
		t.Fatalf("alice admin list: %v", err)
	}
	if err := a.AdminRevoke(ctx, kb); !errors.Is(err, remotestore.ErrUnauthorized) {
		t.Fatalf("alice admin revoke: %v", err)
	}
	got, err := a.GetRecord(ctx, ka)
	if err != nil || got.Envelope != ea || got.Version != 1 {
		t.Fatalf("alice's record changed: %v %+v", err, got)
	}
	gb, err := b.GetRecord(ctx, ka)
	if err != nil || open(t, gb) != "bob" {
		t.Fatalf("bob's record: %v", err)
	}
}

func testAdmin(t *testing.T, e *env) {
	ctx := t.Context()
	alice, admin := e.client("alice", false), e.client("root-admin", true)
	var keys []store.Key
	for _, in := range []string{"docebo", "document360"} {
		k := store.Key{User: "alice", Device: "d1", Integration: in}
		keys = append(keys, k)
		if _, err := alice.PutRecord(ctx, store.Record{Key: k, KeyID: testKeyID, Envelope: seal(t, k, "tok-"+in)}, store.CreateOnly); err != nil {
			t.Fatal(err)
		}
	}
	kb := store.Key{User: "bob", Device: "d9", Integration: "docebo"}
	if _, err := e.client("bob", false).PutRecord(ctx, store.Record{Key: kb, KeyID: testKeyID, Envelope: seal(t, kb, "b")}, store.CreateOnly); err != nil {
		t.Fatal(err)
	}
	// Metadata only, never an envelope.
	code, _, body := e.do("GET", "/v1/admin/records?user=alice", e.idp.Token("root-admin", storetest.Claims{Admin: true}), nil, "")
	if code != 200 || strings.Contains(body, "envelope") || strings.Contains(body, "lk1.") {
		t.Fatalf("admin list: %d %s", code, body)
	}
	list, err := admin.AdminList(ctx, "alice")
	if err != nil || len(list) != 2 || list[0].Integration != "docebo" || list[0].KeyID != testKeyID || list[0].Version != 1 || list[0].Revoked {
		t.Fatalf("admin list: %v %+v", err, list)
	}
	all, err := admin.AdminList(ctx, "")
	if err != nil || len(all) != 3 {
		t.Fatalf("admin list all: %v %+v", err, all)
	}
	// A string-valued admin claim works too; another value does not.
	strAdmin := e.idp.Token("s", storetest.Claims{Extra: map[string]any{"groups": storetest.AdminValue}})
	if code, _, _ := e.do("GET", "/v1/admin/records", strAdmin, nil, ""); code != 200 {
		t.Fatalf("string admin claim: %d", code)
	}
	notAdmin := e.idp.Token("s", storetest.Claims{Extra: map[string]any{"groups": []string{"latchkey-admins-not"}}})
	if code, _, body := e.do("GET", "/v1/admin/records", notAdmin, nil, ""); code != 403 || errCode(t, body) != "forbidden" {
		t.Fatalf("non-admin: %d", code)
	}

	// Revoke: the device learns it on its next read or write.
	if err := admin.AdminRevoke(ctx, keys[0]); err != nil {
		t.Fatal(err)
	}
	if err := admin.AdminRevoke(ctx, keys[0]); err != nil {
		t.Fatalf("revoking twice: %v", err)
	}
	if err := admin.AdminRevoke(ctx, store.Key{User: "alice", Device: "nope", Integration: "docebo"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("revoke of nothing: %v", err)
	}
	_, err = alice.GetRecord(ctx, keys[0])
	if !errors.Is(err, remotestore.ErrRevoked) || !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get revoked: %v", err)
	}
	code, _, body = e.do("GET", "/v1/records/d1/docebo", e.idp.Token("alice", storetest.Claims{}), nil, "")
	if code != http.StatusGone || errCode(t, body) != "revoked" {
		t.Fatalf("raw get revoked: %d %s", code, body)
	}
	if _, err := alice.PutRecord(ctx, store.Record{Key: keys[0], KeyID: testKeyID, Envelope: seal(t, keys[0], "again")}, 1); !errors.Is(err, remotestore.ErrRevoked) {
		t.Fatalf("update of revoked: %v", err)
	}
	if l, _ := alice.ListRecords(ctx, ""); len(l) != 1 || l[0].Integration != "document360" {
		t.Fatalf("alice list after revoke: %+v", l)
	}
	list, _ = admin.AdminList(ctx, "alice")
	if len(list) != 2 || !list[0].Revoked || list[0].RevokedBy != "root-admin" || list[0].RevokedAt.IsZero() || list[1].Revoked {
		t.Fatalf("admin list after revoke: %+v", list)
	}
	// A fresh connect (create) replaces the marker.
	r, err := alice.PutRecord(ctx, store.Record{Key: keys[0], KeyID: testKeyID, Envelope: seal(t, keys[0], "new consent")}, store.CreateOnly)
	if err != nil || r.Version != 1 {
		t.Fatalf("create after revoke: %v %+v", err, r)
	}
	if got, err := alice.GetRecord(ctx, keys[0]); err != nil || open(t, got) != "new consent" {
		t.Fatalf("get after re-create: %v", err)
	}
}

func testValidation(t *testing.T, e *env) {
	tok := e.idp.Token("alice", storetest.Claims{})
	k := store.Key{User: "alice", Device: "d1", Integration: "docebo"}
	good := seal(t, k, "x")
	create := map[string]string{"If-None-Match": "*"}
	otherKeyEnv, _ := envelope.Seal(testKey, "fedcba9876543210", envelope.Binding{User: "alice", Device: "d1", Integration: "docebo"}, []byte("x"))
	cases := []struct {
		name, path, body string
		hdr              map[string]string
		code             int
		errCode          string
	}{
		{"plaintext", "/v1/records/d1/docebo", putBody(testKeyID, "ya29.plaintext-access-token"), create, 400, "bad_envelope"},
		{"bad key id", "/v1/records/d1/docebo", putBody(testKeyID, "lk1.XYZ.AAAA"), create, 400, "bad_envelope"},
		{"short body", "/v1/records/d1/docebo", putBody(testKeyID, "lk1."+testKeyID+".AAAA"), create, 400, "bad_envelope"},
		{"future version", "/v1/records/d1/docebo", putBody(testKeyID, "lk9"+good[3:]), create, 400, "bad_envelope"},
		{"key id mismatch", "/v1/records/d1/docebo", putBody(testKeyID, otherKeyEnv), create, 400, "key_id_mismatch"},
		{"not json", "/v1/records/d1/docebo", "key_id=1", create, 400, "bad_request"},
		{"unknown field", "/v1/records/d1/docebo", `{"key_id":"` + testKeyID + `","envelope":"` + good + `","user":"bob"}`, create, 400, "bad_request"},
		{"two objects", "/v1/records/d1/docebo", putBody(testKeyID, good) + putBody(testKeyID, good), create, 400, "bad_request"},
		{"too large", "/v1/records/d1/docebo", `{"key_id":"` + strings.Repeat("a", storeserver.MaxBodyBytes) + `"}`, create, 413, "too_large"},
		{"both preconditions", "/v1/records/d1/docebo", putBody(testKeyID, good), map[string]string{"If-None-Match": "*", "If-Match": `"1"`}, 400, "bad_request"},
		{"bad if-match", "/v1/records/d1/docebo", putBody(testKeyID, good), map[string]string{"If-Match": "1"}, 400, "bad_request"},
		{"if-none-match etag", "/v1/records/d1/docebo", putBody(testKeyID, good), map[string]string{"If-None-Match": `"1"`}, 400, "bad_request"},
		{"dot device", "/v1/records/.hidden/docebo", putBody(testKeyID, good), create, 400, "bad_request"},
		{"space in name", "/v1/records/d1/doc%20ebo", putBody(testKeyID, good), create, 400, "bad_request"},
		{"long name", "/v1/records/d1/" + strings.Repeat("a", 129), putBody(testKeyID, good), create, 400, "bad_request"},
	}
	for _, c := range cases {
		code, _, body := e.do("PUT", c.path, tok, c.hdr, c.body)
		if code != c.code || errCode(t, body) != c.errCode {
			t.Errorf("%s: %d %s, want %d %s", c.name, code, body, c.code, c.errCode)
		}
		if strings.Contains(body, "plaintext-access-token") {
			t.Errorf("%s: error echoes the input", c.name)
		}
	}
	// Nothing was stored by any of them.
	if l, err := e.b.ListRecords(t.Context(), "alice"); err != nil || len(l) != 0 {
		t.Fatalf("refused writes stored something: %v %+v", err, l)
	}
	if code, _, _ := e.do("PUT", "/v1/records/d1/docebo", tok, create, putBody(testKeyID, good)); code != 201 {
		t.Fatalf("good envelope refused: %d", code)
	}
}

func testHealthMetrics(t *testing.T, e *env) {
	tok := e.idp.Token("alice", storetest.Claims{})
	k := store.Key{User: "alice", Device: "d1", Integration: "docebo"}
	e.do("PUT", "/v1/records/d1/docebo", tok, map[string]string{"If-None-Match": "*"}, putBody(testKeyID, seal(t, k, "a")))
	e.do("PUT", "/v1/records/d1/docebo", tok, map[string]string{"If-None-Match": "*"}, putBody(testKeyID, seal(t, k, "a")))
	e.do("GET", "/v1/records", "bad", nil, "")
	code, _, body := e.do("GET", "/healthz", "", nil, "")
	if code != 200 || !strings.Contains(body, "ok") {
		t.Fatalf("healthz: %d %s", code, body)
	}
	if code, _, _ := e.do("GET", "/readyz", "", nil, ""); code != 200 {
		t.Fatalf("readyz: %d", code)
	}
	m := e.metrics()
	for _, want := range []string{
		`latchkey_store_requests_total{code="201",route="PUT /v1/records/{device}/{integration}"} 1`,
		`latchkey_store_requests_total{code="412",route="PUT /v1/records/{device}/{integration}"} 1`,
		`latchkey_store_conflicts_total 1`,
		`latchkey_store_auth_failures_total{code="401"} 1`,
		`latchkey_store_request_duration_seconds_bucket{route="PUT /v1/records/{device}/{integration}",le=`,
		`latchkey_store_db_errors_total 0`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// With the database gone, readyz says so.
	e.b.Close()
	if code, _, body := e.do("GET", "/readyz", "", nil, ""); code != 503 || errCode(t, body) != "unavailable" {
		t.Fatalf("readyz with the database closed: %d %s", code, body)
	}
	if code, _, _ := e.do("GET", "/v1/records", tok, nil, ""); code != 503 {
		t.Fatalf("list with the database closed: %d", code)
	}
	m = e.metrics()
	if strings.Contains(m, `latchkey_store_db_errors_total 0`) {
		t.Fatal("db errors not counted")
	}
}

// eventually200 GETs path with token until it answers 200 or 5 s pass (a
// new key id is seen once the key set refetch interval has passed);
// it returns the last status.
func (e *env) eventually200(path, token string) int {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, _, _ := e.do("GET", path, token, nil, "")
		if code == 200 || time.Now().After(deadline) {
			return code
		}
		time.Sleep(20 * time.Millisecond) // polling an observable condition, bounded
	}
}

func testRotation(t *testing.T, e *env) {
	old := e.idp.Token("alice", storetest.Claims{})
	if code, _, _ := e.do("GET", "/v1/records", old, nil, ""); code != 200 {
		t.Fatalf("before rotation: %d", code)
	}
	before := e.idp.JWKSFetches()
	// Graceful rotation: old and new keys both published.
	e.idp.Rotate(true)
	mid := e.idp.Token("alice", storetest.Claims{})
	if code := e.eventually200("/v1/records", mid); code != 200 {
		t.Fatalf("new key after rotation: %d", code)
	}
	if e.idp.JWKSFetches() <= before {
		t.Fatal("the server did not refetch the key set for the new key id")
	}
	if code, _, _ := e.do("GET", "/v1/records", old, nil, ""); code != 200 {
		t.Fatalf("old key still published: %d", code)
	}
	// Hard rotation: the old keys are withdrawn.
	e.idp.Rotate(false)
	fresh := e.idp.Token("alice", storetest.Claims{})
	if code := e.eventually200("/v1/records", fresh); code != 200 {
		t.Fatalf("after hard rotation: %d", code)
	}
	for name, tok := range map[string]string{"old": old, "mid": mid} {
		if code, _, _ := e.do("GET", "/v1/records", tok, nil, ""); code != 401 {
			t.Fatalf("%s key withdrawn but accepted: %d", name, code)
		}
	}
}
