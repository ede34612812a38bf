package docebo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/latchkey/latchkey/integrations"
)

// maxBody bounds how much of a response is read.
const maxBody = 16 << 20

// apiCall is one API request on the platform, authenticated with tokens.
type apiCall struct {
	method string
	path   string
	query  url.Values
	body   any // JSON-encoded when non-nil
}

// call runs c with the token of tokens (integrations.Transport: bearer
// header, one refresh and retry on 401, no redirect followed) and decodes
// the "data" member of the answer into out (the whole body when there is
// no "data" member).
//
// On 429/503 it waits for Retry-After (or an exponential backoff when
// absent), within MaxRetries, MaxRetryWait and the context deadline, then
// gives up with *integrations.RateLimitError.
func (d *Docebo) call(ctx context.Context, tokens integrations.Tokens, c apiCall, out any) error {
	if tokens == nil {
		return fmt.Errorf("docebo: %w", integrations.ErrNotConnected)
	}
	u := d.url(c.path)
	if len(c.query) > 0 {
		u += "?" + c.query.Encode()
	}
	var payload []byte
	if c.body != nil {
		var err error
		if payload, err = json.Marshal(c.body); err != nil {
			return fmt.Errorf("docebo: encode request: %w", err)
		}
	}
	// Docebo answers "Bearer"; whatever token_type says, the header scheme
	// is Bearer (integrations.CredentialHeaderOf).
	hc := integrations.NewTransport(d, tokens, d.hc.Transport).Client(d.hc.Timeout)
	var waited time.Duration
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, c.method, u, bodyReader(payload))
		if err != nil {
			return fmt.Errorf("docebo: %s %s: %w", c.method, c.path, err)
		}
		req.Header.Set("Accept", "application/json")
		if payload != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := hc.Do(req)
		if err != nil {
			var re *integrations.RefreshError
			if errors.As(err, &re) {
				err = re.Err // the refresh's own error says what to do
			}
			return fmt.Errorf("docebo: %s %s: %w", c.method, c.path, scrubURLError(err))
		}
		body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		resp.Body.Close()
		if rerr != nil {
			return fmt.Errorf("docebo: %s %s: read response: %w", c.method, c.path, rerr)
		}
		switch {
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			if perr := legacyError(resp.StatusCode, body); perr != nil {
				return fmt.Errorf("docebo: %s %s: %w", c.method, c.path, perr)
			}
			if out == nil {
				return nil
			}
			if err := decodeData(body, out); err != nil {
				return fmt.Errorf("docebo: %s %s: %w", c.method, c.path, err)
			}
			return nil
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
			wait := d.retryWait(resp.Header.Get("Retry-After"), attempt)
			if err := d.sleepForRetry(ctx, attempt, &waited, wait); err != nil {
				return &integrations.RateLimitError{Status: resp.StatusCode, RetryAfter: wait}
			}
			continue
		default:
			// A 401 here is one the transport's refresh did not cure.
			return fmt.Errorf("docebo: %s %s: %w", c.method, c.path, parseError(resp.StatusCode, body))
		}
	}
}

func bodyReader(b []byte) io.Reader {
	if b == nil {
		return nil
	}
	return bytes.NewReader(b)
}

// retryWait is how long to wait before retry number attempt+1: Retry-After
// when the server sent one (integrations.RetryAfter; unconfirmed whether
// Docebo sends it at all), else 500ms·2^attempt.
func (d *Docebo) retryWait(header string, attempt int) time.Duration {
	if w, ok := integrations.RetryAfter(header, d.now()); ok {
		return w
	}
	return (500 * time.Millisecond) << min(attempt, 6)
}

// sleepForRetry waits d before a retry, or returns an error when that would
// exceed the retry count, the total wait budget or the context deadline.
func (d *Docebo) sleepForRetry(ctx context.Context, attempt int, waited *time.Duration, wait time.Duration) error {
	if attempt >= d.maxRetries || *waited+wait > d.maxRetryWait {
		return errors.New("retry budget exhausted")
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
		return errors.New("deadline before retry")
	}
	*waited += wait
	if wait <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// decodeData decodes the "data" member of a Docebo envelope into out, or the
// whole body when it has no "data" member (some legacy endpoints).
func decodeData(body []byte, out any) error {
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("response is not JSON: %s", snippet(body))
	}
	raw := env.Data
	if len(raw) == 0 || string(raw) == "null" {
		raw = body
	}
	if err := json.Unmarshal(raw, out); err != nil {
		// PHP encodes an empty associative array as []: read it as empty.
		if t := bytes.TrimSpace(raw); bytes.Equal(t, []byte("[]")) {
			return nil
		}
		return fmt.Errorf("unexpected response shape: %w", err)
	}
	return nil
}

// scrubURLError drops the URL from a *url.Error: ours carry no secret, but an
// error message has no business repeating query strings.
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
