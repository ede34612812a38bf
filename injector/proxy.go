package injector

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/latchkey/latchkey/integrations"
	"github.com/latchkey/latchkey/internal/loopback"
)

const proxyPrefix = "/v1/proxy/"

var errBadPath = errors.New("bad path")

// cleanProxyPath checks the escaped path that follows
// /v1/proxy/{integration}/ and returns it decoded and escaped. It refuses
// anything that could move the request off the integration's base path or
// host: empty (except a trailing one), "." and ".." segments, in plain or
// percent-encoded form; encoded "/", "\", "." and "@"; "%25" (double
// encoding); backslashes, "@", "#", spaces and control characters; invalid
// percent-encoding.
func cleanProxyPath(escaped string) (decoded string, err error) {
	if escaped == "" {
		return "", nil
	}
	for i := 0; i < len(escaped); i++ {
		c := escaped[i]
		switch {
		case c <= 0x20 || c >= 0x7f, c == '\\', c == '@', c == '#', c == '?':
			return "", fmt.Errorf("%w: character %q not allowed", errBadPath, c)
		case c == '%':
			if i+2 >= len(escaped) {
				return "", fmt.Errorf("%w: truncated escape", errBadPath)
			}
			switch strings.ToLower(escaped[i+1 : i+3]) {
			case "2f", "5c", "2e", "40", "25", "00", "3f", "23":
				return "", fmt.Errorf("%w: encoded %q not allowed", errBadPath, escaped[i:i+3])
			}
		}
	}
	var b strings.Builder
	b.Grow(len(escaped))
	rest := escaped
	for {
		seg, more, found := strings.Cut(rest, "/")
		if seg == "" && found {
			return "", fmt.Errorf("%w: empty segment", errBadPath)
		}
		if seg == "." || seg == ".." {
			return "", fmt.Errorf("%w: dot segment", errBadPath)
		}
		d, err := url.PathUnescape(seg)
		if err != nil {
			return "", fmt.Errorf("%w: bad escape", errBadPath)
		}
		if d == "." || d == ".." || strings.ContainsAny(d, "/\\@") {
			return "", fmt.Errorf("%w: bad segment", errBadPath)
		}
		b.WriteString(d)
		if !found {
			break
		}
		b.WriteByte('/')
		rest = more
	}
	return b.String(), nil
}

func validName(n string) bool {
	if n == "" || len(n) > 64 {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// requestDenied lists the caller headers that never reach an integration,
// as lower-case, dash-separated names ('_' is compared as '-', so
// X_Forwarded_For is X-Forwarded-For). A deny-list rather than an allow-list:
// callers are the user's own programs speaking the integration's API, whose
// content headers (Accept, Content-Type, If-Match, vendor headers, …) the
// injector cannot enumerate; what it must stop is known and closed:
//   - credentials of the caller: Authorization, cookies;
//   - hop-by-hop and framing headers, which belong to the caller's
//     connection, not the upstream one;
//   - browser context, which would tell the upstream about the loopback page;
//   - every header by which a proxy in front of an upstream reports the
//     client's address or the original URL, host or method: an upstream
//     (or its CDN) that trusts one of them would believe the caller instead
//     of the connection (a spoofed client IP, an access rule bypassed, a GET
//     turned into a DELETE).
//
// Prefixes (requestDeniedPrefixes) cover the families: X-Forwarded-*,
// Proxy-*, Sec-*.
var requestDenied = headerSet(
	// credentials
	"authorization", "cookie", "cookie2",
	// hop-by-hop and framing
	"connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "expect", "host",
	// browser context
	"origin", "referer",
	// client address and proxy chain
	"forwarded", "via", "x-real-ip", "x-client-ip", "client-ip", "true-client-ip",
	"cf-connecting-ip", "cf-connecting-ipv6", "cf-pseudo-ipv4", "fastly-client-ip", "x-cluster-client-ip",
	"x-originating-ip", "x-remote-ip", "x-remote-addr", "x-proxyuser-ip", "wl-proxy-client-ip",
	"x-envoy-external-address", "x-envoy-internal", "x-appengine-user-ip", "x-azure-clientip",
	"x-azure-socketip", "akamai-client-ip", "x-host", "x-http-host-override",
	// original URL and method overrides
	"x-original-url", "x-original-uri", "x-rewrite-url", "x-override-url", "x-original-host",
	"x-original-method", "x-http-method-override", "x-http-method", "x-method-override",
)

var requestDeniedPrefixes = []string{"x-forwarded", "proxy-", "sec-"}

// responseDenied lists the upstream headers that never reach the caller:
// they would act on the injector's own origin (127.0.0.1:port), which every
// integration and the menu share, rather than on the upstream's:
//   - state and navigation: Set-Cookie, Clear-Site-Data (could wipe the
//     menu's storage), Refresh (a redirect that bypasses the Location
//     check), Link (preload, prefetch or preconnect from the injector's
//     origin);
//   - origin policies: Alt-Svc, Strict-Transport-Security, NEL, Report-To,
//     Reporting-Endpoints, Expect-CT, Public-Key-Pins, Service-Worker-Allowed,
//     Origin-Agent-Cluster, CORS (Access-Control-*) and the security headers
//     the injector sets itself (CSP, X-Frame-Options, …);
//   - hop-by-hop and framing headers.
var responseDenied = headerSet(
	"set-cookie", "set-cookie2", "clear-site-data", "refresh", "link",
	"alt-svc", "strict-transport-security", "nel", "report-to", "reporting-endpoints", "expect-ct",
	"public-key-pins", "public-key-pins-report-only", "service-worker-allowed", "origin-agent-cluster",
	"content-security-policy", "content-security-policy-report-only", "x-frame-options",
	"x-content-type-options", "referrer-policy", "permissions-policy", "feature-policy",
	"cross-origin-opener-policy", "cross-origin-embedder-policy", "cross-origin-resource-policy",
	"x-xss-protection", "x-permitted-cross-domain-policies", "x-dns-prefetch-control",
	"connection", "keep-alive", "trailer", "transfer-encoding", "upgrade", "proxy-authenticate",
	"proxy-connection",
)

var responseDeniedPrefixes = []string{"access-control-"}

// maxDeniedName bounds the names the sets hold (longer names are in none).
const maxDeniedName = 40

// headerNames is a set of header names grouped by length, so a lookup
// compares a name only with the few of its length (most fail at the first
// byte), without hashing or allocating.
type headerNames [maxDeniedName + 1][]string

func headerSet(names ...string) *headerNames {
	var set headerNames
	for _, n := range names {
		if len(n) > maxDeniedName || n != strings.ToLower(n) || strings.Contains(n, "_") {
			panic("injector: bad header name in a filter set: " + n)
		}
		set[len(n)] = append(set[len(n)], n)
	}
	return &set
}

// inHeaderSet reports whether k, compared case-insensitively with '_' as
// '-', is in set or starts with one of prefixes.
func inHeaderSet(k string, set *headerNames, prefixes []string) bool {
	for _, p := range prefixes {
		if hasPrefixFold(k, p) {
			return true
		}
	}
	if len(k) > maxDeniedName {
		return false
	}
	if len(k) == 0 {
		return false
	}
	c := lowerDash(k[0])
	for _, n := range set[len(k)] {
		if n[0] == c && eqFold(k, n) {
			return true
		}
	}
	return false
}

// dropRequestHeader reports whether a caller header must not reach the
// integration (requestDenied).
func dropRequestHeader(k string) bool {
	return inHeaderSet(k, requestDenied, requestDeniedPrefixes)
}

// dropResponseHeader reports whether an upstream header must not reach the
// caller (responseDenied).
func dropResponseHeader(k string) bool {
	return inHeaderSet(k, responseDenied, responseDeniedPrefixes)
}

func lowerDash(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	if c == '_' {
		return '-'
	}
	return c
}

// eqFold compares a header name to a lower-case, dash-separated name.
func eqFold(k, want string) bool {
	if len(k) != len(want) {
		return false
	}
	for i := 0; i < len(k); i++ {
		if lowerDash(k[i]) != want[i] {
			return false
		}
	}
	return true
}

func hasPrefixFold(k, p string) bool {
	return len(k) >= len(p) && eqFold(k[:len(p)], p)
}

// bodyAllowed reports whether a response with status may have a body.
func bodyAllowed(status int) bool {
	return !(status >= 100 && status < 200 || status == http.StatusNoContent || status == http.StatusNotModified)
}

// proxy serves /v1/proxy/{integration}/{path…} for c, under the token
// egress policy of integrations.Transport: the upstream client follows no
// redirect and ignores the proxy environment (upstreams), a 401 refreshes
// once (integrations.RefreshRejected) and retries, a retry refused again is
// reported (integrations.NoteRefused). life, the server's lifetime context,
// bounds the token lookup and the refresh (fasthttp recycles ctx once this
// handler returns, and a refresh may outlive the request: it is shared with
// other callers).
func (s *Server) proxy(life context.Context, ctx *fasthttp.RequestCtx, c *caller) {
	start := time.Now()
	// A copy: name and the path outlive this handler in the audit queue.
	target := string(ctx.Request.Header.RequestURI()[len(proxyPrefix):])
	target, rawQuery, _ := strings.Cut(target, "?")
	name, rest, _ := strings.Cut(target, "/")
	if !validName(name) {
		writeError(fastWriter(ctx), http.StatusNotFound, "unknown_integration", "no such integration")
		return
	}
	if !c.Allows(name) {
		writeForbiddenScope(fastWriter(ctx), name)
		return
	}
	upath, err := cleanProxyPath(rest)
	if err != nil {
		writeError(fastWriter(ctx), http.StatusBadRequest, "bad_path", "the proxied path is not allowed: "+err.Error())
		return
	}
	ci, ok := s.backend.Lookup(name)
	if !ok || ci.Integration == nil {
		writeError(fastWriter(ctx), http.StatusNotFound, "unknown_integration", "integration "+name+" is not configured")
		return
	}
	base := ci.Integration.BaseURL()
	if base == nil || base.Host == "" || base.User != nil || (base.Scheme != "http" && base.Scheme != "https") {
		writeError(fastWriter(ctx), http.StatusInternalServerError, "bad_base_url", "integration "+name+" has no usable base URL")
		return
	}
	hc := s.upstreams.client(base)
	method := string(ctx.Method())
	status := 0
	defer func() {
		s.recordAudit(AuditEntry{
			Time: start, Caller: c.Subject, Integration: name, Method: method,
			Path: "/" + upath, Status: status, Duration: time.Since(start),
		})
	}()

	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	// The target is the base URL's path plus the checked, still-escaped
	// rest; the client dials the base URL's host whatever it says.
	req.SetRequestURI(base.Scheme + "://" + base.Host + base.EscapedPath() + "/" + rest + queryPart(rawQuery))
	req.Header.SetMethod(method)
	req.Header.SetHost(base.Host)
	conn := ctx.Request.Header.Peek("Connection")
	for k, v := range ctx.Request.Header.All() {
		ks := b2s(k)
		if dropRequestHeader(ks) || eqFold(ks, "content-length") || connectionListsFold(conn, ks) {
			continue
		}
		req.Header.AddBytesKV(k, v)
	}
	if body := ctx.Request.Body(); len(body) > 0 {
		req.SetBodyRaw(body)
	}

	tok, err := integrations.AccessTokenFor(life, ci.Tokens)
	if err != nil {
		status = s.writeIntegrationError(fastWriter(ctx), name, err)
		return
	}
	resp := fasthttp.AcquireResponse()
	resp.StreamBody = true
	// The credential goes in the header the integration names (the
	// caller's own copies of that header are dropped first).
	credHeader, credPrefix := integrations.CredentialHeaderOf(ci.Integration)
	req.Header.Del(credHeader)
	req.Header.Set(credHeader, credPrefix+tok.AccessToken)
	err = hc.Do(req, resp)
	if err == nil && resp.StatusCode() == http.StatusUnauthorized {
		// The 401 is kept until Refresh says whether there is a new token:
		// with none (a static API token, or one a refresh just produced)
		// it goes back to the caller as it is.
		next, rerr := integrations.RefreshRejected(life, ci.Tokens, tok)
		switch {
		case rerr != nil:
			resp.CloseBodyStream()
			fasthttp.ReleaseResponse(resp)
			req.Header.Del(credHeader)
			status = s.writeIntegrationError(fastWriter(ctx), name, rerr)
			return
		case next != nil:
			resp.CloseBodyStream()
			resp.Reset()
			resp.StreamBody = true
			tok = next
			req.Header.Set(credHeader, credPrefix+tok.AccessToken)
			err = hc.Do(req, resp)
			if err == nil && resp.StatusCode() == http.StatusUnauthorized {
				// Refused with a fresh token too: the next 401 on it goes
				// back without another refresh.
				integrations.NoteRefused(ci.Tokens, tok)
			}
		}
	}
	// Take the token out of the request head, which fasthttp pools and
	// reuses. The token string itself cannot be wiped (Go strings are
	// immutable); it is garbage once this handler returns.
	req.Header.Del(credHeader)
	if err != nil {
		resp.CloseBodyStream()
		fasthttp.ReleaseResponse(resp)
		status = http.StatusBadGateway
		if errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrDialTimeout) {
			status = http.StatusGatewayTimeout
		}
		s.log.Warn("proxy: upstream call failed", "integration", name, "error", err.Error())
		writeError(fastWriter(ctx), status, "upstream_error", "could not reach "+name)
		return
	}

	status = resp.StatusCode()
	out := &ctx.Response.Header
	rconn := resp.Header.Peek("Connection")
	for k, v := range resp.Header.All() {
		ks := b2s(k)
		if dropResponseHeader(ks) || eqFold(ks, "content-length") || connectionListsFold(rconn, ks) {
			continue
		}
		if eqFold(ks, "location") {
			u := &url.URL{Scheme: base.Scheme, Host: base.Host, Path: base.Path + "/" + upath,
				RawPath: base.EscapedPath() + "/" + rest}
			if loc, ok := rewriteLocation(string(v), u, base, name, s.isSelf); ok {
				out.Set("Location", loc)
			}
			continue
		}
		out.AddBytesKV(k, v)
	}
	ctx.SetStatusCode(status)
	if ctx.IsHead() || !bodyAllowed(status) {
		if n := resp.Header.ContentLength(); n >= 0 && ctx.IsHead() {
			out.SetContentLength(n)
		}
		resp.CloseBodyStream()
		fasthttp.ReleaseResponse(resp)
		return
	}
	body := &upstreamBody{resp: resp}
	if bytes.HasPrefix(resp.Header.ContentType(), []byte("text/event-stream")) {
		// Server-sent events: each piece goes out as it arrives.
		ctx.SetBodyStreamWriter(body.flushTo)
		return
	}
	n := resp.Header.ContentLength()
	if n > readAhead {
		ctx.Response.SetBodyStream(body, n)
		return
	}
	// A small or unknown-length body is read ahead: when it ends within
	// readAhead bytes (most API answers) it goes out with a Content-Length
	// in the same write as the head, and the upstream connection is free
	// at once; a longer one is streamed (chunked) after what was read.
	bp := readAheadBufs.Get().(*[]byte)
	buf := *bp
	got, err := io.ReadFull(body, buf)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		ctx.Response.SetBody(buf[:got])
		body.Close()
	case err != nil:
		body.Close()
		ctx.Response.Header.SetConnectionClose() // the body is cut short
		ctx.Response.SetBody(buf[:got])
	default:
		ctx.Response.SetBodyStream(io.MultiReader(bytes.NewReader(bytes.Clone(buf[:got])), body), -1)
	}
	readAheadBufs.Put(bp)
}

// readAhead is how much of an upstream body is read before the response
// head goes out.
const readAhead = 64 << 10

var readAheadBufs = sync.Pool{New: func() any { b := make([]byte, readAhead); return &b }}

// queryPart is "?"+q, or "" without a query.
func queryPart(q string) string {
	if q == "" {
		return ""
	}
	return "?" + q
}

// upstreamBody streams an upstream response body to the caller; the
// server closes it once written, which hands the upstream connection back
// to the pool (or closes it when the body was not read to its end).
type upstreamBody struct {
	resp *fasthttp.Response
	done bool
}

func (b *upstreamBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	return b.resp.BodyStream().Read(p)
}

func (b *upstreamBody) Close() error {
	if b.done {
		return nil
	}
	b.done = true
	err := b.resp.CloseBodyStream()
	fasthttp.ReleaseResponse(b.resp)
	return err
}

// flushTo copies the body to w, flushing after each read (event streams).
func (b *upstreamBody) flushTo(w *bufio.Writer) {
	defer b.Close()
	buf := make([]byte, 4<<10)
	for {
		n, err := b.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if w.Flush() != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// connectionListsFold reports whether a Connection header value lists name
// (compared case-insensitively, '_' as '-').
func connectionListsFold(conn []byte, name string) bool {
	if len(conn) == 0 {
		return false
	}
	for f := range strings.SplitSeq(b2s(conn), ",") {
		f = strings.TrimSpace(f)
		if len(f) != len(name) {
			continue
		}
		match := true
		for i := 0; i < len(f); i++ {
			if lowerDash(f[i]) != lowerDash(name[i]) {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

// rewriteLocation decides the Location passed back for an upstream
// redirect, resolved against the upstream request URL reqURL:
//   - on the integration's own origin, under its base path: the matching
//     proxy path of the same integration (following it stays within what
//     the caller asked for);
//   - any other http(s) URL: returned absolute, so that a path on the
//     upstream's origin outside the base path is not read by the caller as
//     a path of the injector;
//   - none (ok false) when the URL is not http(s), cannot be parsed, would
//     make a proxy path cleanProxyPath refuses, or names the injector
//     itself (self): a caller that follows redirects with its credentials
//     would send its JWT there, on a request the upstream chose.
func rewriteLocation(loc string, reqURL, base *url.URL, name string, self func(*url.URL) bool) (string, bool) {
	lu, err := reqURL.Parse(loc)
	if err != nil || (lu.Scheme != "http" && lu.Scheme != "https") || lu.Host == "" {
		return "", false
	}
	if lu.Scheme == base.Scheme && lu.Host == base.Host && lu.User == nil {
		bp := base.EscapedPath()
		p := lu.EscapedPath()
		if strings.HasPrefix(p, bp+"/") || p == bp {
			rest := strings.TrimPrefix(strings.TrimPrefix(p, bp), "/")
			if _, err := cleanProxyPath(rest); err != nil {
				return "", false
			}
			out := proxyPrefix + name + "/" + rest
			if lu.RawQuery != "" {
				out += "?" + lu.RawQuery
			}
			return out, true
		}
	}
	if self != nil && self(lu) {
		return "", false
	}
	return lu.String(), true
}

// isSelf reports whether u reaches one of the injector's TCP listeners: a
// listener's port (the scheme's default when u has none) on any loopback
// or unspecified address in any spelling a client accepts (localhost and
// *.localhost, 127.0.0.0/8 and ::1 in IPv6, IPv4-mapped, and the decimal,
// octal and hexadecimal IPv4 forms URL parsers normalise, 0.0.0.0), or on
// any host at all when a listener is not on loopback.
func (s *Server) isSelf(u *url.URL) bool {
	set := s.hosts.Load()
	if set == nil {
		return false
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	if !set.ports[strings.TrimLeft(port, "0")] && !set.ports[port] {
		return false
	}
	return set.nonLoopback || loopback.ReachesThisMachine(u.Hostname())
}

// scrub returns an error's text without any URL query (url.Error carries
// the full URL).
func scrub(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			u.RawQuery = ""
			u.User = nil
			return fmt.Sprintf("%s %s: %v", ue.Op, u.Redacted(), ue.Err)
		}
		return ue.Op + ": " + ue.Err.Error()
	}
	return err.Error()
}

// writeIntegrationError answers with the status and code that err means and
// returns the status.
func (s *Server) writeIntegrationError(w http.ResponseWriter, name string, err error) int {
	status, code := integrationErrorStatus(err)
	var rl *integrations.RateLimitError
	if errors.As(err, &rl) && rl.RetryAfter > 0 {
		w.Header().Set("Retry-After", itoa(int((rl.RetryAfter+time.Second-1)/time.Second)))
	}
	if status >= 500 {
		s.log.Warn("integration call failed", "integration", name, "error", scrub(err))
	}
	msg := scrub(err)
	for strings.HasPrefix(msg, name+": ") { // once: the error may name its integration already
		msg = strings.TrimPrefix(msg, name+": ")
	}
	writeError(w, status, code, name+": "+msg)
	return status
}

func integrationErrorStatus(err error) (int, string) {
	var rl *integrations.RateLimitError
	var pe *integrations.ProviderError
	switch {
	case errors.Is(err, integrations.ErrNotConnected):
		return http.StatusConflict, "not_connected"
	case errors.Is(err, integrations.ErrReconnectNeeded):
		return http.StatusConflict, "reconnect_needed"
	case errors.As(err, &rl):
		if rl.Status == http.StatusServiceUnavailable {
			return http.StatusServiceUnavailable, "unavailable"
		}
		return http.StatusTooManyRequests, "rate_limited"
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, "timeout"
	case errors.As(err, &pe):
		return http.StatusBadGateway, "provider_error"
	case errors.Is(err, errUnknownIntegration):
		return http.StatusNotFound, "unknown_integration"
	}
	return http.StatusBadGateway, "integration_error"
}
