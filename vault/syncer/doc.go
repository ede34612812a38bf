// Package syncer is the daemon's side of the remote store: it drains the
// local store's outbox into latchkey-store and notices records revoked
// centrally.
//
// Every seal is committed locally first (with its outbox item, in one
// transaction: see vault/store/sqlitestore); the syncer then pushes it.
// While the store is down it probes it cheaply (GET /healthz, Pinger) with
// exponential backoff and jitter capped at Options.MaxProbe (10 s), and
// flushes the outbox as soon as it answers; it also flushes at start and
// whenever Kick is called, and a Kick that finds the store still down does
// not lengthen the delay. Nothing is lost: an item leaves the outbox only
// once the store has it (or a newer one, or it was revoked).
//
// Conflicts (HTTP 412) are resolved by re-reading the remote record, never by
// guessing: the same envelope means an earlier push landed (its answer was
// lost) and the item is done; a remote record whose version is at least the
// one this write would have produced is handed to Hooks.OnRemoteNewer, which
// may still refuse it as not newer (ErrNotNewer: the daemon compares the
// sequences sealed inside both records, which the store cannot forge), and
// then the local record is written over it; otherwise the local record is written over it with
// the version just read. A record the store reports revoked calls
// Hooks.OnRevoked so the daemon disconnects that integration.
//
// The syncer remembers the last remote version of each record it pushed or
// read, in the local store's meta table when the local store offers one
// (GetMeta/SetMeta), so conflicts stay rare across restarts.
package syncer
