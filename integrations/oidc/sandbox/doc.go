// Package sandbox is a real OpenID Provider for tests and the demo, built on
// the OpenID-certified github.com/zitadel/oidc/v3 op package: discovery,
// JWKS, the authorization endpoint (code flow; PKCE S256 and a nonce are
// required), a username/password login page with a browser session, the
// token endpoint (client_secret_basic and client_secret_post, refresh
// tokens with rotation for offline_access), userinfo, revocation and an
// end_session endpoint that ends the user's session (browser sessions,
// access and refresh tokens).
//
// What the protocol does is zitadel's; this package owns only the storage
// (users, clients, auth requests, tokens, signing keys, all in memory), the
// login page, and the hooks tests use to observe and steer the provider:
// Rotate (a new signing key, the old one kept in the JWKS or dropped),
// Stats, SessionActive, SetClient and Sign.
//
// It serves plain HTTP on loopback only: it is a sandbox, not a product.
package sandbox
