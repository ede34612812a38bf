// Package storecontract is the contract every local store keeps (the
// SQLite store and the in-memory one the vault's tests use), as one test
// run against each: record versions, store.ErrNotFound and
// store.ErrConflict, only sealed envelopes accepted, a store.Change
// committed whole or not at all, the outbox coalescing writes of a key, and
// meta. It is imported by tests only.
package storecontract
