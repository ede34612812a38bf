package storeserver_test

import (
	"os"
	"strings"
	"testing"
)

// TestOpenAPIDocumentsEveryRoute keeps openapi.yaml in step with the routes
// the server registers.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	routes := map[string][]string{
		"/v1/records":                                     {"get"},
		"/v1/records/{device}/{integration}":              {"get", "put", "delete"},
		"/v1/admin/records":                               {"get"},
		"/v1/admin/records/{user}/{device}/{integration}": {"delete"},
		"/v1/admin/integrations":                          {"get"},
		"/v1/admin/integrations/{name}":                   {"get", "put", "delete"},
		"/v1/admin/integrations/{name}/history":           {"get"},
		"/v1/org/integrations":                            {"get"},
		"/healthz":                                        {"get"}, "/readyz": {"get"}, "/metrics": {"get"},
	}
	text := string(doc)
	for path, methods := range routes {
		i := strings.Index(text, "\n  "+path+":\n")
		if i < 0 {
			t.Errorf("openapi.yaml lacks %s", path)
			continue
		}
		section := text[i+1:]
		if j := strings.Index(section[1:], "\n  /"); j >= 0 {
			section = section[:j+1]
		}
		for _, m := range methods {
			if !strings.Contains(section, "\n    "+m+":") {
				t.Errorf("openapi.yaml lacks %s %s", strings.ToUpper(m), path)
			}
		}
	}
}
