package injector

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// dialAs opens a TCP connection to addr whose socket belongs to uid (the
// thread's filesystem uid when the socket is made), as a program of
// another local user would.
func dialAs(t *testing.T, uid int, addr string) net.Conn {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.Setfsuid(uid); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", addr)
	_ = unix.Setfsuid(os.Getuid())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestMenuCodeIsRedeemedByThisUsersProgramsOnly: a one-time menu code (or
// consent link) goes to the browser on its command line, which every local
// user can read; another user's program redeeming it first gets no menu
// session, and the code stays good for the person's browser.
func TestMenuCodeIsRedeemedByThisUsersProgramsOnly(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("making a socket owned by another user needs root")
	}
	e := newEnv(t)
	u := e.srv.NewMenuCode()
	_, code, _ := strings.Cut(u, "#code=")
	post := func(c *http.Client) int {
		req, _ := http.NewRequest("POST", e.base+MenuSessionPath, strings.NewReader(`{"code":"`+code+`"}`))
		req.Header.Set("Origin", e.base)
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	other := dialAs(t, 65534, e.addr)
	defer other.Close()
	used := false
	otherUser := &http.Client{Transport: &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) {
		if used {
			return nil, net.ErrClosed
		}
		used = true
		return other, nil
	}}}
	if st := post(otherUser); st != http.StatusForbidden {
		t.Fatalf("another user's program redeeming the menu code: %d", st)
	}
	if st := post(http.DefaultClient); st != http.StatusOK {
		t.Fatalf("the person's browser, after the refusal: %d", st)
	}
}

// TestAuthorizeIsOpenedByThisUsersProgramsOnly: another local user's
// program cannot open consent windows on this user's desktop.
func TestAuthorizeIsOpenedByThisUsersProgramsOnly(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("making a socket owned by another user needs root")
	}
	a := newAppsEnv(t)
	target := a.base + "/oauth2/authorize?response_type=code&client_id=x"
	other := dialAs(t, 65534, a.addr)
	defer other.Close()
	c := &http.Client{Transport: &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) { return other, nil }}}
	resp, err := c.Get(target)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("another user's authorization request: %d", resp.StatusCode)
	}
	// This user's own: the authorization server answers (an unknown client).
	if resp, err = http.Get(target); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("this user's authorization request: %d", resp.StatusCode)
	}
}

// TestOneTimeLinkIsFollowedByThisUsersProgramsOnly: the one-time address of
// a signed-in link is on the browser's command line too; another local
// user's program following it first gets no redirect, and the address
// still leads this user's browser to the link.
func TestOneTimeLinkIsFollowedByThisUsersProgramsOnly(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("making a socket owned by another user needs root")
	}
	e := newEnv(t)
	const link = "https://lms.example/learn;type=oauth2_response;access_token=LINK-SECRET"
	u := e.srv.OneTimeLink(link)
	other := dialAs(t, 65534, e.addr)
	defer other.Close()
	c := &http.Client{
		Transport:     &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) { return other, nil }},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Location") != "" {
		t.Fatalf("another user following the one-time address: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := e.do("GET", strings.TrimPrefix(u, e.base), "", nil, nil); resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != link {
		t.Fatalf("this user's browser: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := e.do("GET", strings.TrimPrefix(u, e.base), "", nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a second use: %d", resp.StatusCode)
	}
}

// TestConnectRedirectIsTakenFromThisUsersBrowserOnly: a connect flow's
// state is in the provider's URL on the browser's command line; another
// local user's program sending it to the loopback redirect first neither
// ends this user's flow nor gets a page with a fresh menu link.
func TestConnectRedirectIsTakenFromThisUsersBrowserOnly(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("making a socket owned by another user needs root")
	}
	e := newEnv(t)
	other := dialAs(t, 65534, e.addr)
	defer other.Close()
	c := &http.Client{Transport: &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) { return other, nil }}}
	resp, err := c.Get(e.base + "/docebo/connected?state=good-state&error=access_denied")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	e.be.mu.Lock()
	n := len(e.be.finish)
	e.be.mu.Unlock()
	if resp.StatusCode != http.StatusForbidden || n != 0 || strings.Contains(string(body), "#code=") {
		t.Fatalf("another user's redirect: %d, %d flows finished, menu link given: %v", resp.StatusCode, n, strings.Contains(string(body), "#code="))
	}
}
