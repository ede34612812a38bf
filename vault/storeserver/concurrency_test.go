package storeserver_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/latchkey/latchkey/vault/store"
	"github.com/latchkey/latchkey/vault/store/remotestore"
	"github.com/latchkey/latchkey/vault/storeserver/storetest"
)

// testConcurrentRMW runs 50 writers doing read-modify-write of a counter
// sealed in a few shared records, spread over the given server replicas.
// No update may be lost: every accepted version is unique and follows the
// one read, the losers get 412, and each record's final counter equals the
// number of accepted updates.
func testConcurrentRMW(t *testing.T, idp *storetest.IdP, urls []string, hc *http.Client) {
	const (
		writers   = 50
		records   = 4
		perWriter = 4 // accepted updates each writer makes
	)
	ctx := t.Context()
	tok := idp.Token("alice", storetest.Claims{})
	bearer := func(context.Context) (string, error) { return tok, nil }
	keys := make([]store.Key, records)
	setup := remotestore.New(urls[0], bearer, hc)
	for i := range keys {
		keys[i] = store.Key{User: "alice", Device: "shared", Integration: "rec" + strconv.Itoa(i)}
		if _, err := setup.PutRecord(ctx, store.Record{Key: keys[i], KeyID: testKeyID, Envelope: seal(t, keys[i], "0")}, store.CreateOnly); err != nil {
			t.Fatal(err)
		}
	}
	var (
		mu        sync.Mutex
		accepted  = make([][]int64, records) // versions accepted per record
		conflicts int
		wg        sync.WaitGroup
		errc      = make(chan error, writers)
	)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := remotestore.New(urls[w%len(urls)], bearer, hc)
			for done := 0; done < perWriter; {
				i := rand.IntN(records)
				cur, err := c.GetRecord(ctx, keys[i])
				if err != nil {
					errc <- err
					return
				}
				n, _ := strconv.Atoi(open(t, cur))
				next := store.Record{Key: keys[i], KeyID: testKeyID, Envelope: seal(t, keys[i], strconv.Itoa(n+1))}
				got, err := c.PutRecord(ctx, next, cur.Version)
				switch {
				case errors.Is(err, store.ErrConflict):
					mu.Lock()
					conflicts++
					mu.Unlock()
					continue
				case err != nil:
					errc <- err
					return
				}
				if got.Version != cur.Version+1 {
					errc <- errors.New("accepted version is not read version + 1")
					return
				}
				mu.Lock()
				accepted[i] = append(accepted[i], got.Version)
				mu.Unlock()
				done++
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	total := 0
	for i, vs := range accepted {
		slices.Sort(vs)
		for j, v := range vs {
			if v != int64(j+2) { // versions 2, 3, 4, … each exactly once
				t.Fatalf("record %d: accepted versions %v are not unique and consecutive", i, vs)
			}
		}
		final, err := setup.GetRecord(ctx, keys[i])
		if err != nil {
			t.Fatal(err)
		}
		if final.Version != int64(len(vs)+1) || open(t, final) != strconv.Itoa(len(vs)) {
			t.Fatalf("record %d: version %d counter %s after %d accepted updates: an update was lost",
				i, final.Version, open(t, final), len(vs))
		}
		total += len(vs)
	}
	if total != writers*perWriter {
		t.Fatalf("accepted %d updates, want %d", total, writers*perWriter)
	}
	if conflicts == 0 {
		t.Fatal("no writer ever lost a race: the test did not contend")
	}
	t.Logf("%d accepted updates, %d conflicts (412) over %d replica(s)", total, conflicts, len(urls))
}

// TestTwoReplicasOnePostgres: two servers on one PostgreSQL behave as one.
func TestTwoReplicasOnePostgres(t *testing.T) {
	t.Parallel()
	dsn := storetest.PostgresURL(t)
	idp := storetest.NewIdP(t)
	a := storetest.StartServer(t, storetest.OpenPostgres(t, dsn), idp)
	b := storetest.StartServer(t, storetest.OpenPostgres(t, dsn), idp)
	testConcurrentRMW(t, idp, []string{a.URL, b.URL}, &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}})
}

// testCiphertextOnly writes sealed tokens and checks that neither the
// database nor the client→server traffic holds the plaintext or the key.
func testCiphertextOnly(t *testing.T, e *env) {
	const secret = "ya29.a0AfB_PLAINTEXT_ACCESS_TOKEN_do_not_leak_7f3c"
	const refresh = "1//0g-PLAINTEXT-REFRESH-TOKEN-xyz"
	tap := storetest.NewTap(t, e.srv.Listener.Addr().String())
	tok := e.idp.Token("alice", storetest.Claims{})
	c := remotestore.New(tap.URL(), func(context.Context) (string, error) { return tok, nil }, nil)
	ctx := t.Context()
	for i, in := range []string{"docebo", "document360"} {
		k := store.Key{User: "alice", Device: "d1", Integration: in}
		rec := store.Record{Key: k, KeyID: testKeyID, Envelope: seal(t, k, `{"access_token":"`+secret+`","refresh_token":"`+refresh+`"}`)}
		r, err := c.PutRecord(ctx, rec, store.CreateOnly)
		if err != nil {
			t.Fatal(err)
		}
		rec.Envelope = seal(t, k, `{"access_token":"`+secret+strconv.Itoa(i)+`"}`)
		if _, err := c.PutRecord(ctx, rec, r.Version); err != nil {
			t.Fatal(err)
		}
		got, err := c.GetRecord(ctx, k)
		if err != nil || !bytes.Contains([]byte(open(t, got)), []byte(secret)) {
			t.Fatalf("round trip: %v", err)
		}
	}
	var dumps = map[string][]byte{"client→server traffic": tap.Sent()}
	if len(dumps["client→server traffic"]) < 100 {
		t.Fatal("the tap captured nothing")
	}
	switch b := e.b.(type) {
	case interface{ Path() string }:
		for _, suffix := range []string{"", "-wal"} {
			data, err := os.ReadFile(b.Path() + suffix)
			if err != nil && suffix == "" {
				t.Fatal(err)
			}
			dumps["sqlite file"+suffix] = data
		}
		if len(dumps["sqlite file"])+len(dumps["sqlite file-wal"]) < 4096 || !bytes.Contains(append(dumps["sqlite file"], dumps["sqlite file-wal"]...), []byte("lk1."+testKeyID)) {
			t.Fatal("the SQLite dump does not hold the envelopes: the dump is wrong")
		}
	default:
		dumps["postgres table"] = dumpPostgres(t, e.b.(*pgBackend).dsn)
	}
	for name, data := range dumps {
		for _, needle := range [][]byte{[]byte(secret), []byte(refresh), testKey, []byte("PLAINTEXT")} {
			if bytes.Contains(data, needle) {
				t.Errorf("%s contains a secret (%.12q…)", name, needle)
			}
		}
	}
}

// dumpPostgres copies the store's tables out as text.
func dumpPostgres(t *testing.T, dsn string) []byte {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var out bytes.Buffer
	for _, table := range []string{"records", "revocations"} {
		_, err := conn.PgConn().CopyTo(t.Context(), &out, "COPY "+table+" TO STDOUT")
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Contains(out.Bytes(), []byte("lk1."+testKeyID)) {
		t.Fatalf("the Postgres dump does not hold the envelopes: %q", out.String())
	}
	return out.Bytes()
}
