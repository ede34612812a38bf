package browser

import (
	"testing"
	"time"
)

// managedScenario is what managed.spec.mjs drives (see its header).
type managedScenario struct {
	MenuURL    string `json:"menuURL"`
	Shots      string `json:"shots"`
	Heading    string `json:"heading"`
	CardName   string `json:"cardName"`
	CardReason string `json:"cardReason,omitempty"`
	Logo       string `json:"logo,omitempty"`
}

// testLogo is a 1×1 PNG as the daemon serves a fetched logo.
const testLogo = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

// TestMenuManagedIntegration: with Docebo managed by the organisation, the
// menu names it as the organisation does and My Courses carries the
// organisation's widget title; never enabled, its card says to ask the
// administrator and My Courses keeps its own title.
func TestMenuManagedIntegration(t *testing.T) {
	t.Run("Enabled", func(t *testing.T) {
		f := newFakeStack(t)
		f.org = map[string]any{"managed": true, "display_name": "Acme Learning", "logo_url": "https://cdn.acme.example/logo.png",
			"logo": testLogo, "widget_title": "Acme courses"}
		runScript(t, "managed.spec.mjs", managedScenario{MenuURL: f.mint(time.Minute), Shots: artifactsDir(t),
			Heading: "Acme courses", CardName: "Acme Learning", Logo: testLogo}, &struct{}{})
	})
	t.Run("NeverEnabled", func(t *testing.T) {
		f := newFakeStack(t)
		f.doceboUnset = true
		runScript(t, "managed.spec.mjs", managedScenario{MenuURL: f.mint(time.Minute), Shots: artifactsDir(t),
			Heading: "My Courses", CardName: "Docebo", CardReason: "ask your organisation's latchkey administrator"}, &struct{}{})
	})
}
