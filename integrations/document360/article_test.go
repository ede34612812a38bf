package document360_test

import (
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/integrations/document360/sandbox"
)

func TestArticleIsPlainTextWithoutScripts(t *testing.T) {
	t.Parallel()
	for _, api := range []string{"v2", "v3"} {
		e := newEnv(t, sandbox.Options{})
		settings := map[string]string{"api": api}
		tok := &staticTokens{tok: testToken}
		if api == "v3" {
			settings["version"] = ""
			tok = &staticTokens{tok: testKey}
		}
		d, _ := e.integration(t, settings)
		rs, err := d.Search(ctxT(t, 10*time.Second), tok, "xss", 1)
		if err != nil || len(rs) != 1 {
			t.Fatalf("%s: search: %v %v", api, rs, err)
		}
		a, err := d.Article(ctxT(t, 10*time.Second), tok, rs[0].ID)
		if err != nil {
			t.Fatalf("%s: %v", api, err)
		}
		if a.Title != "Security: avoiding XSS in templates" || a.ID != rs[0].ID || a.Integration != "document360" || !strings.HasPrefix(a.URL, e.srv.URL+"/docs/") {
			t.Fatalf("%s: article = %+v", api, a)
		}
		if !strings.Contains(a.Text, "<script>alert(1)</script> in a name must stay text") {
			t.Errorf("%s: the escaped example is not text: %q", api, a.Text)
		}
		if strings.Contains(a.Text, "leaked") || strings.Contains(a.Text, "<p>") {
			t.Errorf("%s: markup or script text leaked: %q", api, a.Text)
		}
		if _, err := d.Article(ctxT(t, 10*time.Second), tok, "../etc"); err == nil {
			t.Errorf("%s: a path as an id was accepted", api)
		}
	}
}
