// Command latchkey-store is the remote store server: it holds users' sealed
// token envelopes (ciphertext only) on SQLite or PostgreSQL behind a JWT-
// authenticated HTTP API. See vault/storeserver for the API.
//
//	latchkey-store serve [--listen 127.0.0.1:8787] [--db sqlite:///path/store.db | --db postgres://…]
//	                     (--issuer URL | --jwks-url URL) --audience AUD
//	                     [--admin-claim groups --admin-value latchkey-admins]
//	                     [--tls-cert FILE --tls-key FILE]
//	latchkey-store version
//
// Every flag has a LATCHKEY_STORE_* environment equivalent (--jwks-url is
// LATCHKEY_STORE_JWKS_URL); a flag given on the command line wins.
package main
