package daemon

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/integrations/docebo/sandbox"
)

// A provider that keeps answering 503 is reported as unavailable, not as
// rate limiting (only a 429 is), in the feeds' errors.
func TestPersistent503IsUnavailable(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{RetryAfter: 20 * time.Millisecond})
	h.connect()
	h.sb.FailNext(1_000_000, http.StatusServiceUnavailable)
	for _, path := range []string{"/v1/courses", "/v1/search?q=go"} {
		var doc struct {
			Errors []struct{ Integration, Code, Message string } `json:"errors"`
		}
		if code := h.api("GET", path, &doc); code != 200 {
			t.Fatalf("GET %s: %d", path, code)
		}
		if len(doc.Errors) != 1 || doc.Errors[0].Integration != "docebo" {
			t.Fatalf("GET %s: errors %+v", path, doc.Errors)
		}
		e := doc.Errors[0]
		if e.Code != "unavailable" || strings.Contains(strings.ToLower(e.Message), "rate limit") || !strings.Contains(e.Message, "unavailable") {
			t.Fatalf("GET %s: a persistent 503 is reported as %q: %q", path, e.Code, e.Message)
		}
	}
}
