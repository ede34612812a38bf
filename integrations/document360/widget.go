package document360

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/latchkey/latchkey/integrations"
)

// TokenPath is the default path of the widget token endpoint on the
// identity server. Document360's sample backend posts to "the token endpoint
// URL from Document360" shown in the widget's JWT settings; the identity
// server's OAuth token endpoint /connect/token is the likely value but is not
// confirmed, so the full URL is configurable (widget_token_url). The request
// is an OAuth token request: client id and secret in HTTP Basic, grant type
// "Widget", the reader JSON as "payload" and the client id as "id" (see
// docs/document360.md). The knowledge-base site's JWT flow
// (/api/jwt/generate-code) returns a one-time code, not a JWT, and is not
// used here.
const TokenPath = "/connect/token"

// WidgetGrantType is the grant type of the widget token request in
// Document360's sample backend.
const WidgetGrantType = "Widget"

// Errors of WidgetToken for a configuration that cannot work.
var (
	ErrNoReaderGroup = errors.New("document360 widget token: no reader group configured; " +
		"set reader_groups to at least one reader group id (Settings → Users & security → Readers & groups)")
	ErrNoWidgetSecret = errors.New("document360 widget token: no widget client secret; " +
		"store the client secret from the widget's JWT settings with `latchkey configure document360`")
)

// WidgetPayload is the reader payload of Document360's widget JWT sample,
// sent JSON-encoded as the "payload" parameter.
type WidgetPayload struct {
	Username       string   `json:"username"`
	FirstName      string   `json:"firstName"`
	LastName       string   `json:"lastName"`
	EmailID        string   `json:"emailId"`
	ReaderGroupIDs []string `json:"readerGroupIds"`
	TokenValidity  int      `json:"tokenValidity"` // minutes, 5..1440
	WidgetID       string   `json:"widgetId"`
	ProjectID      string   `json:"projectId"`
}

// WidgetToken asks Document360's identity server for a reader JWT for the
// knowledge-base widget (latchkey plays the widget's "your backend"). The
// reader's details come from the caller; the reader groups, widget id and
// token validity (clamped to 5..1440 minutes) from the configuration; the
// client id and secret go in HTTP Basic. It returns the widget's
// {accessToken, expiresIn (seconds)}.
func (d *Document360) WidgetToken(ctx context.Context, reader integrations.Reader) (integrations.WidgetToken, error) {
	var zero integrations.WidgetToken
	switch {
	case len(d.groups) == 0:
		return zero, ErrNoReaderGroup
	case d.secret == "":
		return zero, ErrNoWidgetSecret
	case d.widgetID == "":
		return zero, errors.New("document360 widget token: set widget_id (the widget's id from its JWT settings)")
	case d.clientID == "":
		return zero, errors.New("document360 widget token: set project (the widget client id is the project id) or widget_client_id")
	case d.widgetURL == nil:
		return zero, errors.New("document360 widget token: set widget_token_url (the token endpoint URL from the widget's JWT settings), region or identity_url")
	}
	username := firstNonEmpty(strings.TrimSpace(reader.Username), strings.TrimSpace(reader.Email))
	if username == "" {
		return zero, errors.New("document360 widget token: the reader has no username or email")
	}
	p := WidgetPayload{
		Username:       username,
		FirstName:      strings.TrimSpace(reader.FirstName),
		LastName:       strings.TrimSpace(reader.LastName),
		EmailID:        strings.TrimSpace(reader.Email),
		ReaderGroupIDs: append([]string(nil), d.groups...),
		TokenValidity:  d.validity,
		WidgetID:       d.widgetID,
		ProjectID:      d.clientID,
	}
	pj, err := json.Marshal(p)
	if err != nil {
		return zero, fmt.Errorf("document360 widget token: %w", err)
	}
	form := url.Values{"grant_type": {WidgetGrantType}, "payload": {string(pj)}, "id": {d.clientID}}
	u := *d.widgetURL
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return zero, fmt.Errorf("document360 widget token: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// RFC 6749 §2.3.1: form-encode id and secret before Basic, as
	// IdentityModel and x/oauth2 do.
	req.SetBasicAuth(url.QueryEscape(d.clientID), url.QueryEscape(d.secret))
	resp, err := d.hc.Do(req)
	if err != nil {
		return zero, fmt.Errorf("document360 widget token: identity server unreachable: %w", unwrapURLError(ctx, err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return zero, fmt.Errorf("document360 widget token: %w", unwrapURLError(ctx, err))
	}
	d.log.Debug("document360: widget token request", "status", resp.StatusCode,
		"validity_minutes", d.validity, "groups", len(d.groups))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return zero, fmt.Errorf("document360 widget token: %w",
			d.providerError(resp.StatusCode, resp.Header, body, d.secret))
	}
	var tr struct {
		AccessToken  string `json:"access_token"`
		ExpiresIn    int    `json:"expires_in"`
		AccessToken2 string `json:"accessToken"`
		ExpiresIn2   int    `json:"expiresIn"`
	}
	if err := json.Unmarshal(body, &tr); err != nil {
		return zero, fmt.Errorf("document360 widget token: decoding the identity server's answer: %w", err)
	}
	tok := integrations.WidgetToken{
		AccessToken: firstNonEmpty(tr.AccessToken, tr.AccessToken2),
		ExpiresIn:   max(tr.ExpiresIn, tr.ExpiresIn2),
	}
	if tok.AccessToken == "" {
		return zero, errors.New("document360 widget token: the identity server answered without an access token")
	}
	if tok.ExpiresIn <= 0 {
		tok.ExpiresIn = d.validity * 60
	}
	return tok, nil
}

// ReaderGroups returns the configured reader group ids.
func (d *Document360) ReaderGroups() []string { return append([]string(nil), d.groups...) }

// TokenValidity returns the configured widget token validity in minutes,
// already clamped to [MinTokenValidity, MaxTokenValidity].
func (d *Document360) TokenValidity() int { return d.validity }

func unwrapURLError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
