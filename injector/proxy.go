package injector

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/integrations"
)

const proxyPrefix = "/v1/proxy/"

// maxReplayBody is the largest request body kept in memory so that a
// request can be retried after a token refresh.
const maxReplayBody = 1 << 20

// NewTransport returns the tuned transport used to call integrations: a large
// idle pool per host, bounded timeouts, no compression rewriting, and no
// proxy from the environment (the token goes to the integration directly).
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy: nil,
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   512,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
	}
}

// authSetter is implemented by integrations whose API does not take
// "Authorization: Bearer" (API-key providers). It is matched structurally:
// integrations need not import this package.
type authSetter interface {
	SetAuthHeader(r *http.Request, tok *oauth2.Token)
}

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

// dropRequestHeader reports whether a caller header must not reach the
// integration. Names compare case-insensitively with '_' equal to '-'.
func dropRequestHeader(k string) bool {
	if hasPrefixFold(k, "x-forwarded") || hasPrefixFold(k, "proxy-") || hasPrefixFold(k, "sec-") {
		return true
	}
	switch len(k) {
	case 2:
		return eqFold(k, "te")
	case 3:
		return eqFold(k, "via")
	case 4:
		return eqFold(k, "host")
	case 6:
		return eqFold(k, "cookie") || eqFold(k, "origin") || eqFold(k, "expect")
	case 7:
		return eqFold(k, "referer") || eqFold(k, "trailer") || eqFold(k, "upgrade") || eqFold(k, "cookie2")
	case 9:
		return eqFold(k, "forwarded") || eqFold(k, "x-real-ip")
	case 10:
		return eqFold(k, "connection") || eqFold(k, "keep-alive")
	case 13:
		return eqFold(k, "authorization")
	case 17:
		return eqFold(k, "transfer-encoding") || eqFold(k, "x-client-ip")
	}
	return false
}

// dropResponseHeader reports whether an upstream header must not reach the
// caller (cookies, hop-by-hop, and the headers the injector owns).
func dropResponseHeader(k string) bool {
	if hasPrefixFold(k, "access-control-") {
		return true
	}
	switch len(k) {
	case 7:
		return eqFold(k, "trailer") || eqFold(k, "upgrade")
	case 10:
		return eqFold(k, "set-cookie") || eqFold(k, "connection") || eqFold(k, "keep-alive")
	case 11:
		return eqFold(k, "set-cookie2")
	case 15:
		return eqFold(k, "x-frame-options") || eqFold(k, "referrer-policy")
	case 17:
		return eqFold(k, "transfer-encoding")
	case 18:
		return eqFold(k, "proxy-authenticate")
	case 22:
		return eqFold(k, "x-content-type-options")
	case 23:
		return eqFold(k, "content-security-policy")
	}
	return false
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

// connectionListed reports the names the Connection header lists (to drop).
func connectionListed(h http.Header, k string) bool {
	for _, v := range h["Connection"] {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" && len(f) == len(k) && eqFold(k, strings.ToLower(strings.ReplaceAll(f, "_", "-"))) {
				return true
			}
		}
	}
	return false
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// proxy serves /v1/proxy/{integration}/{path…}.
func (s *Server) proxy(w http.ResponseWriter, r *http.Request, c *caller) {
	start := time.Now()
	target := r.RequestURI[len(proxyPrefix):]
	target, rawQuery, _ := strings.Cut(target, "?")
	name, rest, _ := strings.Cut(target, "/")
	if !validName(name) {
		writeError(w, http.StatusNotFound, "unknown_integration", "no such integration")
		return
	}
	if !c.Allows(name) {
		writeForbiddenScope(w, name)
		return
	}
	upath, err := cleanProxyPath(rest)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_path", "the proxied path is not allowed: "+err.Error())
		return
	}
	ci, ok := s.backend.Lookup(name)
	if !ok || ci.Integration == nil {
		writeError(w, http.StatusNotFound, "unknown_integration", "integration "+name+" is not configured")
		return
	}
	base := ci.Integration.BaseURL()
	if base == nil || base.Host == "" || base.User != nil {
		writeError(w, http.StatusInternalServerError, "bad_base_url", "integration "+name+" has no usable base URL")
		return
	}
	u := &url.URL{
		Scheme:   base.Scheme,
		Host:     base.Host,
		Path:     base.Path + "/" + upath,
		RawPath:  base.EscapedPath() + "/" + rest,
		RawQuery: rawQuery,
	}

	status := 0
	defer func() {
		s.recordAudit(AuditEntry{
			Time: start, Caller: c.Subject, Integration: name, Method: r.Method,
			Path: "/" + upath, Status: status, Duration: time.Since(start),
		})
	}()

	// The body: kept in memory when small enough to replay after a refresh.
	var body []byte
	replayable := true
	switch {
	case r.ContentLength == 0:
	case r.ContentLength > 0 && r.ContentLength <= maxReplayBody:
		body = make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, body); err != nil {
			status = http.StatusBadRequest
			writeError(w, status, "bad_request", "could not read the request body")
			return
		}
	default:
		replayable = false
	}

	hdr := make(http.Header, len(r.Header)+1)
	for k, vv := range r.Header {
		if dropRequestHeader(k) || connectionListed(r.Header, k) {
			continue
		}
		hdr[k] = vv
	}
	if _, ok := hdr["User-Agent"]; !ok {
		hdr["User-Agent"] = []string{""}
	}

	ctx := r.Context()
	tok, err := ci.Tokens.Token(ctx)
	if err != nil {
		status = s.writeIntegrationError(w, name, err)
		return
	}
	newReq := func(tok *oauth2.Token) *http.Request {
		out := (&http.Request{
			Method:     r.Method,
			URL:        u,
			Proto:      "HTTP/1.1",
			ProtoMajor: 1,
			ProtoMinor: 1,
			Header:     hdr,
			Host:       base.Host,
		}).WithContext(ctx)
		switch {
		case body != nil:
			out.Body = io.NopCloser(bytes.NewReader(body))
			out.ContentLength = int64(len(body))
			out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		case !replayable:
			out.Body = r.Body
			out.ContentLength = r.ContentLength
		}
		if as, ok := ci.Integration.(authSetter); ok {
			out.Header = hdr.Clone()
			as.SetAuthHeader(out, tok)
		} else {
			hdr["Authorization"] = []string{"Bearer " + tok.AccessToken}
		}
		return out
	}
	resp, err := s.transport.RoundTrip(newReq(tok))
	if err == nil && resp.StatusCode == http.StatusUnauthorized && replayable {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		resp = nil
		tok, err = ci.Tokens.Refresh(ctx, tok)
		if err != nil {
			status = s.writeIntegrationError(w, name, err)
			return
		}
		hdr = hdr.Clone() // the first request may still be referenced by the transport
		resp, err = s.transport.RoundTrip(newReq(tok))
	}
	tok = nil
	if err != nil {
		status = http.StatusBadGateway
		if ctx.Err() != nil {
			status = 499 // the caller went away
			return
		}
		if errors.Is(err, context.DeadlineExceeded) {
			status = http.StatusGatewayTimeout
		}
		s.log.Warn("proxy: upstream call failed", "integration", name, "error", scrub(err))
		writeError(w, status, "upstream_error", "could not reach "+name)
		return
	}
	defer resp.Body.Close()

	out := w.Header()
	for k, vv := range resp.Header {
		if dropResponseHeader(k) || connectionListed(resp.Header, k) {
			continue
		}
		out[k] = vv
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		out.Set("Location", rewriteLocation(loc, u, base, name))
	}
	status = resp.StatusCode
	w.WriteHeader(status)
	bp := copyBufs.Get().(*[]byte)
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		copyFlushing(w, resp.Body, *bp)
	} else {
		io.CopyBuffer(writerOnly{w}, resp.Body, *bp)
	}
	copyBufs.Put(bp)
}

// writerOnly hides ReadFrom so CopyBuffer uses the pooled buffer.
type writerOnly struct{ io.Writer }

func copyFlushing(w http.ResponseWriter, r io.Reader, buf []byte) {
	rc := http.NewResponseController(w)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			rc.Flush()
		}
		if err != nil {
			return
		}
	}
}

// rewriteLocation maps a redirect on the integration's own origin, under its
// base path, to the matching proxy path; any other Location is returned
// unchanged (the caller reaching it carries no integration token).
func rewriteLocation(loc string, reqURL, base *url.URL, name string) string {
	lu, err := reqURL.Parse(loc)
	if err != nil {
		return loc
	}
	if lu.Scheme != base.Scheme || lu.Host != base.Host || lu.User != nil {
		return loc
	}
	bp := base.EscapedPath()
	p := lu.EscapedPath()
	if !strings.HasPrefix(p, bp+"/") && p != bp {
		return loc
	}
	out := proxyPrefix + name + "/" + strings.TrimPrefix(strings.TrimPrefix(p, bp), "/")
	if lu.RawQuery != "" {
		out += "?" + lu.RawQuery
	}
	return out
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
	writeError(w, status, code, name+": "+scrub(err))
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
