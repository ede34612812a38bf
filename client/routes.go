package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/latchkey/latchkey/client/apitype"
)

// Ping reports whether the daemon answers (GET /healthz), within 2 s.
func (c *Client) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return c.do(ctx, http.MethodGet, "/healthz", nil, nil, nil)
}

// Status returns the daemon's status document (GET /v1/status).
func (c *Client) Status(ctx context.Context) (*apitype.Status, error) {
	var st apitype.Status
	if err := c.do(ctx, http.MethodGet, "/v1/status", nil, nil, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// Courses returns the "My Courses" feed of every connected integration
// (GET /v1/courses).
func (c *Client) Courses(ctx context.Context) (*apitype.Courses, error) {
	var doc apitype.Courses
	if err := c.do(ctx, http.MethodGet, "/v1/courses", nil, nil, &doc); err != nil {
		return nil, err
	}
	return &doc, nil
}

// Search searches every connected integration (GET /v1/search); limit 0
// leaves the number of results to the daemon.
func (c *Client) Search(ctx context.Context, query string, limit int) (*apitype.SearchResults, error) {
	q := url.Values{"q": {query}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var doc apitype.SearchResults
	if err := c.do(ctx, http.MethodGet, "/v1/search", q, nil, &doc); err != nil {
		return nil, err
	}
	return &doc, nil
}

// Disconnect forgets integration name's token (DELETE
// /v1/integrations/{name}; name goes into the path as given, as the CLI
// always sent it).
func (c *Client) Disconnect(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/integrations/"+name, nil, nil, nil)
}

// Token mints a local client JWT (POST /control/token).
func (c *Client) Token(ctx context.Context, req apitype.TokenRequest) (string, error) {
	var out apitype.TokenResponse
	if err := c.do(ctx, http.MethodPost, "/control/token", nil, req, &out); err != nil {
		return "", err
	}
	return out.Token, nil
}

// Connect connects integration name (POST /control/connect/{name}; name
// goes into the path as given). A browser grant answers a consent URL and a
// flow for WaitFlow; the others answer the new state.
func (c *Client) Connect(ctx context.Context, name string, req apitype.GrantRequest) (*apitype.ConnectResponse, error) {
	var out apitype.ConnectResponse
	if err := c.do(ctx, http.MethodPost, "/control/connect/"+name, nil, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// WaitFlow waits until the connect or login flow id ends, returning its
// error (GET /control/flows/{id}, long-polled).
func (c *Client) WaitFlow(ctx context.Context, id string) error {
	for {
		var fr apitype.FlowResponse
		if err := c.do(ctx, http.MethodGet, "/control/flows/"+url.PathEscape(id), url.Values{"wait": {"25s"}}, nil, &fr); err != nil {
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

// Reload makes the daemon re-read its configuration file (POST
// /control/reload).
func (c *Client) Reload(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/control/reload", nil, nil, nil)
}

// Audit returns the newest limit entries of the audit trail (GET
// /control/audit); the daemon caps limit, and takes 0 as its default.
func (c *Client) Audit(ctx context.Context, limit int) ([]apitype.AuditEntry, error) {
	var doc apitype.AuditLog
	if err := c.do(ctx, http.MethodGet, "/control/audit", url.Values{"limit": {strconv.Itoa(limit)}}, nil, &doc); err != nil {
		return nil, err
	}
	return doc.Entries, nil
}

// RotateKey re-seals every record under a new salt and returns the new key
// id (POST /control/rotate-key).
func (c *Client) RotateKey(ctx context.Context) (string, error) {
	var out apitype.KeyIDResponse
	if err := c.do(ctx, http.MethodPost, "/control/rotate-key", nil, nil, &out); err != nil {
		return "", err
	}
	return out.KeyID, nil
}

// MenuURL returns a one-time link that opens the menu UI (POST
// /control/menu-url).
func (c *Client) MenuURL(ctx context.Context) (string, error) {
	var out apitype.URLResponse
	if err := c.do(ctx, http.MethodPost, "/control/menu-url", nil, nil, &out); err != nil {
		return "", err
	}
	return out.URL, nil
}

// CreateClient makes a personal client; the answer holds its secret, shown
// this once (POST /control/clients).
func (c *Client) CreateClient(ctx context.Context, req apitype.CreateClientRequest) (*apitype.CreatedClient, error) {
	var out apitype.CreatedClient
	if err := c.do(ctx, http.MethodPost, "/control/clients", nil, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListClients lists the personal clients (GET /control/clients).
func (c *Client) ListClients(ctx context.Context) ([]apitype.ClientInfo, error) {
	var out apitype.ClientList
	if err := c.do(ctx, http.MethodGet, "/control/clients", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Clients, nil
}

// RevokeClient revokes personal client id (DELETE /control/clients/{id}).
func (c *Client) RevokeClient(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/control/clients/"+url.PathEscape(id), nil, nil, nil)
}

// SignInURL returns a link that signs the browser in to integration name
// and lands on target (POST /control/open/{name}).
func (c *Client) SignInURL(ctx context.Context, name, target string) (string, error) {
	var out apitype.URLResponse
	if err := c.do(ctx, http.MethodPost, "/control/open/"+url.PathEscape(name), url.Values{"target": {target}}, nil, &out); err != nil {
		return "", err
	}
	return out.URL, nil
}

// Login starts signing in to the organisation identity: the answer is the
// provider's URL and the flow for WaitFlow (POST /control/login).
func (c *Client) Login(ctx context.Context) (*apitype.ConnectResponse, error) {
	var out apitype.ConnectResponse
	if err := c.do(ctx, http.MethodPost, "/control/login", nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Logout signs out of the organisation identity (POST /control/logout).
func (c *Client) Logout(ctx context.Context) (*apitype.LogoutResult, error) {
	var out apitype.LogoutResult
	if err := c.do(ctx, http.MethodPost, "/control/logout", nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Shutdown asks the daemon to stop (POST /control/shutdown).
func (c *Client) Shutdown(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/control/shutdown", nil, nil, nil)
}

// Get reads a GET route of the local API (/v1/…) as the full-scope local
// caller and returns its JSON answer unparsed, for a relay such as
// `latchkey mcp` that hands the document on.
func (c *Client) Get(ctx context.Context, path string, q url.Values) (json.RawMessage, error) {
	var body json.RawMessage
	if err := c.do(ctx, http.MethodGet, path, q, nil, &body); err != nil {
		return nil, err
	}
	return body, nil
}

// Apps lists the apps' grants (GET /v1/apps).
func (c *Client) Apps(ctx context.Context) ([]apitype.AppGrant, error) {
	var out apitype.AppGrantList
	if err := c.do(ctx, http.MethodGet, "/v1/apps", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Apps, nil
}

// RevokeApp revokes app grant id: its tokens stop at once (DELETE
// /v1/apps/{id}).
func (c *Client) RevokeApp(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/apps/"+url.PathEscape(id), nil, nil, nil)
}

// OpenCourse opens course id of integration name in the browser of the
// daemon's desktop, signed in; the link stays in the daemon (POST
// /control/apps/open/{name}/{id}).
func (c *Client) OpenCourse(ctx context.Context, name, id string) error {
	return c.do(ctx, http.MethodPost, "/control/apps/open/"+url.PathEscape(name)+"/"+url.PathEscape(id), nil, nil, nil)
}

// AuditMCP records one MCP tool call in the audit trail under the
// assistant's name (POST /control/apps/audit).
func (c *Client) AuditMCP(ctx context.Context, req apitype.MCPAuditRequest) error {
	return c.do(ctx, http.MethodPost, "/control/apps/audit", nil, req, nil)
}
