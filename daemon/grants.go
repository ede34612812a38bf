package daemon

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/client/apitype"
	"github.com/latchkey/latchkey/integrations"
	"github.com/latchkey/latchkey/vault/store"
)

// Grants that need no browser (password, client credentials, JWT bearer,
// a static API token), and the signing keys of the JWT-bearer grant.

// ConnectWithGrant connects name with a grant that needs no browser.
func (d *Daemon) ConnectWithGrant(ctx context.Context, name string, req apitype.GrantRequest) error {
	in, ok := d.integration(name)
	if !ok {
		return d.notConfigured(name)
	}
	var tok *oauth2.Token
	var err error
	switch req.Grant {
	case integrations.GrantPassword:
		g, ok := in.(integrations.PasswordGranter)
		if !ok {
			return fmt.Errorf("%s does not support the password grant", name)
		}
		tok, err = g.PasswordGrant(d.oauthContext(ctx), req.Username, req.Password)
	case integrations.GrantClientCredentials, integrations.GrantJWTBearer:
		tok, err = d.grantFor(ctx, name, in, req.Grant, req.Username)
	case integrations.GrantAPIToken:
		if req.Token == "" {
			return errors.New("no API token given")
		}
		tok = &oauth2.Token{AccessToken: req.Token, TokenType: "Bearer"}
	default:
		return fmt.Errorf("unknown grant %q", req.Grant)
	}
	if err != nil {
		return classifyOAuthError(err)
	}
	if req.Grant == integrations.GrantClientCredentials || req.Grant == integrations.GrantJWTBearer {
		// No refresh token comes with these: remember the grant (and who
		// to sign in as) so the daemon can renew the token unattended.
		if err := d.rememberGrant(name, req.Grant, req.Username); err != nil {
			return err
		}
	}
	return d.storeNewConnection(ctx, name, in, tok)
}

// runUnattendedGrant re-runs the integration's configured grant when it
// needs no user (client credentials, JWT bearer): the way to renew tokens
// that come without a refresh token.
func (d *Daemon) runUnattendedGrant(ctx context.Context, name string, in integrations.Integration) (*oauth2.Token, error) {
	grant := integrations.Grant(d.conf().Integrations[name].Grant)
	switch grant {
	case integrations.GrantClientCredentials, integrations.GrantJWTBearer:
		return d.grantFor(ctx, name, in, grant, d.conf().Integrations[name].Settings["username"])
	}
	return nil, fmt.Errorf("%s: the token expired and there is no refresh token: %w", name, integrations.ErrReconnectNeeded)
}

func (d *Daemon) grantFor(ctx context.Context, name string, in integrations.Integration, grant integrations.Grant, username string) (*oauth2.Token, error) {
	switch grant {
	case integrations.GrantClientCredentials:
		g, ok := in.(integrations.ClientCredentialsGranter)
		if !ok {
			return nil, fmt.Errorf("%s does not support the client-credentials grant", name)
		}
		return g.ClientCredentialsGrant(d.oauthContext(ctx))
	case integrations.GrantJWTBearer:
		g, ok := in.(integrations.JWTBearerGranter)
		if !ok {
			return nil, fmt.Errorf("%s does not support the JWT-bearer grant", name)
		}
		if username == "" {
			return nil, fmt.Errorf("the JWT-bearer grant needs the user name to sign in as (--username)")
		}
		key, err := d.loadSigningKey(ctx, name)
		if err != nil {
			return nil, err
		}
		return g.JWTBearerGrant(d.oauthContext(ctx), key, username)
	}
	return nil, fmt.Errorf("grant %q cannot run unattended", grant)
}

// jwtKeyMeta names the meta entry holding the sealed JWT-bearer private key.
func jwtKeyMeta(name string) string { return "jwt_bearer_key:" + name }

// StoreSigningKey seals an RSA private key for the JWT-bearer grant of name.
func (d *Daemon) StoreSigningKey(ctx context.Context, name string, key *rsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	return d.vault.SetSealedMeta(ctx, jwtKeyMeta(name), pemKey)
}

// HasSigningKey reports whether name has a sealed JWT-bearer signing key
// (latchkey keys generate refuses to replace one without --force).
func (d *Daemon) HasSigningKey(ctx context.Context, name string) bool {
	_, err := d.loadSigningKey(ctx, name)
	return err == nil
}

func (d *Daemon) loadSigningKey(ctx context.Context, name string) (*rsa.PrivateKey, error) {
	pemKey, err := d.vault.GetSealedMeta(ctx, jwtKeyMeta(name))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("no JWT-bearer key for %s: run `latchkey keys generate %s` and upload the public key", name, name)
	}
	if err != nil {
		return nil, fmt.Errorf("the JWT-bearer key of %s cannot be opened (%v): generate a new one", name, err)
	}
	block, _ := pem.Decode(pemKey)
	if block == nil {
		return nil, errors.New("sealed JWT-bearer key is not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("sealed JWT-bearer key is not RSA")
	}
	return rk, nil
}
