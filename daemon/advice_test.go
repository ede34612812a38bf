package daemon

import (
	"strings"
	"testing"
)

// The sign-in is not connected with `latchkey connect` (it refuses
// "identity"): its advice is `latchkey login`.
func TestConnectAdvice(t *testing.T) {
	t.Parallel()
	if got := reconnectError(identityName, "signed out").Error(); !strings.Contains(got, "run `latchkey login`") || strings.Contains(got, "connect identity") {
		t.Errorf("identity: %q", got)
	}
	if got := reconnectError("docebo", "").Error(); !strings.Contains(got, "run `latchkey connect docebo`") {
		t.Errorf("docebo: %q", got)
	}
}
