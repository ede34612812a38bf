// Package injector owns latchkey's local API: the loopback HTTP listener the
// user's programs and the menu call, and the same API on the daemon's unix
// control socket.
//
// Every TCP route but /healthz, /.well-known/jwks.json, the OAuth loopback
// redirect /{integration}/connected, the /oauth2/token endpoint and the menu's
// static assets needs a caller: a bearer JWT checked by an auth.Verifier, or
// (for the menu UI) a session secret in the X-Latchkey-Session header, which
// the menu page obtains by POSTing the one-time code of NewMenuCode's URL
// fragment to /menu/session and keeps in its tab's sessionStorage. No cookie
// authenticates anything: browsers send cookies to every port of a host.
//
// # Proxy
//
// /v1/proxy/{integration}/{path…} forwards to that integration's BaseURL
// only, with the integration's token opened at request time (Backend.Lookup →
// Tokens.Token) and set as the Authorization header. The plaintext is not
// kept after the request.
// Refused before anything is opened: absolute-form request targets, CONNECT,
// empty, "." and ".." segments, percent-encoded "/", "\", ".", "@" and "%",
// backslashes, "@" and control characters. Upstream redirects are never
// followed: the 3xx goes back to the caller as is, except that a Location on
// the integration's own origin under its base path is rewritten to the
// matching /v1/proxy/… path (so a caller that follows it comes back through
// the injector); any other http(s) Location is passed on as an absolute URL
// (the caller reaching it carries no integration token), except one naming
// the injector's own listener in any loopback spelling, which is dropped so
// that a caller following redirects never sends its JWT there. The caller's
// credentials, hop-by-hop and browser-context headers, and every header that
// reports a client address or an original URL, host or method
// (requestDenied in proxy.go, '_' compared as '-') are not forwarded;
// upstream headers that would act on the injector's origin (Set-Cookie,
// Clear-Site-Data, Refresh, Link, Alt-Svc, CORS, security policies,
// hop-by-hop: responseDenied) are not passed back. Request bodies are read whole (at most 64 MiB, 413 beyond), so
// an upstream 401 makes the injector call Tokens.Refresh once and retry with
// the same body; when Refresh hands back the rejected token itself (nothing
// to refresh) the 401 goes back to the caller as it came. The token is sent
// in the header the integration names (integrations.CredentialHeaderOf:
// Authorization: Bearer by default). An upstream body that ends within 64 KiB is read before the
// answer goes out (with a Content-Length); a longer one streams, and an event
// stream is flushed as it arrives. A proxied call is cut after 5 minutes. The
// environment's HTTP proxy settings are ignored: the token goes straight to
// the integration.
//
// # Scope
//
// A caller reaches an integration (proxy, search, courses, connect,
// disconnect, widget token, open) only when its claims allow it
// (auth.Claims.Allows); /v1/search and /v1/courses quietly skip the
// integrations the caller may not use.
//
// # Browser safety
//
// The Host header must be an IP literal (loopback ones for a loopback
// listener) or "localhost", with the listener's port (DNS rebinding). A
// request with an Origin other than the listener's own is refused, unless the
// origin is in Config.AllowedOrigins, which also opens CORS for it (bearer
// tokens only, no credentials). Menu-session requests that change state must
// carry the listener's own Origin. A course thumbnail reaches the menu
// through /v1/courses/{integration}/{id}/thumbnail, fetched from the
// integration's own origin only (thumbnail.go), so the menu's CSP names no
// other origin. Every response carries X-Frame-Options DENY, nosniff,
// Referrer-Policy no-referrer and a CSP (default-src 'none' for the API;
// proxied responses are also sandboxed; /menu sets its own).
//
// # Hot path
//
// Per proxied request: the caller's JWT is looked up in the verifier's cache
// (SHA-256 of the token; a full signature check only on a miss), the token is
// opened by Tokens.Token, and the request goes out on a keep-alive
// fasthttp.HostClient per integration origin (upstream.go). Both listeners
// (Serve, ServeControl) are fasthttp servers (fast.go): the proxy runs on
// fasthttp's own request and response types, without net/http's per-request
// allocations and goroutine hand-offs; every other route is the net/http
// handler behind fasthttpadaptor (which streams on Flush). Strings viewed
// over fasthttp's buffers (b2s) never outlive the handler. Measured with
// injector/loadtest.
//
// # Audit
//
// Every proxied call, and every integration a search or course feed reached,
// is handed to Backend.Audit (caller, integration, method, path without
// query, status, duration), from a queue so a slow audit store does not slow
// requests; Close drains the queue.
package injector
