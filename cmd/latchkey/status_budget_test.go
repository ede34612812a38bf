package main

import (
	"net/http/httptest"
	"regexp"
	"testing"

	d360 "github.com/latchkey/latchkey/integrations/document360/sandbox"
)

// `latchkey status` shows how many Document360 requests are left in the
// minute.
func TestStatusShowsDocument360Budget(t *testing.T) {
	const token = "d360-cli-token-4b1e9f"
	srv := httptest.NewServer(d360.New(d360.Options{APIToken: token, RateLimit: 60}))
	defer srv.Close()
	u := newUser(t, false)
	u.startDaemon(freeAddr(t))
	if _, errOut, code := u.run(token+"\n", "configure", "document360", "--url", srv.URL,
		"--set", "version="+d360.DefaultVersionID, "--set", "public_url=https://kb.example.com"); code != 0 {
		t.Fatalf("configure document360: %d %s", code, errOut)
	}
	out, errOut, code := u.run("", "status")
	if code != 0 {
		t.Fatalf("status: %d %s", code, errOut)
	}
	if !regexp.MustCompile(`(?m)^  document360 .*API budget \d+/60 per minute left$`).MatchString(out) {
		t.Fatalf("status does not show the Document360 budget:\n%s", out)
	}
}
