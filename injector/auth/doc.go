// Package auth owns how callers of latchkey's local API prove who they are.
//
// Two kinds of bearer JWT are accepted by a [Verifier]:
//
//   - local client tokens, minted by the daemon's [Issuer]: EdDSA (Ed25519),
//     iss "latchkey", aud the injector, sub the user (or "client:<id>" for a
//     personal OAuth2 client), a "scope" claim listing integrations, iat, nbf,
//     exp and jti;
//   - tokens of the organisation's identity provider, found by OIDC discovery
//     from its issuer URL, with the provider's JWKS cached and re-fetched (at
//     most once per [IdPConfig.MinRefetchInterval]) when a token names an
//     unknown key id, so key rotation needs no restart.
//
// # Scope
//
// The "scope" claim is a JSON array of integration names. The single entry
// "*" allows every integration. An empty or missing scope allows none: such a
// token still authenticates (it may read /v1/status) but reaches no
// integration. Identity-provider tokens carry no latchkey scope; they are
// given [IdPConfig.Scope] (default "*": the signed-in person themself).
//
// # Checks
//
// Algorithms are allow-listed per source (EdDSA for local tokens; RS*, PS*,
// ES* and EdDSA for the identity provider); "none" and every HMAC algorithm are
// refused, so a public key can never be used as an HMAC secret. exp is
// required, exp and nbf are checked with a small leeway, and iss and aud must
// match. Parsing and signature checks are done by golang-jwt/jwt/v5 (local)
// and coreos/go-oidc with go-jose (identity provider), never by hand.
//
// # Cache
//
// A successful verification is cached, keyed by the SHA-256 of the token
// string, until the token's exp (never longer), in a bounded cache, so the
// hot path does not verify the same signature again. A cache hit is exactly
// as strong as a verification: the key is a collision-resistant digest of the
// whole token, so only the identical token string hits, and it stops hitting
// at exp without any leeway.
package auth
