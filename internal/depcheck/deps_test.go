package depcheck

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const mod = "github.com/latchkey/latchkey/"

// rule: packages under from must not import anything under one of the
// forbidden prefixes: transitively, or (direct) in their own import lists
// only, for a package that reaches the forbidden one legitimately through
// another (the CLI runs the daemon, which serves the injector).
type rule struct {
	from      string
	forbidden []string
	why       string
	direct    bool
	allowed   []string // exceptions under forbidden
}

var rules = []rule{
	{from: "injector", forbidden: []string{mod + "vault", mod + "daemon", mod + "tray", mod + "client"}, why: "the injector sees tokens only through integrations.Tokens"},
	{from: "tray", forbidden: []string{mod + "vault", mod + "daemon", mod + "injector"}, why: "the tray declares the small interface it needs"},
	{from: "client", forbidden: []string{mod + "daemon", mod + "injector", mod + "vault", mod + "tray"}, why: "the client speaks only the wire types of client/apitype"},
	{from: "integrations", forbidden: []string{mod + "daemon", mod + "injector", mod + "tray", mod + "client"}, why: "integrations sit below the daemon, the injector and the client"},
	{from: "vault", forbidden: []string{mod + "daemon", mod + "injector", mod + "tray", mod + "integrations", mod + "client"}, why: "the vault is the bottom layer"},
	{from: "daemon", forbidden: []string{mod + "cmd"}, why: "nothing imports a command"},
	{from: "cmd/latchkey", forbidden: []string{mod + "injector"}, why: "the CLI reaches the injector's API through the client", direct: true,
		allowed: []string{mod + "injector/mcpserver"}}, // `latchkey mcp` runs the MCP server in the CLI's process, over the client
	// The vault is the only writer of sealed state: the daemon and the
	// command reach the local store through it (or interfaces they
	// declare). They link it through the vault, which opens it.
	{from: "daemon", forbidden: []string{mod + "vault/store/sqlitestore"}, why: "the vault owns the local store", direct: true},
	{from: "cmd/latchkey", forbidden: []string{mod + "vault/store/sqlitestore"}, why: "the vault owns the local store", direct: true},
}

// deps lists, for every package matching pattern, its transitive imports
// (direct false) or its own imports (direct true).
func deps(t *testing.T, env []string, pattern string, direct bool) map[string][]string {
	t.Helper()
	list := ".Deps"
	if direct {
		list = ".Imports"
	}
	cmd := exec.Command("go", "list", "-deps=false", "-f", `{{.ImportPath}}{{range `+list+`}} {{.}}{{end}}`, pattern)
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
		env := []string{"GOOS=" + goos, "CGO_ENABLED=0"}
		all := map[bool]map[string][]string{false: deps(t, env, "./...", false), true: deps(t, env, "./...", true)}
		for _, r := range rules {
			for pkg, ds := range all[r.direct] {
				rel := strings.TrimPrefix(pkg, mod)
				if rel != r.from && !strings.HasPrefix(rel, r.from+"/") {
					continue
				}
				if r.from == "injector" && strings.HasPrefix(rel, "injector/loadtest") {
					continue // a separate benchmark program, not the injector library
				}
				for _, d := range ds {
					if slices.Contains(r.allowed, d) {
						continue
					}
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
		ds := deps(t, []string{"GOOS=linux", "CGO_ENABLED=" + cgo}, "./cmd/latchkey", false)[mod+"cmd/latchkey"]
		for _, d := range ds {
			if strings.HasPrefix(d, "golang.design/x/hotkey") {
				t.Fatalf("cmd/latchkey (linux, cgo=%s) links %s, which dies without a display", cgo, d)
			}
		}
	}
}

// latchkey-store is pure Go and knows nothing of the desktop.
func TestStoreServerIsPureGo(t *testing.T) {
	ds := deps(t, []string{"CGO_ENABLED=0"}, "./cmd/latchkey-store", false)[mod+"cmd/latchkey-store"]
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
