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
//     unknown key id, so key rotation needs no restart. Their aud must name
//     [IdPConfig.Audience] (an audience meant for the local API) and none of
//     [IdPConfig.RefuseAudiences] (the daemon's client id, whose ID token is
//     its bearer at latchkey-store), so a credential for the store is never
//     one for the local API.
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
// required and iss and aud must match. exp and nbf of provider tokens are
// checked with a small leeway (another clock issued them); local tokens have
// none (one clock mints and verifies them), so a token minted with
// [Issuer.MintBefore] for a personal client stops with the client. Parsing and signature checks are done by golang-jwt/jwt/v5 (local)
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
