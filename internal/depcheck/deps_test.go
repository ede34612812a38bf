package depcheck

import (
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/latchkey/latchkey/"

// rule: packages under from (transitively) must not import anything under
// one of the forbidden prefixes.
type rule struct {
	from      string
	forbidden []string
	why       string
}

var rules = []rule{
	{"injector", []string{mod + "vault", mod + "daemon", mod + "tray"}, "the injector sees tokens only through integrations.Tokens"},
	{"tray", []string{mod + "vault", mod + "daemon", mod + "injector"}, "the tray declares the small interface it needs"},
	{"integrations", []string{mod + "daemon", mod + "injector", mod + "tray"}, "integrations sit below the daemon and injector"},
	{"vault", []string{mod + "daemon", mod + "injector", mod + "tray", mod + "integrations"}, "the vault is the bottom layer"},
	{"daemon", []string{mod + "cmd"}, "nothing imports a command"},
}

// deps lists, for every package matching pattern, its transitive imports.
func deps(t *testing.T, env []string, pattern string) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps=false", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, pattern)
	cmd.Dir = "../.."
	cmd.Env = append(cmd.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", pattern, err, out)
	}
	m := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 {
			m[f[0]] = f[1:]
		}
	}
	return m
}

func TestImportArrows(t *testing.T) {
	for _, goos := range []string{"linux", "darwin", "windows"} {
		all := deps(t, []string{"GOOS=" + goos, "CGO_ENABLED=0"}, "./...")
		for pkg, ds := range all {
			rel := strings.TrimPrefix(pkg, mod)
			for _, r := range rules {
				if rel != r.from && !strings.HasPrefix(rel, r.from+"/") {
					continue
				}
				if r.from == "injector" && strings.HasPrefix(rel, "injector/loadtest") {
					continue // a separate benchmark program, not the injector library
				}
				for _, d := range ds {
					for _, bad := range r.forbidden {
						if d == bad || strings.HasPrefix(d, bad+"/") {
							t.Errorf("%s (GOOS=%s) imports %s: %s", rel, goos, d, r.why)
						}
					}
				}
			}
		}
	}
}

// The hotkey package panics at init without an X display: the Linux binary
// must never link it.
func TestLinuxBinaryDoesNotLinkHotkeyPackage(t *testing.T) {
	for _, cgo := range []string{"0", "1"} {
		ds := deps(t, []string{"GOOS=linux", "CGO_ENABLED=" + cgo}, "./cmd/latchkey")[mod+"cmd/latchkey"]
		for _, d := range ds {
			if strings.HasPrefix(d, "golang.design/x/hotkey") {
				t.Fatalf("cmd/latchkey (linux, cgo=%s) links %s, which dies without a display", cgo, d)
			}
		}
	}
}

// latchkey-store is pure Go and knows nothing of the desktop.
func TestStoreServerIsPureGo(t *testing.T) {
	ds := deps(t, []string{"CGO_ENABLED=0"}, "./cmd/latchkey-store")[mod+"cmd/latchkey-store"]
	if ds == nil {
		t.Fatal("cmd/latchkey-store does not build with CGO_ENABLED=0")
	}
	for _, d := range ds {
		for _, bad := range []string{mod + "daemon", mod + "tray", mod + "injector", mod + "integrations", "github.com/getlantern/systray"} {
			if d == bad || strings.HasPrefix(d, bad+"/") {
				t.Errorf("latchkey-store imports %s", d)
			}
		}
	}
}

// The vault is the only writer of sealed state: the daemon and the command
// reach the local store through it (or through interfaces they declare),
// never by importing the SQLite store themselves. Direct imports only: they
// link it through the vault, which opens it.
func TestDaemonDoesNotImportSQLiteStore(t *testing.T) {
	const forbidden = mod + "vault/store/sqlitestore"
	for _, goos := range []string{"linux", "darwin", "windows"} {
		cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./daemon/...", "./cmd/latchkey/...")
		cmd.Dir = "../.."
		cmd.Env = append(cmd.Environ(), "GOOS="+goos, "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go list: %v\n%s", err, out)
		}
		n := 0
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(line)
			if len(f) == 0 {
				continue
			}
			n++
			for _, imp := range f[1:] {
				if imp == forbidden {
					t.Errorf("%s (GOOS=%s) imports %s: the vault owns the local store", strings.TrimPrefix(f[0], mod), goos, imp)
				}
			}
		}
		if n == 0 {
			t.Fatalf("go list (GOOS=%s) listed no package", goos)
		}
	}
}
