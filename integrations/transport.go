package integrations

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// The token egress policy, which the API clients of the integrations
// (through Transport) and the injector's proxy share:
//   - the token goes only to the host of the request it was set on: no
//     redirect is ever followed (the 3xx goes back to the caller) and the
//     environment's proxy settings (HTTP_PROXY, HTTPS_PROXY) are ignored;
//   - on 401 the token is refreshed once (RefreshRejected) and the request
//     sent once more with the new token; when that is refused too, the
//     token source is told (NoteRefused), and when there is no new token
//     the 401 goes back as it came;
//   - Retry-After is read by RetryAfter.

// Transport is an http.RoundTripper that sends each request with the
// current token of one integration, in the shape of oauth2.Transport: it
// clones the request, puts the credential in the integration's header
// (CredentialHeaderOf), sends it through Base and, on a 401, refreshes the
// token once (RefreshRejected) and sends the request again when its body
// can be replayed (no body, or GetBody set, as http.NewRequest sets it for
// in-memory bodies). The request's context bounds the token lookup, the
// refresh and both sends.
//
// When the refresh fails, RoundTrip returns a *RefreshError that carries
// the 401 (the token scrubbed from it). The response of a retry refused
// again, or a 401 with no new token to retry with, is returned as it is.
//
// A Transport never follows redirects itself; a client built with Client
// does not either.
type Transport struct {
	// Tokens is where the token comes from (AccessTokenFor) and what
	// refreshes it.
	Tokens Tokens
	// Header is the header the credential goes in, and Prefix the text
	// before the token in its value (CredentialHeaderOf; "Authorization"
	// and "Bearer " when Header is empty).
	Header, Prefix string
	// Base sends the authenticated requests; nil means EgressTransport().
	Base http.RoundTripper
}

// NewTransport returns a Transport for in's credential header, with
// tokens, sending through base (nil: EgressTransport()).
func NewTransport(in Integration, tokens Tokens, base http.RoundTripper) *Transport {
	h, p := CredentialHeaderOf(in)
	return &Transport{Tokens: tokens, Header: h, Prefix: p, Base: base}
}

// Client returns an http.Client that sends through t, gives up after
// timeout (0: no limit but the request's context) and never follows a
// redirect: a 3xx is the response.
func (t *Transport) Client(timeout time.Duration) *http.Client {
	return &http.Client{Transport: t, Timeout: timeout, CheckRedirect: NoRedirect}
}

// NoRedirect is an http.Client CheckRedirect that follows no redirect: the
// 3xx response is returned as it is.
func NoRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// egress is the one transport the integrations' clients share by default.
var egress = newEgressTransport()

// EgressTransport is the http.Transport tokens leave through by default:
// bounded dial, TLS and header timeouts, a modest idle pool, and no proxy
// (the environment's proxy settings are ignored). It is shared: one pool of
// connections for the process.
func EgressTransport() *http.Transport { return egress }

func newEgressTransport() *http.Transport {
	return &http.Transport{
		Proxy: nil, // never HTTP_PROXY: the token goes straight to the integration
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// EgressClient is an http.Client over EgressTransport that never follows a
// redirect and gives up after timeout: the client an integration uses for
// its unauthenticated or token-endpoint calls.
func EgressClient(timeout time.Duration) *http.Client {
	return &http.Client{Transport: EgressTransport(), Timeout: timeout, CheckRedirect: NoRedirect}
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	closeBody := func() {
		if req.Body != nil {
			req.Body.Close()
		}
	}
	if t.Tokens == nil {
		closeBody()
		return nil, ErrNotConnected
	}
	ctx := req.Context()
	tok, err := AccessTokenFor(ctx, t.Tokens)
	if err != nil {
		closeBody()
		return nil, err
	}
	if tok == nil || tok.AccessToken == "" {
		closeBody()
		return nil, ErrNotConnected
	}
	base := t.base()
	resp, err := base.RoundTrip(t.authorized(req, req.Body, tok))
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	next, err := RefreshRejected(ctx, t.Tokens, tok)
	if err != nil {
		return nil, newRefreshError(resp, tok.AccessToken, err)
	}
	if next == nil {
		return resp, nil
	}
	body, ok := replayBody(req)
	if !ok {
		return resp, nil // refreshed for the next request; this one cannot be sent again
	}
	drain(resp)
	resp, err = base.RoundTrip(t.authorized(req, body, next))
	if err == nil && resp.StatusCode == http.StatusUnauthorized {
		NoteRefused(t.Tokens, next)
	}
	return resp, err
}

func (t *Transport) base() http.RoundTripper {
	if t.Base != nil {
		return t.Base
	}
	return EgressTransport()
}

// authorized is a clone of req with body and the credential of tok in its
// header (replacing any the caller set).
func (t *Transport) authorized(req *http.Request, body io.ReadCloser, tok *oauth2.Token) *http.Request {
	header, prefix := t.Header, t.Prefix
	if header == "" {
		header, prefix = "Authorization", "Bearer "
	}
	r := req.Clone(req.Context())
	r.Body = body
	r.Header.Set(header, prefix+tok.AccessToken)
	return r
}

// replayBody is a fresh copy of req's body for a second send, and whether
// there is one (a request without a body always has).
func replayBody(req *http.Request) (io.ReadCloser, bool) {
	if req.Body == nil || req.Body == http.NoBody {
		return req.Body, true
	}
	if req.GetBody == nil {
		return nil, false
	}
	b, err := req.GetBody()
	return b, err == nil
}

// drain reads a little of a response body that is not wanted, so that its
// connection can be reused, and closes it.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
}

// RefreshRejected is the refresh-once rule for a 401 on tok: it asks
// tokens for a new token and returns it, or nil when there is none to
// retry with (Refresh gave tok's own access token back: a static API
// token, or one the upstream refused right after a refresh produced it),
// in which case the 401 goes back to the caller. An error is the refresh
// failing.
func RefreshRejected(ctx context.Context, tokens Tokens, tok *oauth2.Token) (*oauth2.Token, error) {
	next, err := tokens.Refresh(ctx, tok)
	if err != nil {
		return nil, err
	}
	if next == nil || next.AccessToken == "" || next.AccessToken == tok.AccessToken {
		return nil, nil
	}
	return next, nil
}

// maxRejectedBody bounds the part of a 401 body a RefreshError keeps.
const maxRejectedBody = 64 << 10

// RefreshError is a 401 whose token refresh failed: Err is the refresh's
// error (ErrReconnectNeeded, say), Status, Header and Body the 401 (at most
// 64 KiB of its body, any copy of the token in it replaced), for the
// provider's own message.
type RefreshError struct {
	Err    error
	Status int
	Header http.Header
	Body   []byte
}

func newRefreshError(resp *http.Response, token string, err error) *RefreshError {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxRejectedBody))
	resp.Body.Close()
	if len(token) >= 4 {
		body = bytes.ReplaceAll(body, []byte(token), []byte("[redacted]"))
	}
	return &RefreshError{Err: err, Status: resp.StatusCode, Header: resp.Header, Body: body}
}

func (e *RefreshError) Error() string {
	return fmt.Sprintf("HTTP %d, and the token refresh failed: %v", e.Status, e.Err)
}

func (e *RefreshError) Unwrap() error { return e.Err }

// maxRetryAfter caps a Retry-After in seconds.
const maxRetryAfter = 24 * time.Hour

// RetryAfter reads a Retry-After header value (RFC 9110 §10.2.3): a
// number of seconds (capped at a day) or an HTTP date, as a wait from now
// (0 for a date already past). ok is false when the value is empty,
// negative or neither form.
func RetryAfter(value string, now time.Time) (wait time.Duration, ok bool) {
	v := strings.TrimSpace(value)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0, false
		}
		return time.Duration(min(n, int(maxRetryAfter/time.Second))) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}
