// Package fakeidp is the one fake OpenID identity provider latchkey's
// tests use when they need a provider's keys and tokens, not its sign-in
// flows: discovery (/.well-known/openid-configuration) and a key set
// (/jwks) on loopback, signing keys that can be rotated (RSA or EC), a
// count of key set downloads, and tokens minted with whatever claims a test
// wants. Tests that need a provider's interactive flows (authorization
// code, logout) use the OIDC sandbox (integrations/oidc/sandbox) instead.
package fakeidp
