package daemon

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/integrations"
)

// The control API is its own route table: it has a route for every control
// request the client sends, and none for the injector's API, which the
// control socket serves behind it.
func TestControlRoutesTable(t *testing.T) {
	t.Parallel()
	m := (&Daemon{}).controlRoutes(func() {})
	for _, route := range []string{
		"POST /control/token", "POST /control/connect/docebo", "GET /control/flows/f1", "POST /control/reload",
		"GET /control/audit", "POST /control/rotate-key", "POST /control/menu-url", "POST /control/clients",
		"GET /control/clients", "DELETE /control/clients/lkc_1", "POST /control/open/docebo", "POST /control/login",
		"POST /control/logout", "POST /control/shutdown", "POST /control/apps/open/docebo/lp-1", "POST /control/apps/audit",
	} {
		method, path, _ := strings.Cut(route, " ")
		if _, pattern := m.Handler(httptest.NewRequest(method, path, nil)); pattern == "" {
			t.Errorf("no control route for %s", route)
		}
	}
	for _, route := range []string{"GET /v1/status", "GET /healthz", "GET /v1/proxy/docebo/x", "GET /control/token", "GET /control/nope"} {
		method, path, _ := strings.Cut(route, " ")
		if _, pattern := m.Handler(httptest.NewRequest(method, path, nil)); pattern != "" {
			t.Errorf("%s is routed by the control table (%s), not left to the injector's API", route, pattern)
		}
	}
}

// The organisation identity is an integration while a provider is
// configured: found under its name, its tokens going only to the issuer's
// origin, and different from an OAuth integration only through the
// interfaces it implements.
func TestIdentityIsAnIntegration(t *testing.T) {
	t.Parallel()
	d := &Daemon{}
	d.cfgp.Store(&Config{})
	if _, ok := d.lookupIntegration(identityName); ok {
		t.Fatal("the identity is an integration with no provider configured")
	}
	d.cfgp.Store(&Config{Identity: IdentityConfig{Issuer: "https://idp.example.com/realms/acme"}})
	in, ok := d.lookupIntegration(identityName)
	if !ok {
		t.Fatal("no identity integration with a provider configured")
	}
	if in.Name() != identityName || in.BaseURL().String() != "https://idp.example.com" {
		t.Errorf("identity integration %s at %s", in.Name(), in.BaseURL())
	}
	if _, ok := in.(integrations.TokenRenewer); !ok {
		t.Error("the identity does not renew its own tokens")
	}
	if _, ok := in.(integrations.Disconnector); !ok {
		t.Error("disconnecting the identity is not its own")
	}
	if _, ok := in.(integrations.OAuth); ok {
		t.Error("the identity offers the integrations' OAuth connect")
	}
	if _, ok := d.lookupIntegration("docebo"); ok {
		t.Error("an integration that is not configured was found")
	}
}
