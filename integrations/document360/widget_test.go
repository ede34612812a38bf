package document360_test

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/integrations"
	"github.com/latchkey/latchkey/integrations/document360"
	"github.com/latchkey/latchkey/integrations/document360/sandbox"
)

var reader = integrations.Reader{Username: "john.doe", FirstName: "John", LastName: "Doe", Email: "john.doe@example.com"}

func TestWidgetTokenValidityClamping(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ set, want int }{{1, 5}, {5, 5}, {15, 15}, {1440, 1440}, {5000, 1440}, {0, 5}, {-3, 5}} {
		t.Run(fmt.Sprint(c.set), func(t *testing.T) {
			if got := document360.ClampTokenValidity(c.set); got != c.want {
				t.Fatalf("ClampTokenValidity(%d) = %d, want %d", c.set, got, c.want)
			}
			e := newEnv(t, sandbox.Options{WidgetID: testWidget})
			d, _ := e.integration(t, map[string]string{"token_validity": fmt.Sprint(c.set)})
			if d.TokenValidity() != c.want {
				t.Errorf("TokenValidity() = %d", d.TokenValidity())
			}
			wt, err := d.WidgetToken(ctxT(t, 5*time.Second), reader)
			if err != nil {
				t.Fatal(err)
			}
			if wt.ExpiresIn != c.want*60 {
				t.Errorf("expiresIn = %d, want %d", wt.ExpiresIn, c.want*60)
			}
			reqs := e.sb.WidgetRequests()
			if len(reqs) != 1 {
				t.Fatalf("%d widget requests", len(reqs))
			}
			r := reqs[0]
			// The client clamps before sending (the sandbox would clamp too).
			if r.RequestedValidity != c.want || r.GrantedValidity != c.want {
				t.Errorf("sent %d, granted %d; want %d", r.RequestedValidity, r.GrantedValidity, c.want)
			}
			if !r.Form || r.Username != "john.doe" || r.Email != "john.doe@example.com" || r.FirstName != "John" ||
				r.LastName != "Doe" || r.WidgetID != testWidget || r.ProjectID != sandbox.DefaultProjectID ||
				!slices.Equal(r.ReaderGroupIDs, []string{"group1", "group2"}) {
				t.Errorf("payload received: %+v", r)
			}
			claims, err := e.sb.ParseWidgetToken(wt.AccessToken)
			if err != nil {
				t.Fatalf("the access token is not the sandbox's JWT: %v", err)
			}
			exp, _ := claims.GetExpirationTime()
			iat, _ := claims.GetIssuedAt()
			if got := exp.Sub(iat.Time); got != time.Duration(c.want)*time.Minute {
				t.Errorf("JWT lifetime %s, want %d minutes", got, c.want)
			}
			if claims["sub"] != "john.doe" {
				t.Errorf("sub = %v", claims["sub"])
			}
		})
	}
}

func TestWidgetTokenNeedsReaderGroup(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Options{})
	for _, groups := range []string{"", " , ,"} {
		d, _ := e.integration(t, map[string]string{"reader_groups": groups})
		_, err := d.WidgetToken(ctxT(t, 5*time.Second), reader)
		if !errors.Is(err, document360.ErrNoReaderGroup) {
			t.Fatalf("reader_groups %q: want ErrNoReaderGroup, got %v", groups, err)
		}
		if !strings.Contains(err.Error(), "reader_groups") || !strings.Contains(err.Error(), "at least one") {
			t.Errorf("error %q does not say what to set", err)
		}
	}
	if n := len(e.sb.WidgetRequests()); n != 0 {
		t.Errorf("%d requests reached the identity server", n)
	}
}

func TestWidgetTokenRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Options{})

	// Wrong client secret: the identity server's invalid_client, secret not echoed.
	d, err := document360.New(integrations.Config{BaseURL: e.srv.URL, Secret: "wrong-secret-value",
		Settings: map[string]string{"project": sandbox.DefaultProjectID, "identity_url": e.srv.URL,
			"widget_id": testWidget, "reader_groups": "g1"}},
		document360.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.WidgetToken(ctxT(t, 5*time.Second), reader)
	var pe *integrations.ProviderError
	if !errors.As(err, &pe) || pe.Status != http.StatusUnauthorized || pe.Code != "invalid_client" {
		t.Fatalf("wrong secret: %v", err)
	}
	if strings.Contains(err.Error(), "wrong-secret-value") {
		t.Errorf("error echoes the secret: %v", err)
	}

	// Missing configuration.
	for setting, want := range map[string]string{"widget_id": "widget_id"} {
		d, _ := e.integration(t, map[string]string{setting: ""})
		if _, err := d.WidgetToken(ctxT(t, 5*time.Second), reader); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("without %s: %v", setting, err)
		}
	}
	d2, err := document360.New(integrations.Config{BaseURL: e.srv.URL,
		Settings: map[string]string{"project": "p", "identity_url": e.srv.URL, "widget_id": "w", "reader_groups": "g"}},
		document360.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d2.WidgetToken(ctxT(t, 5*time.Second), reader); !errors.Is(err, document360.ErrNoWidgetSecret) {
		t.Errorf("no secret: %v", err)
	}
	d3, _ := e.integration(t, nil)
	if _, err := d3.WidgetToken(ctxT(t, 5*time.Second), integrations.Reader{}); err == nil {
		t.Error("a reader without username or email was accepted")
	}
}

// TestSecretsStayOut drives every path — success, rejection, rate limit,
// outage, widget tokens good and bad — and checks that neither the API
// token nor the client secret shows up in a log line, an error or a URL.
func TestSecretsStayOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Options{})
	d, logs := e.integration(t, nil)
	tok := &staticTokens{tok: testToken}
	var errs []string
	note := func(err error) {
		if err != nil {
			errs = append(errs, err.Error())
		}
	}
	_, err := d.Search(ctxT(t, 5*time.Second), tok, "go", 5)
	note(err)
	_, err = d.Search(ctxT(t, 5*time.Second), &staticTokens{tok: testToken + "x"}, "go", 5)
	note(err)
	e.sb.FailNext(1, 500)
	_, err = d.Search(ctxT(t, 5*time.Second), tok, "vpn", 5)
	note(err)
	e.sb.SetDown(true)
	_, err = d.Search(ctxT(t, 5*time.Second), tok, "sso", 5)
	note(err)
	_, err = d.WidgetToken(ctxT(t, 5*time.Second), reader)
	note(err)
	e.sb.SetDown(false)
	_, err = d.WidgetToken(ctxT(t, 5*time.Second), reader)
	note(err)
	e.sb.RateLimitNext(3, 30*time.Second)
	_, err = d.Search(ctxT(t, 5*time.Second), tok, "vpn", 5)
	note(err)
	if len(errs) < 5 {
		t.Fatalf("expected several errors, got %q", errs)
	}
	if !strings.Contains(logs.String(), "document360: request") {
		t.Fatalf("debug logs missing; the test would prove nothing: %q", logs.String())
	}
	for _, secret := range []string{testToken, testSecret} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("a secret is in the logs:\n%s", logs.String())
		}
		for _, e := range errs {
			if strings.Contains(e, secret) {
				t.Errorf("a secret is in an error: %s", e)
			}
		}
		for _, u := range e.requestURLs() {
			if strings.Contains(u, secret) {
				t.Errorf("a secret is in a URL: %s", u)
			}
		}
	}
}

func TestWidgetIdentityDefaultsToLoopbackSandbox(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sandbox.Options{})
	d, _ := e.integration(t, map[string]string{"identity_url": "", "region": "eu"})
	wt, err := d.WidgetToken(ctxT(t, 5*time.Second), reader)
	if err != nil || wt.ExpiresIn != document360.DefaultTokenValidity*60 {
		t.Fatalf("%+v %v", wt, err)
	}
	if n := len(e.sb.WidgetRequests()); n != 1 {
		t.Errorf("the sandbox got %d widget requests", n)
	}
}
