// Package vault owns latchkey's secrets at rest: the salt in the OS keychain,
// the key derived from it, sealing and opening OAuth tokens, and writing them
// to the local store (and its outbox) in one transaction. It is the only
// writer of sealed state: every change that touches a record (save, mark
// reconnect, disconnect, sign out, adopt a newer remote record) is one
// method and one store.Change. It reaches the store through the small
// interfaces it declares ([Store]): vault/store/sqlitestore in the daemon
// ([OpenLocalStore]), vault/store/memstore in tests. Tokens convert to and
// from *oauth2.Token at its API; inside they are the vault's own struct.
//
// The key: a 32-byte random salt kept in the keychain (service "latchkey",
// account = [Options.Account]: the OS user for the default setup, the OS
// user and a setup id for another state directory, so isolated setups never
// share items; items kept under the old account are adopted, never moved
// away) → HKDF-SHA256 bound to the user → a 32-byte
// XChaCha20-Poly1305 key. A 16-hex key id, derived with a separate HKDF info,
// is stored beside every record, so a record sealed under a lost or replaced
// salt is recognised without being tried: its integration is marked
// reconnect-needed and the record deleted ([Report.Purged]).
//
// Rotation ([Vault.RotateKey]) stores the new salt under "<account>.next" first,
// re-seals every record, then replaces the primary salt and deletes ".next";
// a crash at any point leaves every record openable by one of the two, and
// the next [Open] finishes the rotation.
//
// Other secrets the daemon keeps in the local store's meta table (signing
// keys) are sealed the same way, bound to their meta key
// ([Vault.SetSealedMeta]); a rotation re-seals them too. Client secrets live
// in the keychain itself ([Vault.SetSecret]).
//
// Plaintext tokens live only as long as a call: nothing here caches, logs or
// echoes them in errors.
package vault
