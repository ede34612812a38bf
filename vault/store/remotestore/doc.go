// Package remotestore is the HTTP client of latchkey-store: a
// store.RecordStore over the store's JSON API (vault/storeserver/openapi.yaml).
//
// It maps the API's answers to the store package's errors: 412 →
// store.ErrConflict, 404 → store.ErrNotFound, 410 "revoked" → ErrRevoked
// (which also matches store.ErrNotFound), network failures and 5xx →
// store.ErrUnavailable, 401/403 → ErrUnauthorized. It sends only what it is
// given: sealed envelopes and their key ids.
package remotestore
