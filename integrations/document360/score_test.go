package document360

import (
	"math"
	"testing"

	"github.com/latchkey/latchkey/integrations/docebo"
)

// TestScoreComparableWithDocebo: an article and a course with the same title
// and text get (nearly) the same score for the same query at the top of the
// list, so merged search ranks them by relevance, not by integration.
func TestScoreComparableWithDocebo(t *testing.T) {
	t.Parallel()
	cases := []struct{ query, title, text string }{
		{"go", "Go basics", "learn the language"},
		{"golang", "Getting started with Go (golang)", "golang is our language"},
		{"onboarding", "Onboarding checklist for new engineers", "day one"},
		{"onboarding", "Expense policy", "part of onboarding"},
		{"go modules", "Go modules", "dependencies"},
		{"go modules", "Deploying Go services", "uses go modules"},
		{"security training", "Security awareness", "yearly training"},
		{"onb", "Onboarding buddy program", "buddies"},
	}
	for _, c := range cases {
		d360 := score(hit{title: c.title, content: c.text, contentKnown: true}, queryTerms(c.query), 0)
		course := docebo.Score(queryTerms(c.query), c.query, c.title, c.text)
		if math.Abs(d360-course) > 0.02 {
			t.Errorf("%q / %q: document360 %v vs docebo %v", c.query, c.title, d360, course)
		}
	}
}
