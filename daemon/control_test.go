package daemon

import (
	"net/http/httptest"
	"strings"
	"testing"
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
