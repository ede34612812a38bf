package remotestore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/vault/store"
)

var (
	// ErrRevoked: an administrator revoked the record (HTTP 410 with code
	// "revoked"). errors.Is(err, store.ErrNotFound) is also true.
	ErrRevoked = errors.New("remotestore: record revoked by an administrator")
	// ErrUnauthorized: the store refused the bearer token (401) or the
	// caller is not allowed (403).
	ErrUnauthorized = errors.New("remotestore: not authorized by the store")
)

// APIError is a non-2xx answer of the store. It unwraps to the matching
// sentinel (store.ErrConflict, store.ErrNotFound, ErrRevoked,
// store.ErrUnavailable, ErrUnauthorized) when there is one.
type APIError struct {
	Status  int
	Code    string // the API's error code, e.g. "conflict", "revoked"
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("remotestore: %d %s: %s", e.Status, e.Code, e.Message)
}

// Unwrap returns the sentinels this answer means.
func (e *APIError) Unwrap() []error {
	switch {
	case e.Status == http.StatusGone && e.Code == "revoked":
		return []error{ErrRevoked, store.ErrNotFound}
	case e.Status == http.StatusNotFound:
		return []error{store.ErrNotFound}
	case e.Status == http.StatusPreconditionFailed:
		return []error{store.ErrConflict}
	case e.Status == http.StatusUnauthorized, e.Status == http.StatusForbidden:
		return []error{ErrUnauthorized}
	case e.Status >= 500, e.Status == http.StatusTooManyRequests:
		return []error{store.ErrUnavailable}
	}
	return nil
}

// Client talks to one latchkey-store. It is safe for concurrent use.
type Client struct {
	base   *url.URL
	bearer func(ctx context.Context) (string, error)
	hc     *http.Client
}

var _ store.RecordStore = (*Client)(nil)

// New returns a client of the store at baseURL (e.g. "https://store.example";
// plain http only makes sense on loopback). bearer returns the JWT to send
// (called for every request, so it may refresh); httpClient nil means a
// client with a 30 s timeout.
func New(baseURL string, bearer func(ctx context.Context) (string, error), httpClient *http.Client) *Client {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || u.Scheme == "" || u.Host == "" {
		u = &url.URL{Scheme: "invalid", Host: "invalid"}
	}
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{base: u, bearer: bearer, hc: httpClient}
}

func (c *Client) url(segments ...string) string {
	u := *c.base
	var p strings.Builder
	p.WriteString(strings.TrimRight(u.Path, "/"))
	var raw strings.Builder
	raw.WriteString(strings.TrimRight(u.EscapedPath(), "/"))
	for _, s := range segments {
		p.WriteString("/" + s)
		raw.WriteString("/" + url.PathEscape(s))
	}
	u.Path, u.RawPath = p.String(), raw.String()
	return u.String()
}

// do sends one request and decodes a 2xx JSON answer into out (if not nil).
func (c *Client) do(ctx context.Context, method, u string, hdr http.Header, body, out any) (http.Header, error) {
	if c.base.Scheme == "invalid" {
		return nil, errors.New("remotestore: the store URL is not an absolute http(s) URL")
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("remotestore: %w", err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.bearer != nil {
		tok, err := c.bearer(ctx)
		if err != nil {
			return nil, fmt.Errorf("%w: no bearer token: %w", ErrUnauthorized, err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// *url.Error names the URL (no secrets in it: no query) and the cause.
		return nil, fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%w: reading the answer: %w", store.ErrUnavailable, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &APIError{Status: resp.StatusCode}
		var body struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(data, &body) == nil && body.Error.Code != "" {
			e.Code, e.Message = body.Error.Code, body.Error.Message
		} else {
			e.Code, e.Message = "http", http.StatusText(resp.StatusCode)
		}
		return resp.Header, e
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.Header, fmt.Errorf("%w: the store answered something that is not its JSON: %w", store.ErrUnavailable, err)
		}
	}
	return resp.Header, nil
}

// Ping asks the store's GET /healthz whether it answers: a cheap probe,
// without a bearer token, bounded by 5 s. Not answering, or answering other
// than 2xx, is store.ErrUnavailable.
func (c *Client) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if c.base.Scheme == "invalid" {
		return errors.New("remotestore: the store URL is not an absolute http(s) URL")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url("healthz"), nil)
	if err != nil {
		return fmt.Errorf("remotestore: %w", err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%w: GET /healthz answered %d", store.ErrUnavailable, resp.StatusCode)
	}
	return nil
}

// GetRecord reads the caller's record under k (k.User is ignored: the store
// uses the bearer token's subject).
func (c *Client) GetRecord(ctx context.Context, k store.Key) (store.Record, error) {
	var rec store.Record
	_, err := c.do(ctx, http.MethodGet, c.url("v1", "records", k.Device, k.Integration), nil, nil, &rec)
	if err != nil {
		return store.Record{}, err
	}
	return rec, nil
}

// PutRecord creates (expectVersion store.CreateOnly: If-None-Match: *) or
// updates (If-Match: "<expectVersion>") the caller's record. The store
// refuses unconditional writes, so store.AnyVersion is an error here.
func (c *Client) PutRecord(ctx context.Context, rec store.Record, expectVersion int64) (store.Record, error) {
	hdr := http.Header{}
	switch {
	case expectVersion == store.CreateOnly:
		hdr.Set("If-None-Match", "*")
	case expectVersion > 0:
		hdr.Set("If-Match", `"`+strconv.FormatInt(expectVersion, 10)+`"`)
	default:
		return store.Record{}, errors.New("remotestore: the remote store needs a version (or CreateOnly), not AnyVersion")
	}
	body := struct {
		KeyID    string `json:"key_id"`
		Envelope string `json:"envelope"`
	}{rec.KeyID, rec.Envelope}
	var out store.Record
	if _, err := c.do(ctx, http.MethodPut, c.url("v1", "records", rec.Device, rec.Integration), hdr, body, &out); err != nil {
		return store.Record{}, err
	}
	return out, nil
}

// DeleteRecord deletes the caller's record under k, whatever its version.
func (c *Client) DeleteRecord(ctx context.Context, k store.Key) error {
	return c.DeleteVersion(ctx, k, store.AnyVersion)
}

// DeleteVersion deletes the caller's record under k if its version is
// expectVersion (store.AnyVersion: unconditionally).
func (c *Client) DeleteVersion(ctx context.Context, k store.Key, expectVersion int64) error {
	var hdr http.Header
	if expectVersion > 0 {
		hdr = http.Header{"If-Match": {`"` + strconv.FormatInt(expectVersion, 10) + `"`}}
	}
	_, err := c.do(ctx, http.MethodDelete, c.url("v1", "records", k.Device, k.Integration), hdr, nil, nil)
	return err
}

// ListRecords returns the caller's records. The store lists the bearer
// token's subject's records; user is ignored.
func (c *Client) ListRecords(ctx context.Context, user string) ([]store.Record, error) {
	var out struct {
		Records []store.Record `json:"records"`
	}
	if _, err := c.do(ctx, http.MethodGet, c.url("v1", "records"), nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Records, nil
}

// AdminRecord is what an administrator sees of a record: metadata, never the
// envelope. Revoked marks a revocation marker.
type AdminRecord struct {
	store.Key
	KeyID     string    `json:"key_id,omitempty"`
	Version   int64     `json:"version"`
	UpdatedAt time.Time `json:"updated_at"`
	Revoked   bool      `json:"revoked,omitempty"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	RevokedBy string    `json:"revoked_by,omitempty"`
}

// AdminList lists user's records (every user's when user is ""), metadata
// only. The bearer must be an administrator's.
func (c *Client) AdminList(ctx context.Context, user string) ([]AdminRecord, error) {
	u := c.url("v1", "admin", "records")
	if user != "" {
		u += "?" + url.Values{"user": {user}}.Encode()
	}
	var out struct {
		Records []AdminRecord `json:"records"`
	}
	if _, err := c.do(ctx, http.MethodGet, u, nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Records, nil
}

// AdminRevoke revokes k's record: the store deletes it and leaves a marker,
// so the device learns of it (ErrRevoked) on its next sync.
func (c *Client) AdminRevoke(ctx context.Context, k store.Key) error {
	_, err := c.do(ctx, http.MethodDelete, c.url("v1", "admin", "records", k.User, k.Device, k.Integration), nil, nil, nil)
	return err
}
