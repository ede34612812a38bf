// Package sqlitestore owns latchkey's local database: one SQLite file
// (modernc.org/sqlite, WAL) in the user's state directory holding the sealed
// records, the outbox of writes not yet pushed to a remote store, connection
// metadata, a small key/value table (device id, sync status, sealed signing
// keys), the audit trail of proxied requests, and personal OAuth2 clients.
//
// It implements store.RecordStore (accepting store.AnyVersion) and
// store.Outbox. Nothing it holds is a plaintext token or secret: records are
// refused unless they are well-formed envelopes. The directory is created 0700
// and the database files are 0600. The schema is created and upgraded by the
// embedded migrations under migrations/, tracked in a schema_version table.
//
// GetRecordCached serves the per-request read from a short-lived cache of
// sealed records (ciphertext only), dropped by every record write through
// the Store and bounded by RecordCacheTTL for other processes' writes.
package sqlitestore
