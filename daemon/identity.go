package daemon

import (
	"context"
	"errors"
	"net/url"
	"strings"

	"github.com/latchkey/latchkey/client/apitype"
	"github.com/latchkey/latchkey/injector/auth"
	"github.com/latchkey/latchkey/integrations"
	"github.com/latchkey/latchkey/vault/store"
	"golang.org/x/oauth2"
)

// newVerifier accepts local client JWTs, and the identity provider's JWTs
// of the signed-in person when a provider and a local audience are
// configured. With nobody signed in no provider JWT is accepted: an empty
// subject would let anyone of the organisation use this user's
// integrations. The subject is asked per request, so a login or logout
// takes effect at once.
//
// A provider JWT must carry identity.local_audience and must not name the
// client id: the ID token latchkey gets at login (aud = the client id) is
// the bearer it presents to latchkey-store, and whoever sees store traffic
// must not be able to use it on the loopback.
func (d *Daemon) newVerifier(ctx context.Context, issuer *auth.Issuer) (*auth.Verifier, error) {
	cfg := auth.VerifierConfig{Local: issuer}
	if id := d.conf().Identity; id.Issuer != "" {
		d.settleBinding(ctx)
		d.signedInSub.Store(d.identitySubject(ctx))
		if id.LocalAudience != "" {
			if err := id.check(); err != nil {
				return nil, err
			}
			var refuse []string
			if id.ClientID != "" {
				refuse = []string{id.ClientID}
			}
			cfg.IdP = &auth.IdPConfig{IssuerURL: issuerURL(id.Issuer), Audience: id.LocalAudience, RefuseAudiences: refuse,
				SubjectFunc: func() string {
					sub, _ := d.signedInSub.Load().(string)
					return sub
				}}
		}
	}
	return auth.NewVerifier(cfg)
}

// check refuses an identity configuration whose local audience would let
// the store's bearer (an ID token for the client id) open the local API.
func (id IdentityConfig) check() error {
	if id.LocalAudience != "" && id.LocalAudience == id.ClientID {
		return errors.New("identity.local_audience must differ from identity.client_id (a token for the client id is the one latchkey presents to latchkey-store): register a separate audience for the local API at the provider")
	}
	return nil
}

// settleBinding makes the records' binding follow the identity's state at
// start: bound to the subject while signed in, to the OS user otherwise. A
// sign-in or sign-out cut short between its transaction and the
// re-binding is finished here (a sign-out's own transaction already
// records the target, which the vault finishes as it opens).
func (d *Daemon) settleBinding(ctx context.Context) {
	want := d.identitySubject(ctx)
	if want == "" {
		want = d.vault.User()
	}
	if d.vault.BindingUser() == want {
		return
	}
	if err := d.rebind(ctx, want); err != nil {
		d.log.Error("could not re-bind the sealed tokens to the identity's state", "err", err)
	}
}

// issuerURL accepts an issuer or its metadata (discovery) URL.
func issuerURL(s string) string {
	return strings.TrimSuffix(s, "/.well-known/openid-configuration")
}

// identitySubject is the signed-in user's sub at the identity provider, or
// "" when nobody signed in.
func (d *Daemon) identitySubject(ctx context.Context) string {
	if st := d.identityStatus(ctx); st != nil && st.SignedIn {
		return st.Subject
	}
	return ""
}

// identityStatus reads the stored identity (connection metadata of the
// "identity" record).
func (d *Daemon) identityStatus(ctx context.Context) *apitype.IdentityStatus {
	iss := d.conf().Identity.Issuer
	if iss == "" {
		return nil
	}
	st := &apitype.IdentityStatus{Issuer: iss}
	if c, err := d.store.GetConnection(ctx, identityName); err == nil && c.State == store.StateConnected {
		st.SignedIn = true
		st.Subject, st.Name, st.Email = c.AccountID, c.DisplayName, c.Email
		if g, err := d.store.GetMeta(ctx, "identity_groups"); err == nil && g != "" {
			st.Groups = strings.Split(g, "\n")
		}
	}
	return st
}

// identityReader is the reader of widget tokens from the identity, if any.
func (d *Daemon) identityReader(ctx context.Context) (integrations.Reader, bool) {
	st := d.identityStatus(ctx)
	if st == nil || !st.SignedIn {
		return integrations.Reader{}, false
	}
	r := integrations.Reader{Username: st.Email, Email: st.Email}
	if r.Username == "" {
		r.Username = st.Subject
	}
	r.FirstName, r.LastName = splitName(st.Name)
	return r, true
}

// identityName is the record/connection name of the organisation identity.
const identityName = "identity"

func splitName(full string) (first, last string) {
	for i := 0; i < len(full); i++ {
		if full[i] == ' ' {
			return full[:i], full[i+1:]
		}
	}
	return full, ""
}

// identityIntegration is the organisation identity as an integration,
// found by lookupIntegration under identityName while a provider is
// configured. Its base URL is the issuer's origin: the only place the
// identity's tokens may go; the injector routes the sign-in redirect
// (/identity/connected) to FinishConnect by it. Where the identity differs
// from an OAuth integration it says so by the interfaces it implements:
// its tokens are renewed by an OpenID Connect refresh (TokenRenewer), and
// disconnecting it is signing out (Disconnector).
type identityIntegration struct {
	d    *Daemon
	base *url.URL
}

var (
	_ integrations.TokenRenewer = identityIntegration{}
	_ integrations.Disconnector = identityIntegration{}
)

func (i identityIntegration) Name() string      { return identityName }
func (i identityIntegration) BaseURL() *url.URL { return i.base }

// RenewToken refreshes the identity tokens, verifying a new ID token.
func (i identityIntegration) RenewToken(ctx context.Context, cur *oauth2.Token) (*oauth2.Token, error) {
	return i.d.refreshIdentity(ctx, cur)
}

// Disconnect signs out: the provider's JWTs are refused and the records
// re-bound to the OS user at once.
func (i identityIntegration) Disconnect(ctx context.Context) error {
	_, err := i.d.Logout(ctx)
	return err
}

// lookupIntegration finds name among the configured integrations, or is
// the organisation identity when name is identityName and a provider is
// configured.
func (d *Daemon) lookupIntegration(name string) (integrations.Integration, bool) {
	if in, ok := d.integration(name); ok {
		return in, true
	}
	iss := d.conf().Identity.Issuer
	if name != identityName || iss == "" {
		return nil, false
	}
	u, err := url.Parse(iss)
	if err != nil || u.Host == "" {
		return nil, false
	}
	return identityIntegration{d: d, base: &url.URL{Scheme: u.Scheme, Host: u.Host}}, true
}
