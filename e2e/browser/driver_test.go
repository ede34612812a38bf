package browser

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testenv"
)

// course is one enrollment the menu must show.
type course struct {
	ID       string   `json:"id"`
	Title    string   `json:"title"`
	Progress *float64 `json:"progress,omitempty"`
	Status   string   `json:"status,omitempty"`
}

// scenario is what menu.spec.mjs drives and expects (see its header).
type scenario struct {
	MenuURL      string            `json:"menuURL,omitempty"`
	MenuCmd      []string          `json:"menuCmd,omitempty"` // run for a fresh menu URL instead
	MenuEnv      []string          `json:"menuEnv,omitempty"` // MenuCmd's environment
	ExpiredURL   string            `json:"expiredURL"`
	Shots        string            `json:"shots"`
	Integration  string            `json:"integration"`
	Query        string            `json:"query"`
	SearchTitles []string          `json:"searchTitles"`
	Courses      []course          `json:"courses"`
	Consent      map[string]string `json:"consent,omitempty"`
	Thumbnails   bool              `json:"thumbnails,omitempty"`
	// StaleEnter: type First, wait for its results, type Then and press
	// Enter at once: the result titled Opens (of First+Then) must open.
	StaleEnter *staleEnter `json:"staleEnter,omitempty"`
	// LauncherFile is the daemon's menu launcher file (the real stack).
	LauncherFile string `json:"launcherFile,omitempty"`
}

type staleEnter struct {
	First string `json:"first"`
	Then  string `json:"then"`
	Opens string `json:"opens"`
}

// specResult is the RESULT line of menu.spec.mjs.
type specResult struct {
	Steps  []string `json:"steps"`
	Shots  []string `json:"shots"`
	Search struct {
		Query string `json:"query"`
		Rows  []struct {
			Source string `json:"source"`
			Title  string `json:"title"`
		} `json:"rows"`
	} `json:"search"`
	// ConnectedPage is what the daemon's page at the end of a consent showed.
	ConnectedPage struct {
		Title  string   `json:"title"`
		H1     string   `json:"h1"`
		Styled bool     `json:"styled"`
		Back   []string `json:"back"`
	} `json:"connectedPage"`
	Popups        []map[string]string `json:"popups"`
	Thumbnails    int                 `json:"thumbnails"`
	ReusedStatus  int                 `json:"reusedStatus"`
	ExpiredStatus int                 `json:"expiredStatus"`
}

// artifactsDir is where screenshots of test t go: $LATCHKEY_TEST_ARTIFACTS/<test>,
// or a new temp dir that is kept after the test (its path is logged).
func artifactsDir(t *testing.T) string {
	t.Helper()
	base := os.Getenv("LATCHKEY_TEST_ARTIFACTS")
	if base == "" {
		var err error
		if base, err = os.MkdirTemp("", "latchkey-browser-"); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(base, strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots: %s", dir)
	return dir
}

// runSpec runs menu.spec.mjs with sc and returns its result. It fails t with
// the script's output when the script fails.
func runSpec(t *testing.T, sc scenario) specResult {
	t.Helper()
	var res specResult
	runScript(t, "menu.spec.mjs", sc, &res)
	return res
}

// shotsResult is the part of a RESULT line every spec has.
type shotsResult struct {
	Steps []string `json:"steps"`
	Shots []string `json:"shots"`
}

// runScript runs the spec file with scenario sc (as JSON in LK_SCENARIO)
// and decodes its RESULT line into res. It fails t with the script's
// output when the script fails, or when a screenshot it names is missing.
func runScript(t *testing.T, file string, sc, res any) {
	t.Helper()
	deps := testenv.Require(t, testenv.Browser)
	if _, err := os.Stat(filepath.Join(deps, "node_modules", "playwright-core", "package.json")); err != nil {
		t.Fatalf("LATCHKEY_TEST_BROWSER=%s has no node_modules/playwright-core (run scripts/browser-deps.sh): %v", deps, err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed: %v", err)
	}
	spec, err := filepath.Abs(file)
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(sc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, spec)
	cmd.Env = append(os.Environ(), "LK_SCENARIO="+string(js), "LATCHKEY_TEST_BROWSER="+deps)
	cmd.WaitDelay = 10 * time.Second
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	runErr := cmd.Run()

	var shots shotsResult
	var failed []string
	sc2 := bufio.NewScanner(bytes.NewReader(out.Bytes()))
	sc2.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc2.Scan() {
		line := sc2.Text()
		if rest, ok := strings.CutPrefix(line, "RESULT "); ok {
			if err := json.Unmarshal([]byte(rest), res); err != nil {
				t.Errorf("bad RESULT line: %v", err)
			}
			json.Unmarshal([]byte(rest), &shots)
			continue
		}
		t.Log(line)
		if strings.HasPrefix(line, "FAIL") {
			failed = append(failed, line)
		}
	}
	if runErr != nil || len(failed) > 0 {
		t.Fatalf("%s failed (%v) after steps %q", file, runErr, shots.Steps)
	}
	for _, f := range shots.Shots {
		st, err := os.Stat(f)
		if err != nil || st.Size() < 1000 {
			t.Errorf("screenshot %s missing or empty (%v)", f, err)
		}
	}
}
