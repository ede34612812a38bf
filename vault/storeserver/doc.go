// Package storeserver is latchkey-store: the remote store that holds users'
// sealed token envelopes and never sees a plaintext token.
//
// It owns the HTTP API (documented in openapi.yaml beside this file), bearer
// JWT verification against the organisation's identity provider (OIDC
// discovery or a JWKS URL; keys rotate without a restart, and unknown key ids
// trigger at most one key set download per 30 s), the per-user
// isolation and administrator rules, Prometheus metrics, and the two database
// backends (SQLite through modernc.org/sqlite, PostgreSQL through pgx) with
// their embedded migrations.
//
// It also owns the organisation's integrations: what an administrator
// configures once for everybody (admin API and the HTML console at /admin,
// signed in with the identity provider), their client secrets sealed at
// rest under the server's secrets key (SecretsKeys), the audit trail of
// every change, and GET /v1/org/integrations, which devices pull.
//
// The server keeps no state of its own: every version check is a single
// compare-and-set statement in the database, so several replicas on one
// PostgreSQL behave as one.
//
// Revocation: an administrator's revoke deletes the record and leaves a
// revocation marker. Reads, conditional updates and deletes of a revoked key
// answer 410 Gone with error code "revoked" until the device creates a new
// record there (If-None-Match: *), which is a fresh consent and clears the
// marker.
package storeserver
