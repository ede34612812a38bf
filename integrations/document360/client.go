package document360

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/latchkey/latchkey/integrations"
)

const (
	maxBody       = 4 << 20 // bytes read from any response
	maxRetries429 = 2       // waits on 429 per request before giving up
	maxMessage    = 300     // runes of a provider message kept in errors
)

// rateState is what the provider's X-RateLimit-* headers told us: while
// blockedUntil is in the future the token has no requests left.
type rateState struct {
	mu           sync.Mutex
	blockedUntil time.Time
	known        bool // remaining was reported, at observed
	remaining    int
	observed     time.Time
	limit        int // X-RateLimit-Limit, 0 until the provider sent it
}

// pacer keeps this process within the per-minute budget: it remembers when
// the requests of the last minute were sent and makes a request wait for the
// oldest one to leave the window once limit requests are in it.
type pacer struct {
	mu    sync.Mutex
	limit int         // requests per rateWindow; 0 = no local limit
	sent  []time.Time // send times within the window, oldest first
}

// take records a request sent at now and returns 0, or returns how long to
// wait before one may be sent (recording nothing).
func (p *pacer) take(now time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.prune(now)
	if p.limit <= 0 {
		return 0
	}
	if len(p.sent) < p.limit {
		p.sent = append(p.sent, now)
		return 0
	}
	return max1ms(p.sent[0].Add(rateWindow).Sub(now))
}

// used is the number of requests sent within the window ending at now.
func (p *pacer) used(now time.Time) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.prune(now)
	return len(p.sent)
}

func (p *pacer) prune(now time.Time) {
	i := 0
	for i < len(p.sent) && !p.sent[i].Add(rateWindow).After(now) {
		i++
	}
	p.sent = p.sent[i:]
}

func max1ms(d time.Duration) time.Duration { return max(d, time.Millisecond) }

// pace waits until the local budget (rate_limit requests per minute) allows
// one more request, or returns a *integrations.RateLimitError at once when
// that wait is longer than the context deadline or the maximum wait. The
// provider's own window is honoured separately (waitWindow), from its
// X-RateLimit-* headers.
func (d *Document360) pace(ctx context.Context) error {
	for {
		wait := d.pacer.take(d.now())
		if wait <= 0 {
			return nil
		}
		if err := d.sleep(ctx, wait, &integrations.RateLimitError{Status: http.StatusTooManyRequests, RetryAfter: wait}); err != nil {
			return err
		}
	}
}

// RateBudget reports the request budget of the API token: the provider's
// X-RateLimit-Remaining when it was reported within the last minute, else
// the configured per-minute limit less the requests sent in the last minute
// (implements integrations.RateBudgets).
func (d *Document360) RateBudget() (integrations.RateBudget, bool) {
	now := d.now()
	used := d.pacer.used(now)
	d.rateLimit.mu.Lock()
	rs := struct {
		known                  bool
		remaining, limit       int
		observed, blockedUntil time.Time
	}{d.rateLimit.known, d.rateLimit.remaining, d.rateLimit.limit, d.rateLimit.observed, d.rateLimit.blockedUntil}
	d.rateLimit.mu.Unlock()
	limit := d.pacer.limit
	if rs.limit > 0 {
		limit = rs.limit // what the provider says beats what is configured
	}
	b := integrations.RateBudget{Limit: limit, WindowSeconds: int(rateWindow / time.Second), Source: "local"}
	switch {
	case rs.known && now.Sub(rs.observed) < rateWindow:
		obs := rs.observed
		b.Remaining, b.Source, b.ObservedAt = rs.remaining, "provider", &obs
	case limit > 0:
		b.Remaining = max(limit-used, 0)
	default:
		return integrations.RateBudget{}, false
	}
	if rs.blockedUntil.After(now) {
		until := rs.blockedUntil
		b.BlockedUntil = &until
	}
	return b, true
}

// wait blocks until the rate-limit window opens again, or returns a
// *integrations.RateLimitError at once when that is later than the context
// deadline or the configured maximum wait.
func (d *Document360) waitWindow(ctx context.Context) error {
	d.rateLimit.mu.Lock()
	until := d.rateLimit.blockedUntil
	d.rateLimit.mu.Unlock()
	wait := until.Sub(d.now())
	if wait <= 0 {
		return nil
	}
	return d.sleep(ctx, wait, &integrations.RateLimitError{Status: http.StatusTooManyRequests, RetryAfter: wait})
}

// sleep waits d unless that overruns ctx's deadline or the maximum wait, in
// which case it returns give (without waiting).
func (d *Document360) sleep(ctx context.Context, wait time.Duration, give error) error {
	if wait > d.maxWait {
		return give
	}
	if dl, ok := ctx.Deadline(); ok && d.now().Add(wait).After(dl) {
		return give
	}
	d.log.Info("document360: waiting for the rate-limit window", "wait", wait.Round(time.Millisecond))
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return give
	}
}

// noteRate records the X-RateLimit-* headers of a response.
func (d *Document360) noteRate(h http.Header) {
	rem, errR := strconv.Atoi(strings.TrimSpace(h.Get("X-RateLimit-Remaining")))
	if errR != nil {
		return
	}
	d.rateLimit.mu.Lock()
	defer d.rateLimit.mu.Unlock()
	d.rateLimit.known, d.rateLimit.remaining, d.rateLimit.observed = true, rem, d.now()
	if l, err := strconv.Atoi(strings.TrimSpace(h.Get("X-RateLimit-Limit"))); err == nil {
		d.rateLimit.limit = l
	}
	if rem > 0 {
		return
	}
	if reset, ok := d.resetIn(h); ok {
		d.rateLimit.blockedUntil = d.now().Add(reset)
	}
}

// resetIn reads X-RateLimit-Reset: seconds until the window resets
// (Document360's rate-limiting page), or — defensively — a Unix time when the number is that large.
func (d *Document360) resetIn(h http.Header) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("X-RateLimit-Reset"))
	if v == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 {
		return 0, false
	}
	if f > 1e9 { // a Unix timestamp
		return time.Unix(int64(f), 0).Sub(d.now()), true
	}
	return time.Duration(f * float64(time.Second)), true
}

// retryAfter is how long a 429 asks us to wait: Retry-After
// (integrations.RetryAfter), else X-RateLimit-Reset, else one second.
func (d *Document360) retryAfter(h http.Header) time.Duration {
	if w, ok := integrations.RetryAfter(h.Get("Retry-After"), d.now()); ok {
		return w
	}
	if r, ok := d.resetIn(h); ok {
		return max(r, 0)
	}
	return time.Second
}

// CredentialHeader is how the injector's proxy sends the API token
// (integrations.CredentialInjector): the bare token in the API's own header.
func (d *Document360) CredentialHeader() (header, prefix string) { return d.authHeader(), "" }

var _ integrations.CredentialInjector = (*Document360)(nil)

// authHeader is the header that carries the API token for the configured API.
func (d *Document360) authHeader() string {
	if d.api == APIv3 {
		return "X-API-Key"
	}
	return "api_token"
}

// get performs one authenticated GET of path?query on the API host and
// decodes the JSON body into out. The token goes through
// integrations.Transport (the API's own header, one refresh and retry
// after a 401, no redirect followed) over pacedTransport (the rate-limit
// window and the local budget, before every request the retry included);
// get waits out 429s within the context deadline and turns error
// responses into *integrations.ProviderError.
func (d *Document360) get(ctx context.Context, tokens integrations.Tokens, path string, query url.Values, out any) error {
	if tokens == nil {
		return integrations.ErrNotConnected
	}
	u := *d.base
	u.Path = d.base.Path + path
	u.RawPath = ""
	u.RawQuery = query.Encode()
	hc := integrations.NewTransport(d, tokens, d.paced).Client(d.hc.Timeout)
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return fmt.Errorf("building request: %w", err)
		}
		req.Header.Set("Accept", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return d.callError(ctx, err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		resp.Body.Close()
		if err != nil {
			return transportError(ctx, err)
		}
		status, h, token := resp.StatusCode, resp.Header, d.sentToken(resp)
		switch {
		case status >= 200 && status < 300:
			if err := json.Unmarshal(body, out); err != nil {
				return fmt.Errorf("decoding the response of %s: %w", path, err)
			}
			return nil
		case status == http.StatusUnauthorized:
			// A 401 the transport's refresh did not cure: for a static API
			// token that means the user must enter a new one.
			return d.rejected(status, h, body, token)
		case status == http.StatusTooManyRequests ||
			(status == http.StatusServiceUnavailable && h.Get("Retry-After") != ""):
			wait := d.retryAfter(h)
			rl := &integrations.RateLimitError{Status: status, RetryAfter: wait}
			if attempt >= maxRetries429 {
				return rl
			}
			if err := d.sleep(ctx, wait, rl); err != nil {
				return err
			}
			continue
		default:
			return d.providerError(status, h, body, token)
		}
	}
}

// callError is the error of a request that got no response: the rate
// budget's *integrations.RateLimitError, a 401 whose refresh failed (with
// the provider's message), the token source's own error, or the exchange
// failing.
func (d *Document360) callError(ctx context.Context, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var rl *integrations.RateLimitError
	var re *integrations.RefreshError
	switch {
	case errors.As(err, &rl):
		return rl
	case errors.As(err, &re):
		return fmt.Errorf("the API token was rejected: %w",
			errors.Join(re.Err, d.providerError(re.Status, re.Header, re.Body)))
	case errors.Is(err, integrations.ErrNotConnected), errors.Is(err, integrations.ErrReconnectNeeded):
		return err
	}
	return transportError(ctx, err)
}

// sentToken is the API token resp's request carried, for scrubbing from
// error messages ("" when the request is not known).
func (d *Document360) sentToken(resp *http.Response) string {
	if resp.Request == nil {
		return ""
	}
	return resp.Request.Header.Get(d.authHeader())
}

// rejected is the error of a 401 that a token refresh did not cure: for a
// static API token that means the user must enter a new one.
func (d *Document360) rejected(status int, h http.Header, body []byte, token string) error {
	return fmt.Errorf("the API token was rejected, enter a new one: %w",
		errors.Join(integrations.ErrReconnectNeeded, d.providerError(status, h, body, token)))
}

// pacedTransport sends the API's requests through base within the rate
// budget: before each one it waits for the provider's window (waitWindow)
// and the local budget (pace), and it records the X-RateLimit-* headers of
// each answer (noteRate).
type pacedTransport struct {
	d    *Document360
	base http.RoundTripper
}

func (p *pacedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	d := p.d
	if err := d.waitWindow(ctx); err != nil {
		return nil, err
	}
	if err := d.pace(ctx); err != nil {
		return nil, err
	}
	start := d.now()
	resp, err := p.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	d.noteRate(resp.Header)
	d.log.Debug("document360: request", "path", req.URL.Path, "status", resp.StatusCode,
		"elapsed", d.now().Sub(start).Round(time.Millisecond),
		"rate_remaining", resp.Header.Get("X-RateLimit-Remaining"))
	return resp, nil
}

// transportError reports a failed exchange without the URL (which carries the
// user's query) and with the context's reason when it ended the call.
func transportError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("request abandoned: %w", ctxErr)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("API unreachable: %w", err)
}

// providerError reads an error body defensively: the v2 envelope
// {"success":false,"errors":[{"description","error_code"}]}, v3 RFC 7807
// problem+json (title/detail, errors[].code), an OAuth error, or nothing
// (v3 answers 401 with an empty body).
//
// Any of the secrets found in the message is replaced, so a provider that
// echoes the request never puts the token into an error.
func (d *Document360) providerError(status int, h http.Header, body []byte, secrets ...string) *integrations.ProviderError {
	pe := &integrations.ProviderError{Status: status}
	var e struct {
		Errors []struct {
			Code        string `json:"code"`
			ErrorCode   any    `json:"error_code"`
			Description string `json:"description"`
			Message     string `json:"message"`
		} `json:"errors"`
		Title            string `json:"title"`
		Detail           string `json:"detail"`
		Code             any    `json:"code"`
		Message          string `json:"message"`
		OAuthError       string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	if len(body) > 0 && (strings.HasSuffix(mt, "json") || json.Valid(body)) && json.Unmarshal(body, &e) == nil {
		var msgs []string
		for _, x := range e.Errors {
			if pe.Code == "" {
				pe.Code = firstNonEmpty(x.Code, scalar(x.ErrorCode))
			}
			if m := firstNonEmpty(x.Description, x.Message); m != "" {
				msgs = append(msgs, m)
			}
		}
		if pe.Code == "" {
			pe.Code = firstNonEmpty(scalar(e.Code), e.OAuthError)
		}
		if len(msgs) == 0 {
			if m := firstNonEmpty(e.Detail, e.Title, e.Message, e.ErrorDescription); m != "" {
				msgs = append(msgs, m)
			}
		}
		pe.Message = strings.Join(msgs, "; ")
	}
	if pe.Message == "" {
		pe.Message = http.StatusText(status) // v3 answers 401 with an empty body
	}
	for _, sec := range secrets {
		if len(sec) >= 4 {
			pe.Code = strings.ReplaceAll(pe.Code, sec, "[redacted]")
			pe.Message = strings.ReplaceAll(pe.Message, sec, "[redacted]")
		}
	}
	pe.Code = StripHTML(pe.Code, 64)
	pe.Message = StripHTML(pe.Message, maxMessage)
	return pe
}

func scalar(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return ""
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if strings.TrimSpace(x) != "" {
			return x
		}
	}
	return ""
}
