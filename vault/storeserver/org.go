package storeserver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/latchkey/latchkey/internal/loopback"
	"github.com/latchkey/latchkey/internal/secretname"
	"github.com/latchkey/latchkey/vault/store"
)

// OrgIntegration is an integration an administrator configured for the whole
// organisation. SealedSecret is the client secret sealed under the server's
// secrets key; it never leaves the server in this form.
type OrgIntegration struct {
	Name         string            `json:"name"`
	Enabled      bool              `json:"enabled"`
	URL          string            `json:"url"`
	ClientID     string            `json:"client_id"`
	Grant        string            `json:"grant,omitempty"`
	DisplayName  string            `json:"display_name,omitempty"`
	LogoURL      string            `json:"logo_url,omitempty"`
	WidgetTitle  string            `json:"widget_title,omitempty"`
	Settings     map[string]string `json:"settings,omitempty"`
	SealedSecret string            `json:"-"`
	Version      int64             `json:"version"`
	UpdatedAt    time.Time         `json:"updated_at"`
	UpdatedBy    string            `json:"updated_by"`
}

// OrgChange is one audited change of an org integration: who, when, what
// (the names of the fields that changed, never a value).
type OrgChange struct {
	Integration string    `json:"integration"`
	At          time.Time `json:"at"`
	Actor       string    `json:"actor"`
	Action      string    `json:"action"` // "create", "update", "delete"
	Fields      []string  `json:"fields"`
}

// OrgBackend is the part of a Backend that holds org integrations and their
// audit trail. Every write records its OrgChange in the same transaction.
type OrgBackend interface {
	// ListOrgIntegrations returns every org integration, by name.
	ListOrgIntegrations(ctx context.Context) ([]OrgIntegration, error)
	// GetOrgIntegration returns one; store.ErrNotFound when absent.
	GetOrgIntegration(ctx context.Context, name string) (OrgIntegration, error)
	// PutOrgIntegration writes in (version+1) if the current version is
	// expect (0: only if absent), and records change; store.ErrConflict
	// otherwise.
	PutOrgIntegration(ctx context.Context, in OrgIntegration, expect int64, change OrgChange) (OrgIntegration, error)
	// DeleteOrgIntegration deletes name and records change;
	// store.ErrNotFound when absent.
	DeleteOrgIntegration(ctx context.Context, name string, change OrgChange) error
	// OrgHistory returns the changes of name (every integration's when
	// name is ""), newest first, at most limit.
	OrgHistory(ctx context.Context, name string, limit int) ([]OrgChange, error)
}

// KnownIntegration is an integration the daemon knows how to run, as the
// console presents it.
type KnownIntegration struct {
	Name        string
	Title       string
	Description string
	URLLabel    string
	URLHint     string
	Grant       string // the grant an org rollout uses
}

// KnownIntegrations are the integrations the daemon ships, in the order the
// console shows their cards.
var KnownIntegrations = []KnownIntegration{
	{Name: "docebo", Title: "Docebo", Description: "Learning platform: My Courses and course search.",
		URLLabel: "Domain", URLHint: "https://yourcompany.docebosaas.com", Grant: "authorization_code"},
	{Name: "document360", Title: "Document360", Description: "Knowledge base: articles in search.",
		URLLabel: "Domain", URLHint: "https://yourcompany.document360.io", Grant: "client_credentials"},
}

func knownIntegration(name string) (KnownIntegration, bool) {
	for _, k := range KnownIntegrations {
		if k.Name == name {
			return k, true
		}
	}
	return KnownIntegration{}, false
}

// orgPatch is the body of PUT /v1/admin/integrations/{name}: fields absent
// keep their current value (so {"enabled": false} disables), a present
// client_secret replaces the sealed one, an empty one keeps it.
type orgPatch struct {
	Enabled      *bool              `json:"enabled"`
	URL          *string            `json:"url"`
	ClientID     *string            `json:"client_id"`
	ClientSecret *string            `json:"client_secret"`
	Grant        *string            `json:"grant"`
	DisplayName  *string            `json:"display_name"`
	LogoURL      *string            `json:"logo_url"`
	WidgetTitle  *string            `json:"widget_title"`
	Settings     *map[string]string `json:"settings"`
}

// FieldError is a validation error of one field, in words an administrator
// reads.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists what is wrong with an org integration.
type ValidationError []FieldError

func (v ValidationError) Error() string {
	var b strings.Builder
	for i, f := range v {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f.Field + ": " + f.Message)
	}
	return b.String()
}

// For returns the message of field ("" when it is fine).
func (v ValidationError) For(field string) string {
	for _, f := range v {
		if f.Field == field {
			return f.Message
		}
	}
	return ""
}

const (
	maxOrgText     = 200
	maxOrgURL      = 2048
	maxOrgSecret   = 4096
	maxOrgSettings = 32
)

var orgGrants = []string{"authorization_code", "client_credentials", "password", "jwt_bearer"}

// validOrgURL: https, or http on a loopback host (sandboxes).
func validOrgURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || len(s) > maxOrgURL {
		return false
	}
	switch u.Scheme {
	case "https":
		return true
	case "http":
		return loopback.IsHost(u.Hostname())
	}
	return false
}

// validLogoURL: like validOrgURL, a query allowed.
func validLogoURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || len(s) > maxOrgURL {
		return false
	}
	u.RawQuery = ""
	return validOrgURL(u.String())
}

func validText(s string) bool {
	if len(s) > maxOrgText || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// applyPatch merges p into cur (the zero value for a new integration) and
// returns the result, the names of the fields that changed and the new
// client secret in clear ("" when unchanged). It validates the result.
func applyPatch(cur OrgIntegration, p orgPatch, hasSecret bool) (OrgIntegration, []string, string, error) {
	out := cur
	out.Settings = maps(cur.Settings)
	var changed []string
	setStr := func(field string, dst *string, v *string) {
		if v != nil && *v != *dst {
			*dst = *v
			changed = append(changed, field)
		}
	}
	if p.Enabled != nil && *p.Enabled != out.Enabled {
		out.Enabled = *p.Enabled
		changed = append(changed, "enabled")
	}
	trim := func(v *string) *string {
		if v == nil {
			return nil
		}
		s := strings.TrimSpace(*v)
		return &s
	}
	setStr("url", &out.URL, trim(p.URL))
	out.URL = strings.TrimRight(out.URL, "/")
	setStr("client_id", &out.ClientID, trim(p.ClientID))
	setStr("grant", &out.Grant, trim(p.Grant))
	setStr("display_name", &out.DisplayName, trim(p.DisplayName))
	setStr("logo_url", &out.LogoURL, trim(p.LogoURL))
	setStr("widget_title", &out.WidgetTitle, trim(p.WidgetTitle))
	if p.Settings != nil && !equalMaps(*p.Settings, out.Settings) {
		out.Settings = maps(*p.Settings)
		changed = append(changed, "settings")
	}
	var secret string
	if p.ClientSecret != nil && *p.ClientSecret != "" {
		secret = *p.ClientSecret
		changed = append(changed, "client_secret")
	}
	if out.Grant == "" {
		if k, ok := knownIntegration(out.Name); ok {
			out.Grant = k.Grant
		}
	}

	var errs ValidationError
	bad := func(field, msg string) { errs = append(errs, FieldError{field, msg}) }
	switch {
	case out.URL == "" && out.Enabled:
		bad("url", "the domain is required, e.g. https://yourcompany.docebosaas.com")
	case out.URL != "" && !validOrgURL(out.URL):
		bad("url", "the domain must be an https:// URL with a host and no query (http:// only for 127.0.0.1, [::1] or localhost)")
	}
	switch {
	case out.ClientID == "" && out.Enabled:
		bad("client_id", "the client ID is required")
	case !validText(out.ClientID):
		bad("client_id", fmt.Sprintf("the client ID must be at most %d printable characters", maxOrgText))
	}
	if out.Grant != "" && !slices.Contains(orgGrants, out.Grant) {
		bad("grant", "the grant must be one of "+strings.Join(orgGrants, ", "))
	}
	if len(secret) > maxOrgSecret {
		bad("client_secret", fmt.Sprintf("the client secret is longer than %d bytes", maxOrgSecret))
	}
	if out.Enabled && secret == "" && !hasSecret && out.Grant != "jwt_bearer" {
		bad("client_secret", "the client secret is required")
	}
	if !validText(out.DisplayName) {
		bad("display_name", fmt.Sprintf("the display name must be at most %d printable characters", maxOrgText))
	}
	if !validText(out.WidgetTitle) {
		bad("widget_title", fmt.Sprintf("the widget title must be at most %d printable characters", maxOrgText))
	}
	if out.LogoURL != "" && !validLogoURL(out.LogoURL) {
		bad("logo_url", "the logo URL must be an https:// URL (http:// only on loopback)")
	}
	if len(out.Settings) > maxOrgSettings {
		bad("settings", fmt.Sprintf("at most %d settings", maxOrgSettings))
	}
	for k, v := range out.Settings {
		if !validSegment(k) || !validText(v) {
			bad("settings", "setting names are letters, digits, . _ - and values at most "+strconv.Itoa(maxOrgText)+" printable characters")
			break
		}
		if secretname.Looks(k) {
			// Settings are kept and served in clear: a secret goes in
			// client_secret, which is sealed and never served to an admin.
			bad("settings", fmt.Sprintf("the setting %q looks like a secret: settings are not sealed; give the integration's secret as client_secret", k))
			break
		}
	}
	if errs != nil {
		return OrgIntegration{}, nil, "", errs
	}
	return out, changed, secret, nil
}

func maps(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// adminIntegration is what an administrator reads: no secret, only whether
// one is set.
type adminIntegration struct {
	OrgIntegration
	ClientSecretSet bool `json:"client_secret_set"`
}

func adminView(o OrgIntegration) adminIntegration {
	return adminIntegration{OrgIntegration: o, ClientSecretSet: o.SealedSecret != ""}
}

// deviceIntegration is what a device reads from GET /v1/org/integrations:
// what the daemon needs to run the OAuth client, the secret included.
type deviceIntegration struct {
	Name         string            `json:"name"`
	URL          string            `json:"url"`
	ClientID     string            `json:"client_id"`
	ClientSecret string            `json:"client_secret,omitempty"`
	Grant        string            `json:"grant,omitempty"`
	DisplayName  string            `json:"display_name,omitempty"`
	LogoURL      string            `json:"logo_url,omitempty"`
	WidgetTitle  string            `json:"widget_title,omitempty"`
	Settings     map[string]string `json:"settings,omitempty"`
	Version      int64             `json:"version"`
}

// SaveOrgIntegration applies a change of name by actor, seals a new client
// secret, records the change and logs it (field names only). It retries
// once when another writer got in between.
func (s *Server) SaveOrgIntegration(ctx context.Context, actor, name string, p orgPatch) (OrgIntegration, []string, error) {
	for attempt := 0; ; attempt++ {
		cur, err := s.backend.GetOrgIntegration(ctx, name)
		exists := err == nil
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return OrgIntegration{}, nil, err
		}
		if !exists {
			cur = OrgIntegration{Name: name}
		}
		out, changed, secret, err := applyPatch(cur, p, cur.SealedSecret != "")
		if err != nil {
			return OrgIntegration{}, nil, err
		}
		if exists && len(changed) == 0 {
			return cur, nil, nil
		}
		if secret != "" {
			if out.SealedSecret, err = s.secrets.Seal(name, secret); err != nil {
				return OrgIntegration{}, nil, err
			}
		}
		out.UpdatedBy = actor
		action := "update"
		if !exists {
			action = "create"
		}
		ch := OrgChange{Integration: name, Actor: actor, Action: action, Fields: changed}
		saved, err := s.backend.PutOrgIntegration(ctx, out, cur.Version, ch)
		if errors.Is(err, store.ErrConflict) && attempt == 0 {
			continue
		}
		if err != nil {
			return OrgIntegration{}, nil, err
		}
		s.log.Info("org integration changed", "admin", actor, "integration", name, "action", action, "fields", strings.Join(changed, ","))
		return saved, changed, nil
	}
}

// RemoveOrgIntegration deletes name's org configuration and records it.
func (s *Server) RemoveOrgIntegration(ctx context.Context, actor, name string) error {
	if err := s.backend.DeleteOrgIntegration(ctx, name, OrgChange{Integration: name, Actor: actor, Action: "delete"}); err != nil {
		return err
	}
	s.log.Info("org integration changed", "admin", actor, "integration", name, "action", "delete")
	return nil
}

func (s *Server) orgName(w http.ResponseWriter, r *http.Request) (string, bool) {
	name := r.PathValue("name")
	if !validSegment(name) {
		writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("integration names are 1–%d characters of A–Z a–z 0–9 . _ - starting with a letter or digit", maxSegmentLen))
		return "", false
	}
	return name, true
}

func (s *Server) adminListIntegrations(w http.ResponseWriter, r *http.Request, id Identity) {
	all, err := s.backend.ListOrgIntegrations(r.Context())
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	out := make([]adminIntegration, 0, len(all))
	for _, o := range all {
		out = append(out, adminView(o))
	}
	writeJSON(w, http.StatusOK, map[string]any{"integrations": out})
}

func (s *Server) adminGetIntegration(w http.ResponseWriter, r *http.Request, id Identity) {
	name, ok := s.orgName(w, r)
	if !ok {
		return
	}
	o, err := s.backend.GetOrgIntegration(r.Context(), name)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, adminView(o))
}

func (s *Server) adminPutIntegration(w http.ResponseWriter, r *http.Request, id Identity) {
	name, ok := s.orgName(w, r)
	if !ok {
		return
	}
	var p orgPatch
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil || dec.More() {
		// Never echo the body: it may hold the client secret.
		writeError(w, http.StatusBadRequest, "bad_request", `the body must be one JSON object with the fields enabled, url, client_id, client_secret, grant, display_name, logo_url, widget_title, settings`)
		return
	}
	o, _, err := s.SaveOrgIntegration(r.Context(), id.Subject, name, p)
	if err != nil {
		s.orgError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, adminView(o))
}

func (s *Server) adminDeleteIntegration(w http.ResponseWriter, r *http.Request, id Identity) {
	name, ok := s.orgName(w, r)
	if !ok {
		return
	}
	if err := s.RemoveOrgIntegration(r.Context(), id.Subject, name); err != nil {
		s.storeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) adminIntegrationHistory(w http.ResponseWriter, r *http.Request, id Identity) {
	name, ok := s.orgName(w, r)
	if !ok {
		return
	}
	h, err := s.backend.OrgHistory(r.Context(), name, DefaultAdminListLimit)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"changes": h})
}

// orgETag names the state of every org integration (names, versions and
// times of change): it changes with any write, and every replica computes
// the same one.
func orgETag(all []OrgIntegration) string {
	h := sha256.New()
	for _, o := range all {
		fmt.Fprintf(h, "%s\x00%d\x00%d\x00", o.Name, o.Version, o.UpdatedAt.UnixMicro())
	}
	return `"` + hex.EncodeToString(h.Sum(nil))[:32] + `"`
}

func (s *Server) orgIntegrations(w http.ResponseWriter, r *http.Request, id Identity) {
	all, err := s.backend.ListOrgIntegrations(r.Context())
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	tag := orgETag(all)
	w.Header().Set("ETag", tag)
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		for _, t := range strings.Split(inm, ",") {
			if t = strings.TrimSpace(t); t == tag || t == "W/"+tag {
				w.WriteHeader(http.StatusNotModified)
				return
			}
		}
	}
	out := []deviceIntegration{}
	for _, o := range all {
		if !o.Enabled {
			continue
		}
		d := deviceIntegration{Name: o.Name, URL: o.URL, ClientID: o.ClientID, Grant: o.Grant,
			DisplayName: o.DisplayName, LogoURL: o.LogoURL, WidgetTitle: o.WidgetTitle, Settings: o.Settings, Version: o.Version}
		if o.SealedSecret != "" {
			if d.ClientSecret, err = s.secrets.Open(o.Name, o.SealedSecret); err != nil {
				s.m.dbErrors.Inc()
				s.log.Error("org integration: client secret does not open", "integration", o.Name, "err", err)
				writeError(w, http.StatusInternalServerError, "internal", "a client secret does not open with the server's secrets key")
				return
			}
		}
		out = append(out, d)
	}
	writeJSON(w, http.StatusOK, map[string]any{"integrations": out})
}

// orgError maps SaveOrgIntegration's errors to HTTP answers.
func (s *Server) orgError(w http.ResponseWriter, r *http.Request, err error) {
	var v ValidationError
	switch {
	case errors.As(err, &v):
		var e struct {
			Error struct {
				Code    string       `json:"code"`
				Message string       `json:"message"`
				Fields  []FieldError `json:"fields"`
			} `json:"error"`
		}
		e.Error.Code, e.Error.Message, e.Error.Fields = "invalid", v.Error(), v
		writeJSON(w, http.StatusUnprocessableEntity, e)
	case errors.Is(err, ErrNoSecretsKey):
		writeError(w, http.StatusConflict, "no_secrets_key", "this latchkey-store has no secrets key, so it cannot keep a client secret: start it with --secrets-key-file (LATCHKEY_STORE_SECRETS_KEY_FILE)")
	case errors.Is(err, store.ErrConflict):
		writeError(w, http.StatusConflict, "conflict", "the integration changed meanwhile; try again")
	default:
		s.storeError(w, r, err)
	}
}

// Reseal re-seals every client secret not sealed under the current secrets
// key (after a rotation put a new key first in the file). It returns how
// many it re-sealed.
func (s *Server) Reseal(ctx context.Context) (int, error) {
	if s.secrets == nil {
		return 0, nil
	}
	all, err := s.backend.ListOrgIntegrations(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, o := range all {
		if o.SealedSecret == "" || sealedKeyID(o.SealedSecret) == s.secrets.CurrentID() {
			continue
		}
		secret, err := s.secrets.Open(o.Name, o.SealedSecret)
		if err != nil {
			return n, err
		}
		o.SealedSecret, err = s.secrets.Seal(o.Name, secret)
		if err != nil {
			return n, err
		}
		ch := OrgChange{Integration: o.Name, Actor: "latchkey-store", Action: "update", Fields: []string{"client_secret_key"}}
		if _, err := s.backend.PutOrgIntegration(ctx, o, o.Version, ch); err != nil {
			return n, fmt.Errorf("storeserver: re-seal %s: %w", o.Name, err)
		}
		n++
	}
	if n > 0 {
		s.log.Info("client secrets re-sealed under the current secrets key", "count", n, "key_id", s.secrets.CurrentID())
	}
	return n, nil
}

func encodeSettings(m map[string]string) (string, error) {
	if len(m) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	return string(b), err
}

func decodeSettings(s string) (map[string]string, error) {
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

func joinFields(f []string) string { return strings.Join(f, ",") }

func splitFields(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}
