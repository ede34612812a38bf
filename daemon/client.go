package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"
)

// ErrNotRunning: nothing answers on the control socket.
var ErrNotRunning = errors.New("the latchkey daemon is not running (start it with `latchkey daemon`, or `latchkey install` to run it at login)")

// APIError is an error answer of the daemon.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string { return e.Message }

// PeerError: the control socket is served by a process of another user. The
// client closes the connection without sending anything.
type PeerError struct {
	Socket string
	Detail string
}

func (e *PeerError) Error() string {
	return fmt.Sprintf("refusing to talk to the control socket %s: %s (another user may be impersonating the daemon); stop that process or remove the socket, and keep XDG_RUNTIME_DIR private", e.Socket, e.Detail)
}

// Client talks to the running daemon over its control socket.
type Client struct {
	socket string
	hc     *http.Client
}

// NewClient returns a client for the daemon listening on socket. Every
// connection is checked, before anything is written to it, to be served by a
// process of the current user (a *PeerError otherwise).
func NewClient(socket string) *Client {
	return &Client{socket: socket, hc: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, "unix", socket)
			if err != nil {
				return nil, err
			}
			if err := checkServer(c, socket); err != nil {
				c.Close()
				return nil, err
			}
			return c, nil
		},
		DisableKeepAlives: true,
	}}}
}

// Do sends a request with an optional JSON body and decodes a JSON answer
// into out (when non-nil). Query parameters go in q.
func (c *Client) Do(ctx context.Context, method, path string, q url.Values, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	u := "http://latchkey.sock" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var pe *PeerError
		if errors.As(err, &pe) {
			return pe
		}
		var oe *net.OpError
		if errors.As(err, &oe) || errors.Is(err, os.ErrNotExist) {
			return ErrNotRunning
		}
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error.Message != "" {
			return &APIError{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
		}
		return &APIError{Status: resp.StatusCode, Code: "http_" + fmt.Sprint(resp.StatusCode), Message: fmt.Sprintf("the daemon answered HTTP %d", resp.StatusCode)}
	}
	if out == nil {
		return nil
	}
	if raw, ok := out.(*json.RawMessage); ok {
		*raw = append((*raw)[:0], b...)
		return nil
	}
	return json.Unmarshal(b, out)
}

// Ping reports whether the daemon answers.
func (c *Client) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return c.Do(ctx, http.MethodGet, "/healthz", nil, nil, nil)
}

// WaitFlow waits until the connect flow id ends, returning its error.
func (c *Client) WaitFlow(ctx context.Context, id string) error {
	for {
		var fr FlowResponse
		if err := c.Do(ctx, http.MethodGet, "/control/flows/"+url.PathEscape(id), url.Values{"wait": {"25s"}}, nil, &fr); err != nil {
			return err
		}
		if fr.Done {
			if fr.Error != "" {
				return errors.New(fr.Error)
			}
			return nil
		}
	}
}
