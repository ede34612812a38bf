package docebo

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/integrations"
)

// SignInTokenSource is an optional interface of the integrations.Tokens given
// to SignInURL, needed for the "oauth2_response" link form. SignInToken
// returns an access token obtained for this one link: never the token kept
// in the vault, and not stored anywhere.
//
// The daemon implements it with what it is allowed to use without the user:
// the JWT-bearer grant (JWTBearerGrant with the connection's key and
// username) mints a separate token and leaves the vault untouched, which is
// the recommended way. A daemon without a key may return
// ErrSignInUnavailable. SignInURL refuses a token equal to the one
// Tokens.Token returns.
type SignInTokenSource interface {
	SignInToken(ctx context.Context) (*oauth2.Token, error)
}

// ErrSignInUnavailable: there is no way to mint a short-lived credential for
// a signed-in link with this configuration.
var ErrSignInUnavailable = errors.New("docebo: cannot mint a short-lived sign-in token (configure a JWT-bearer key; signin = token_exchange is an experimental alternative)")

// ErrExchangeUnsupported: the platform answered 404 where the experimental
// "token_exchange" sign-in asks for an exchange token.
var ErrExchangeUnsupported = errors.New("docebo: exchange token endpoint not found")

// exchangeNotFound is the error of a 404 from the exchange-token endpoint:
// one line saying what to do, wrapping ErrExchangeUnsupported and the
// provider's answer.
type exchangeNotFound struct {
	path string
	pe   *integrations.ProviderError
}

func (e *exchangeNotFound) Error() string {
	return fmt.Sprintf("docebo: this Docebo platform does not offer exchange tokens (POST %s answered 404); signin = %s is experimental: set signin = %s (the default) and give latchkey a JWT-bearer key (latchkey keys generate docebo)",
		e.path, SignInTokenExchange, SignInOAuth2Response)
}

func (e *exchangeNotFound) Unwrap() []error { return []error{ErrExchangeUnsupported, e.pe} }

// SignInURL implements integrations.SignIn: a URL that opens target on the
// platform with the user already signed in. target is a normalised item id
// (a course id, or "lp-<id>" for a learning plan, as Courses and Search
// return them), a path on the platform ("/learn/mycourses"), or a URL on the
// platform's origin; empty means /learn/mycourses.
//
// The link is <base><path>;type=oauth2_response;access_token=…;
// expires_in=…;token_type=Bearer;scope=api with a token from
// SignInTokenSource (see there).
//
// The experimental "token_exchange" setting asks the platform for a
// 30-second, single-use exchange token (POST exchange_token_path,
// authenticated with the user's token through tokens) and the link is
// <base>/learn/signin;type=token_exchange;exchange_token=…; the target path
// travels in the minting request ("redirect_path"). No public source
// documents such an endpoint: a platform that answers 404 gets an error
// saying to use oauth2_response.
func (d *Docebo) SignInURL(ctx context.Context, tokens integrations.Tokens, target string) (string, error) {
	path, err := d.signInPath(target)
	if err != nil {
		return "", err
	}
	if tokens == nil {
		return "", fmt.Errorf("docebo: %w", integrations.ErrNotConnected)
	}
	if d.signIn == SignInTokenExchange {
		return d.exchangeSignInURL(ctx, tokens, path)
	}
	src, ok := tokens.(SignInTokenSource)
	if !ok {
		return "", ErrSignInUnavailable
	}
	tok, err := src.SignInToken(ctx)
	if err != nil {
		return "", err
	}
	if tok == nil || tok.AccessToken == "" {
		return "", ErrSignInUnavailable
	}
	if stored, err := tokens.Token(ctx); err == nil && stored != nil && stored.AccessToken == tok.AccessToken {
		return "", errors.New("docebo: refusing to put the stored access token in a sign-in link; SignInToken must mint a separate one")
	}
	expires := 3600
	switch {
	case !tok.Expiry.IsZero():
		expires = max(1, int(tok.Expiry.Sub(d.now())/time.Second))
	case tok.ExpiresIn > 0:
		expires = int(tok.ExpiresIn)
	}
	return d.url(path) +
		";type=oauth2_response" +
		";access_token=" + url.PathEscape(tok.AccessToken) +
		";expires_in=" + strconv.Itoa(expires) +
		";token_type=Bearer;scope=" + Scope, nil
}

type exchangeData struct {
	ExchangeToken string  `json:"exchange_token"`
	Token         string  `json:"token"`
	ExpiresIn     flexInt `json:"expires_in"`
}

func (d *Docebo) exchangeSignInURL(ctx context.Context, tokens integrations.Tokens, path string) (string, error) {
	var ex exchangeData
	body := map[string]string{"redirect_path": path}
	if err := d.call(ctx, tokens, apiCall{method: http.MethodPost, path: d.exchangePath, body: body}, &ex); err != nil {
		var pe *integrations.ProviderError
		if errors.As(err, &pe) && pe.Status == http.StatusNotFound {
			return "", &exchangeNotFound{path: d.exchangePath, pe: pe}
		}
		return "", err
	}
	et := firstNonEmpty(ex.ExchangeToken, ex.Token)
	if et == "" {
		return "", fmt.Errorf("docebo: %s answered without an exchange token", d.exchangePath)
	}
	return d.url("/learn/signin") + ";type=token_exchange;exchange_token=" + url.PathEscape(et), nil
}

// signInPath turns a SignInURL target into a path on the platform.
func (d *Docebo) signInPath(target string) (string, error) {
	target = strings.TrimSpace(target)
	switch {
	case target == "":
		return "/learn/mycourses", nil
	case strings.Contains(target, "://"):
		u, err := url.Parse(target)
		if err != nil || u.Scheme != d.base.Scheme || u.Host != d.base.Host || u.User != nil {
			return "", fmt.Errorf("docebo: sign-in target %q is not on %s", target, d.base.Host)
		}
		return checkSignInPath(u.EscapedPath())
	case strings.HasPrefix(target, "/"):
		return checkSignInPath(target)
	default:
		if strings.ContainsAny(target, "/;?#\\ ") {
			return "", fmt.Errorf("docebo: sign-in target %q is neither a course id, a learning plan id (lp-<id>) nor a path", target)
		}
		if plan, raw := splitItemID(target); plan && raw == "" {
			return "", fmt.Errorf("docebo: sign-in target %q names no learning plan (use lp-<id>)", target)
		}
		return uiPath(target, ""), nil
	}
}

func checkSignInPath(p string) (string, error) {
	if !strings.HasPrefix(p, "/learn") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, ";?#\\") || strings.Contains(p, "..") {
		return "", fmt.Errorf("docebo: sign-in target path %q must be a plain /learn/… path", p)
	}
	return p, nil
}
