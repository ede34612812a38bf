// Package oauthserver owns latchkey's OAuth 2.1 authorization server for
// local apps: the apps a person lets reach their tools through the daemon,
// each with its own consented, scoped and revocable grant.
//
// It serves, on the daemon's loopback listener:
//
//   - GET /.well-known/oauth-authorization-server (RFC 8414 metadata) and
//     GET /.well-known/oauth-protected-resource[/mcp] (RFC 9728);
//   - GET /oauth2/authorize: the authorization code flow, PKCE with S256
//     required, redirect URIs on the loopback interface only, matched as
//     RFC 8252 §7.3 says (any port), state returned, and the consent asked
//     of the person through a [Prompter] (the menu's consent view), never
//     answered by the requesting page or program;
//   - POST /oauth2/token for authorization_code and refresh_token (the
//     refresh token rotates on every use; presenting a used one revokes
//     the grant);
//   - POST /oauth2/register: dynamic client registration (RFC 7591) of
//     public clients with loopback redirect URIs, and client ids that are
//     https URLs of client ID metadata documents.
//
// The resource parameter (RFC 8707) binds a grant to one resource on the
// listener ("/mcp" or "/v1"): its access tokens say so and the injector
// refuses them elsewhere. Access tokens are the daemon's short-lived local
// JWTs ([auth.Issuer.MintApp]) with the app as client_id and azp, sub
// "app:<grant id>" and the granted integrations as scope.
//
// Registered clients and grants (names, redirect URIs, scopes, dates, and
// the SHA-256 of refresh tokens, never a token) are kept through a [Store];
// codes and pending consents live in memory for their short lives.
// Revoking a grant calls [Config.OnRevoke] so its tokens stop at once;
// [Server.RevokedSubjects] lets a restarted daemon refuse them again.
package oauthserver
