package client

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
	"sync"

	"github.com/latchkey/latchkey/client/apitype"
	"github.com/latchkey/latchkey/internal/userdirs"
)

// ErrNotRunning: nothing answers on the control socket.
var ErrNotRunning = errors.New("the latchkey daemon is not running (start it with `latchkey daemon`, or `latchkey install` to run it at login)")

// APIError is an error answer of the daemon. Code is one of apitype's
// Code… constants, or "http_<status>" when the answer carried none.
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

// maxAnswer bounds the size of an answer the client reads.
const maxAnswer = 32 << 20

// Client talks to the running daemon over its control socket. The zero
// value uses the current user's socket; a Client must not be copied after
// first use. Every connection is checked, before anything is written to
// it, to be served by a process of the current user (a *PeerError
// otherwise).
type Client struct {
	// Socket is the control socket's path. Empty: the user's default
	// ($XDG_RUNTIME_DIR/latchkey/latchkey.sock, or its fallbacks).
	Socket string

	once    sync.Once
	hc      *http.Client
	initErr error
}

// init resolves the socket and builds the HTTP client, once.
func (c *Client) init() error {
	c.once.Do(func() {
		socket := c.Socket
		if socket == "" {
			d, err := userdirs.Default()
			if err != nil {
				c.initErr = err
				return
			}
			socket = d.Socket()
		}
		c.hc = &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				conn, err := d.DialContext(ctx, "unix", socket)
				if err != nil {
					return nil, err
				}
				if err := checkServer(conn, socket); err != nil {
					conn.Close()
					return nil, err
				}
				return conn, nil
			},
			DisableKeepAlives: true,
		}}
	})
	return c.initErr
}

// do sends a request with an optional JSON body and decodes a JSON answer
// into out (when non-nil). Query parameters go in q.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body, out any) error {
	if err := c.init(); err != nil {
		return err
	}
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
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e apitype.ErrorBody
		if json.Unmarshal(b, &e) == nil && e.Error.Message != "" {
			return &APIError{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
		}
		return &APIError{Status: resp.StatusCode, Code: "http_" + fmt.Sprint(resp.StatusCode), Message: fmt.Sprintf("the daemon answered HTTP %d", resp.StatusCode)}
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}
