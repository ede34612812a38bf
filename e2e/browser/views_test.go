package browser

import (
	"strings"
	"testing"
	"time"
)

// viewsScenario is what views.spec.mjs drives (see its header).
type viewsScenario struct {
	MenuURLs         []string `json:"menuURLs"`
	Shots            string   `json:"shots"`
	Query            string   `json:"query"`
	NothingConnected bool     `json:"nothingConnected,omitempty"`
}

type viewsResult struct {
	Views []struct {
		Tag         string `json:"tag"`
		More        string `json:"more"`
		RowsThatFit int    `json:"rowsThatFit"`
		Cards       []struct {
			Name    string   `json:"name"`
			Buttons []string `json:"buttons"`
		} `json:"cards"`
	} `json:"views"`
	ClosedByEscape bool `json:"closedByEscape"`
}

// TestMenuViews walks every view of the menu at 600×420 and 900×700, light
// and dark, by keyboard, against the fake stack: layout of a launcher,
// axe-core, indicator contrast, and a screenshot of each view.
func TestMenuViews(t *testing.T) {
	f := newFakeStack(t)
	sc := viewsScenario{Shots: artifactsDir(t), Query: "go"}
	for range 5 {
		sc.MenuURLs = append(sc.MenuURLs, f.mint(2*time.Minute))
	}
	var res viewsResult
	runScript(t, "views.spec.mjs", sc, &res)
	if len(res.Views) != 4 {
		t.Fatalf("%d views checked, want 2 sizes × 2 schemes", len(res.Views))
	}
	for _, v := range res.Views {
		// 6 courses to continue (fakeEnrollments): five rows, then "Show all 6".
		if v.More != "Show all 6" {
			t.Errorf("%s: My Courses offers %q, want \"Show all 6\"", v.Tag, v.More)
		}
		for _, c := range v.Cards {
			if c.Name == "docebo" && (len(c.Buttons) != 1 || c.Buttons[0] != "Disconnect Docebo") {
				t.Errorf("%s: the Docebo card's buttons are %q, want [Disconnect Docebo]", v.Tag, c.Buttons)
			}
		}
	}
	if !res.ClosedByEscape {
		t.Error("Escape on an empty search did not close the menu")
	}
	// The page that was asked to come back acknowledged (the daemon opens no other menu then).
	f.mu.Lock()
	acks := f.focusAcks
	f.mu.Unlock()
	if len(acks) != 1 || !strings.HasPrefix(acks[0], "nonce-") {
		t.Errorf("focus acknowledgements %q, want one", acks)
	}
}

// TestMenuNothingConnected: a newcomer's menu, nothing connected yet.
func TestMenuNothingConnected(t *testing.T) {
	f := newFakeStack(t)
	f.connected, f.nothing = false, true
	sc := viewsScenario{Shots: artifactsDir(t), Query: "go", NothingConnected: true, MenuURLs: []string{f.mint(2 * time.Minute)}}
	var res viewsResult
	runScript(t, "views.spec.mjs", sc, &res)
}
