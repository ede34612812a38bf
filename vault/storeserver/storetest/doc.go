// Package storetest holds test helpers for the store server and its clients:
// a real OIDC identity provider on loopback (discovery + JWKS, RSA keys it
// generates, key rotation), servers on real loopback HTTP over either
// backend, and a fresh PostgreSQL database per test run.
//
// It is imported by tests only.
package storetest
