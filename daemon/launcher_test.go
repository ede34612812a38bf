package daemon

import (
	"os"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/integrations/docebo/sandbox"
)

// The menu launcher file: only the user can read it, and it opens the menu
// of this run (its launcher key, in the fragment).
func TestMenuLauncherFile(t *testing.T) {
	t.Parallel()
	h := newHarness(t, sandbox.Options{})
	path := MenuLauncherFile(h.d.paths)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatalf("no menu launcher: %v", err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("menu launcher mode %v, want 0600", st.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), `url=http://`+h.d.listenAddr+`/menu#launch=`) || strings.Contains(string(b), "?") {
		t.Fatalf("menu launcher does not open this daemon's menu with a launcher key in the fragment:\n%s", b)
	}
}
