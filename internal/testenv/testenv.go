// Package testenv decides whether a test that needs a real system component
// (the Secret Service keychain, PostgreSQL, Chromium, an X display, nginx and
// wrk) runs, skips, or fails.
//
// `make test` starts each component and exports the variable that names it;
// a plain `go test ./...` has none of them and skips those tests. With
// CI=true a missing component is a failure, never a skip.
package testenv

import (
	"bytes"
	"os"
	"sync"
	"testing"
)

// Component is a system part a test needs, named by the environment variable
// `make test` sets once that part is up.
type Component string

const (
	// Keyring: a Secret Service (gnome-keyring, unlocked) on the session bus
	// of DBUS_SESSION_BUS_ADDRESS. Value: "1".
	Keyring Component = "LATCHKEY_TEST_KEYRING"
	// Postgres: a throwaway cluster. Value: a postgres:// URL of a database
	// the test may create schemas/databases in.
	Postgres Component = "LATCHKEY_TEST_POSTGRES"
	// Browser: Playwright + Debian Chromium. Value: the directory holding
	// node_modules/playwright-core.
	Browser Component = "LATCHKEY_TEST_BROWSER"
	// Display: an X server (Xvfb) on DISPLAY with a session bus. Value: "1".
	Display Component = "LATCHKEY_TEST_DISPLAY"
	// MCP: the MCP TypeScript SDK (scripts/mcp-deps.sh). Value: the
	// directory holding node_modules/@modelcontextprotocol/sdk.
	MCP Component = "LATCHKEY_TEST_MCP"
	// Bench: nginx and wrk installed for the load harness. Value: "1".
	Bench Component = "LATCHKEY_TEST_BENCH"
)

// Require returns the component's value, or skips the test when it is not
// available (fails it when CI=true).
func Require(t testing.TB, c Component) string {
	t.Helper()
	v := os.Getenv(string(c))
	if v != "" {
		return v
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not set: this test needs that component and CI=true forbids skipping (run it through `make test`)", c)
	}
	t.Skipf("%s not set; run through `make test` to use the real component", c)
	return ""
}

// Buffer is a bytes.Buffer that a test may read (String) while loggers or
// processes write to it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
