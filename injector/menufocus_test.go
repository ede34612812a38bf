package injector

import (
	"encoding/json"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// untilWaiting yields until n pages wait (their requests have reached the handler).
func untilWaiting(t *testing.T, s *Server, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.MenuPagesOpen() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d menu pages waiting, want %d", s.MenuPagesOpen(), n)
		}
		runtime.Gosched()
	}
}

type focusAnswer struct {
	Focus bool   `json:"focus"`
	Ack   string `json:"ack"`
}

func TestFocusMenuBringsBackTheOpenPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sess := e.openMenu().session
	hdr := map[string]string{MenuSessionHeader: sess, "Origin": e.base}

	// No page open: the caller must open a menu.
	if e.srv.FocusMenu(t.Context()) {
		t.Fatal("FocusMenu with no open page reported one")
	}

	// A page polls; FocusMenu asks it and it acknowledges.
	got := make(chan focusAnswer, 1)
	go func() {
		resp, body := e.do("GET", MenuFocusPath, "", map[string]string{MenuSessionHeader: sess}, nil)
		var a focusAnswer
		if resp.StatusCode == 200 {
			json.Unmarshal([]byte(body), &a)
		}
		if a.Focus {
			e.do("POST", MenuFocusPath, "", hdr, strings.NewReader(`{"ack":"`+a.Ack+`"}`))
		}
		got <- a
	}()
	untilWaiting(t, e.srv, 1)
	if !e.srv.FocusMenu(t.Context()) {
		t.Fatal("FocusMenu did not reach the waiting page")
	}
	if a := <-got; !a.Focus || a.Ack == "" {
		t.Fatalf("the page was answered %+v, want focus with an ack", a)
	}

	// A page that is gone (it never acknowledges): FocusMenu says so, so a new menu opens.
	silent := make(chan struct{})
	go func() {
		e.do("GET", MenuFocusPath, "", map[string]string{MenuSessionHeader: sess}, nil)
		close(silent)
	}()
	untilWaiting(t, e.srv, 1)
	if e.srv.FocusMenu(t.Context()) {
		t.Fatal("FocusMenu reported a page that did not acknowledge")
	}
	<-silent
}

func TestMenuFocusNeedsASessionAndDoesNotExtendIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.MenuSessionIdle = time.Minute; c.MenuSessionTTL = time.Hour })
	resp, _ := e.do("GET", MenuFocusPath, "", nil, nil)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a poll without a session: %d, want 401", resp.StatusCode)
	}
	sess := e.openMenu().session
	// A cross-site page cannot wait (nor learn when the menu is asked for).
	resp, _ = e.do("GET", MenuFocusPath, "", map[string]string{MenuSessionHeader: sess, "Sec-Fetch-Site": "cross-site"}, nil)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a cross-site poll: %d, want 403", resp.StatusCode)
	}
	// An acknowledgement is a state change: the menu's own Origin only.
	resp, _ = e.do("POST", MenuFocusPath, "", map[string]string{MenuSessionHeader: sess}, strings.NewReader(`{"ack":"x"}`))
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("an acknowledgement without Origin: %d, want 403", resp.StatusCode)
	}

	// Polls (answered at once here: the server stops waiting) are no use of
	// the session: it still ends after its idle time.
	e.srv.stopMenuFocus()
	for range 3 {
		e.clk.Add(30 * time.Second)
		resp, _ = e.do("GET", MenuFocusPath, "", map[string]string{MenuSessionHeader: sess}, nil)
	}
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a poll 90 s after the session's last use (idle 1 min): %d, want 401", resp.StatusCode)
	}
}

func TestMenuLauncherKeyOpensSessionsUntilReplaced(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	exchange := func(body, origin string) (int, string) {
		resp, b := e.do("POST", MenuSessionPath, "", map[string]string{"Origin": origin, "Content-Type": "application/json"}, strings.NewReader(body))
		return resp.StatusCode, b
	}
	u := e.srv.MenuLauncher()
	key, ok := strings.CutPrefix(u, e.base+"/menu#launch=")
	if !ok || key == "" {
		t.Fatalf("launcher URL %q", u)
	}
	e.secrets = append(e.secrets, key)
	// Reusable: each opening of the launcher gets its own session.
	var sessions []string
	for range 2 {
		code, body := exchange(`{"launch":"`+key+`"}`, e.base)
		var s struct{ Session string }
		json.Unmarshal([]byte(body), &s)
		if code != 200 || s.Session == "" {
			t.Fatalf("launcher exchange: %d %s", code, body)
		}
		sessions = append(sessions, s.Session)
	}
	if sessions[0] == sessions[1] {
		t.Fatal("two launches got one session")
	}
	// Only from the menu's own origin, as a one-time code.
	if code, _ := exchange(`{"launch":"`+key+`"}`, "http://evil.example"); code != http.StatusForbidden {
		t.Fatalf("launcher key from a foreign origin: %d, want 403", code)
	}
	if code, body := exchange(`{"launch":"not-the-key"}`, e.base); code != http.StatusUnauthorized || !strings.Contains(body, "launcher_expired") {
		t.Fatalf("a wrong launcher key: %d %s", code, body)
	}
	// A new launcher (the daemon started again) retires the old key.
	e.secrets = append(e.secrets, strings.TrimPrefix(e.srv.MenuLauncher(), e.base+"/menu#launch="))
	if code, _ := exchange(`{"launch":"`+key+`"}`, e.base); code != http.StatusUnauthorized {
		t.Fatalf("a replaced launcher key: %d, want 401", code)
	}
	e.checkNoSecrets()
}
