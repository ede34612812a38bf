package storeserver_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/vault/store"
	"github.com/latchkey/latchkey/vault/store/remotestore"
	"github.com/latchkey/latchkey/vault/storeserver/storetest"
)

// Benchmarks of the store server over real loopback HTTP with real JWT
// verification: sealed writes (seal + PUT If-Match) and reads (GET) per
// second at several client concurrencies, on SQLite, on PostgreSQL, and on
// two replicas sharing one PostgreSQL. Run with `make bench` or:
//
//	go test -run '^$' -bench . -benchtime 3s ./vault/storeserver/
//	scripts/with-postgres.sh go test -run '^$' -bench . ./vault/storeserver/

var benchConcurrency = []int{1, 16, 64}

type benchTarget struct {
	name string
	urls func(b *testing.B, idp *storetest.IdP) []string
}

func benchTargets() []benchTarget {
	return []benchTarget{
		{"sqlite", func(b *testing.B, idp *storetest.IdP) []string {
			return []string{storetest.StartServer(b, storetest.OpenSQLite(b), idp).URL}
		}},
		{"postgres", func(b *testing.B, idp *storetest.IdP) []string {
			return []string{storetest.StartServer(b, storetest.OpenPostgres(b, storetest.PostgresURL(b)), idp).URL}
		}},
		{"postgres-2replicas", func(b *testing.B, idp *storetest.IdP) []string {
			dsn := storetest.PostgresURL(b)
			return []string{
				storetest.StartServer(b, storetest.OpenPostgres(b, dsn), idp).URL,
				storetest.StartServer(b, storetest.OpenPostgres(b, dsn), idp).URL,
			}
		}},
	}
}

func BenchmarkWrite(b *testing.B) { benchStore(b, true) }
func BenchmarkRead(b *testing.B)  { benchStore(b, false) }

func benchStore(b *testing.B, write bool) {
	for _, tg := range benchTargets() {
		for _, c := range benchConcurrency {
			b.Run(fmt.Sprintf("%s/c=%d", tg.name, c), func(b *testing.B) {
				idp := storetest.NewIdP(b)
				urls := tg.urls(b, idp)
				hc := &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 128}}
				b.Cleanup(hc.CloseIdleConnections)
				tok := idp.Token("bench-user", storetest.Claims{TTL: time.Hour})
				bearer := func(context.Context) (string, error) { return tok, nil }
				ctx := context.Background()
				// One record per worker: writers never conflict, so this
				// measures throughput, not contention.
				type worker struct {
					c   *remotestore.Client
					k   store.Key
					ver int64
					env string
				}
				ws := make([]*worker, c)
				for i := range ws {
					k := store.Key{User: "bench-user", Device: "bench", Integration: fmt.Sprintf("i%03d", i)}
					cl := remotestore.New(urls[i%len(urls)], bearer, hc)
					env := seal(b, k, "benchmark token payload of a typical size: access+refresh+expiry ........................................")
					rec, err := cl.PutRecord(ctx, store.Record{Key: k, KeyID: testKeyID, Envelope: env}, store.CreateOnly)
					if err != nil {
						b.Fatal(err)
					}
					ws[i] = &worker{c: cl, k: k, ver: rec.Version, env: env}
				}
				var next atomic.Int64
				var wg sync.WaitGroup
				errc := make(chan error, c)
				b.ResetTimer()
				start := time.Now()
				for _, w := range ws {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for next.Add(1) <= int64(b.N) {
							if write {
								rec := store.Record{Key: w.k, KeyID: testKeyID, Envelope: seal(b, w.k, "refreshed token payload ......................................................")}
								got, err := w.c.PutRecord(ctx, rec, w.ver)
								if err != nil {
									errc <- err
									return
								}
								w.ver = got.Version
							} else if _, err := w.c.GetRecord(ctx, w.k); err != nil {
								errc <- err
								return
							}
						}
					}()
				}
				wg.Wait()
				elapsed := time.Since(start)
				b.StopTimer()
				close(errc)
				for err := range errc {
					b.Fatal(err)
				}
				unit := "reads/s"
				if write {
					unit = "writes/s"
				}
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), unit)
			})
		}
	}
}
