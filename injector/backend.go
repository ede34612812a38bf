package injector

import (
	"context"
	"errors"
	"net/url"
	"time"

	"github.com/latchkey/latchkey/integrations"
)

// Backend is everything the injector needs from the daemon. The injector
// never imports the vault: tokens reach it through integrations.Tokens,
// opened per call.
type Backend interface {
	// Status is the daemon's status document (served as JSON as is by
	// GET /v1/status), cut to the scope of the caller that CallerClaims(ctx)
	// returns. It never contains a token.
	Status(ctx context.Context) (any, error)
	// Connected returns the integrations that currently have a token, in a
	// stable order, each with the Tokens to use for it, and those that the
	// user set up but that cannot be used until they act (reconnect needed,
	// a configuration error), with Unavailable saying why.
	Connected(ctx context.Context) ([]ConnectedIntegration, error)
	// Lookup returns one configured integration and its Tokens, or
	// ok=false when it is not configured. Tokens may return
	// integrations.ErrNotConnected.
	Lookup(name string) (ConnectedIntegration, bool)
	// StartConnect begins an OAuth connect flow and returns the consent URL.
	StartConnect(ctx context.Context, name string) (consentURL string, err error)
	// FinishConnect completes a flow from the loopback redirect's query
	// (an error wrapping ErrUnknownConnectState when its state is not a flow
	// in progress)
	// (state, code or error). It checks state and PKCE.
	FinishConnect(ctx context.Context, name string, query url.Values) error
	// Disconnect revokes where possible and deletes the sealed records.
	Disconnect(ctx context.Context, name string) error
	// Audit records injected calls (never a token), in order: a batch of
	// those made since the last call, from one goroutine, or one entry from
	// a request when the queue is full. It must not keep the slice.
	Audit(ctx context.Context, entries []AuditEntry)
	// Reader is the signed-in person, for widget tokens.
	Reader(ctx context.Context) integrations.Reader
}

// ClientAuthenticator is implemented by a Backend that supports personal
// OAuth2 clients (POST /oauth2/token, grant client_credentials). It returns
// the integrations the client may use and when the client expires (zero:
// never; the token minted for it expires no later); a wrong, expired or
// revoked client is an error (served as invalid_client).
type ClientAuthenticator interface {
	AuthenticateClient(ctx context.Context, clientID, secret string) (scope []string, expires time.Time, err error)
}

// ConnectedIntegration pairs an integration with the tokens to call it.
type ConnectedIntegration struct {
	Integration integrations.Integration
	Tokens      integrations.Tokens
	// Unavailable, when not nil, says why the integration cannot be called
	// now and what to do (wrapping integrations.ErrReconnectNeeded,
	// integrations.ErrNotConnected or ErrMisconfigured). The search and
	// course fan-outs report it in their errors instead of calling it.
	// Integration may then be nil (it could not be built), and Name names
	// it.
	Unavailable error
	Name        string
}

// ErrMisconfigured: the integration is configured but its configuration
// cannot be used (reported with the code "config_error").
var ErrMisconfigured = errors.New("misconfigured")

// AuditEntry is one row of the local audit trail.
type AuditEntry struct {
	Time        time.Time     `json:"time"`
	Caller      string        `json:"caller"` // JWT sub, or "client:<id>" for a personal client
	Integration string        `json:"integration"`
	Method      string        `json:"method"`
	Path        string        `json:"path"` // without query
	Status      int           `json:"status"`
	Duration    time.Duration `json:"duration_ns"`
}

// ErrUnknownConnectState is the error of Backend.FinishConnect for a
// redirect whose state is not a connection in progress (never started,
// already finished, or expired).
var ErrUnknownConnectState = errors.New("unknown or already used connection state")
