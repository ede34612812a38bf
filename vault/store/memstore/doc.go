// Package memstore is an in-memory local store: the records, outbox,
// connections and meta that vault/store/sqlitestore keeps in a file, held
// in maps behind one mutex, so every call is one transaction. The vault's
// unit tests run on it; vault/store/storecontract holds it to the same
// contract as the SQLite store (versions, store.ErrNotFound,
// store.ErrConflict, all-or-nothing changes, only sealed envelopes).
// Nothing survives the process: it is not for the daemon.
package memstore
