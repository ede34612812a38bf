// Package syncer is the daemon's side of the remote store: it drains the
// local store's outbox into latchkey-store and notices records revoked
// centrally.
//
// Every seal is committed locally first (with its outbox item, in one
// transaction: see vault/store/sqlitestore); the syncer then pushes it.
// While the store is down it retries with capped exponential backoff and
// jitter; it flushes at start, when the store answers again, and whenever
// Kick is called. Nothing is lost: an item leaves the outbox only once the
// store has it (or a newer one, or it was revoked).
//
// Conflicts (HTTP 412) are resolved by re-reading the remote record, never by
// guessing: the same envelope means an earlier push landed (its answer was
// lost) and the item is done; a remote record whose version is at least the
// one this write would have produced is newer and is handed to
// Hooks.OnRemoteNewer; otherwise the local record is written over it with
// the version just read. A record the store reports revoked calls
// Hooks.OnRevoked so the daemon disconnects that integration.
//
// The syncer remembers the last remote version of each record it pushed or
// read, in the local store's meta table when the local store offers one
// (GetMeta/SetMeta), so conflicts stay rare across restarts.
package syncer
