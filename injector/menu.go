package injector

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/latchkey/latchkey/internal/loopback"
)

// MenuSessionHeader is the request header that carries a menu session: the
// menu page keeps the secret in its tab's sessionStorage (readable by its
// own origin only) and sends it on every API call. Cookies authenticate
// nothing: a browser sends them to every port of the host.
const MenuSessionHeader = "X-Latchkey-Session"

// MenuSessionPath is where the menu page exchanges its one-time code
// (POST {"code": …}) for a session secret.
const MenuSessionPath = "/menu/session"

// legacyMenuCookie is the cookie earlier versions kept the session in; the
// menu page clears it where a browser still sends it.
const legacyMenuCookie = "latchkey_menu"

type menuSession struct {
	expires time.Time // absolute end (Config.MenuSessionTTL after the exchange)
	idle    time.Time // end unless used again before (Config.MenuSessionIdle)
}

type menuState struct {
	mu       sync.Mutex
	launch   [32]byte                  // sha256 of the launcher key (MenuLauncher); zero until made
	codes    map[[32]byte]time.Time    // sha256(code) → expiry
	sessions map[[32]byte]*menuSession // sha256(session) → lifetime
	focus    menuFocus                 // open pages waiting to be brought back
}

func randomToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("injector: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Codes and sessions are looked up by their SHA-256, so the map lookup's
// timing says nothing usable about the secret.
func digest(s string) [32]byte { return sha256.Sum256([]byte(s)) }

// NewMenuCode returns the menu URL with a fresh one-time code in its
// fragment (#code=…), which a browser never sends to a server: the menu page
// reads it, removes it from the address bar and exchanges it, once and
// within Config.MenuCodeTTL, for a session (POST MenuSessionPath).
func (s *Server) NewMenuCode() (menuURL string) {
	code := randomToken()
	now := s.now()
	s.menu.mu.Lock()
	for k, exp := range s.menu.codes {
		if !now.Before(exp) {
			delete(s.menu.codes, k)
		}
	}
	s.menu.codes[digest(code)] = now.Add(s.cfg.MenuCodeTTL)
	s.menu.mu.Unlock()
	return "http://" + s.listenerHost() + "/menu#code=" + code
}

// MenuLauncher returns the menu URL with a new launcher key in its
// fragment (#launch=…), which replaces the previous one: unlike a one-time
// code, it opens a menu session each time it is followed, for as long as
// this server runs. It is meant
// for a file only the user can read (a bookmark-like launcher that never
// goes stale while the daemon runs); anyone who has the key can open the
// menu, so it must not go where a one-time code would be enough.
func (s *Server) MenuLauncher() string {
	key := randomToken()
	s.menu.mu.Lock()
	s.menu.launch = digest(key)
	s.menu.mu.Unlock()
	return "http://" + s.listenerHost() + "/menu#launch=" + key
}

// launchKeyOK is whether key is the current launcher key.
func (s *Server) launchKeyOK(key string) bool {
	if key == "" {
		return false
	}
	d := digest(key)
	s.menu.mu.Lock()
	defer s.menu.mu.Unlock()
	return s.menu.launch != [32]byte{} && subtle.ConstantTimeCompare(d[:], s.menu.launch[:]) == 1
}

// redeemCode consumes code; it is true once, and only before expiry.
func (s *Server) redeemCode(code string) bool {
	if code == "" {
		return false
	}
	d := digest(code)
	s.menu.mu.Lock()
	defer s.menu.mu.Unlock()
	exp, ok := s.menu.codes[d]
	delete(s.menu.codes, d)
	return ok && s.now().Before(exp)
}

func (s *Server) newSession() string {
	sess := randomToken()
	now := s.now()
	s.menu.mu.Lock()
	for k, ms := range s.menu.sessions {
		if !now.Before(ms.expires) || !now.Before(ms.idle) {
			delete(s.menu.sessions, k)
		}
	}
	s.menu.sessions[digest(sess)] = &menuSession{
		expires: now.Add(s.cfg.MenuSessionTTL),
		idle:    now.Add(min(s.cfg.MenuSessionIdle, s.cfg.MenuSessionTTL)),
	}
	s.menu.mu.Unlock()
	return sess
}

// menuSessionLive is whether r carries a live menu session in
// MenuSessionHeader, without counting r as a use of it.
func (s *Server) menuSessionLive(r *http.Request) bool {
	v := r.Header.Values(MenuSessionHeader)
	if len(v) != 1 || v[0] == "" {
		return false
	}
	now := s.now()
	s.menu.mu.Lock()
	defer s.menu.mu.Unlock()
	ms, ok := s.menu.sessions[digest(v[0])]
	return ok && now.Before(ms.expires) && now.Before(ms.idle)
}

// menuSessionValid is whether r carries a live menu session in
// MenuSessionHeader; a valid use pushes its idle end back.
func (s *Server) menuSessionValid(r *http.Request) bool {
	v := r.Header.Values(MenuSessionHeader)
	if len(v) != 1 || v[0] == "" {
		return false
	}
	d := digest(v[0])
	now := s.now()
	s.menu.mu.Lock()
	defer s.menu.mu.Unlock()
	ms, ok := s.menu.sessions[d]
	if !ok {
		return false
	}
	if !now.Before(ms.expires) || !now.Before(ms.idle) {
		delete(s.menu.sessions, d)
		return false
	}
	ms.idle = now.Add(s.cfg.MenuSessionIdle)
	if ms.idle.After(ms.expires) {
		ms.idle = ms.expires
	}
	return true
}

// serveMenuSession exchanges a one-time code (or the launcher key) for a
// menu session: POST MenuSessionPath with {"code": …} (or {"launch": …})
// from the menu's own origin answers {"session": …, "expires_in": seconds}.
func (s *Server) serveMenuSession(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Origin") != "http://"+r.Host {
		writeError(w, http.StatusForbidden, "forbidden_origin", "the menu session is opened by the menu page only")
		return
	}
	// The code travels on the browser's command line, which other local
	// users can read: only a program of this user may redeem it.
	if !peerIsThisUser(r) {
		writeError(w, http.StatusForbidden, "forbidden_peer", "the menu session is opened by this user's own browser only")
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		writeError(w, http.StatusUnsupportedMediaType, "bad_request", "send the code as application/json")
		return
	}
	var req struct {
		Code   string `json:"code"`
		Launch string `json:"launch"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "the body must be {\"code\": …}")
		return
	}
	if req.Launch != "" {
		if !s.launchKeyOK(req.Launch) {
			writeError(w, http.StatusUnauthorized, "launcher_expired",
				"this menu launcher is from an earlier run of the daemon; run latchkey menu, or open the launcher file again")
			return
		}
	} else if !s.redeemCode(req.Code) {
		writeError(w, http.StatusUnauthorized, "code_expired",
			"this menu link has expired or was already used; open the menu again (Ctrl+Shift+E or the tray)")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"session":    s.newSession(),
		"expires_in": int(min(s.cfg.MenuSessionIdle, s.cfg.MenuSessionTTL) / time.Second),
	})
}

// serveMenu serves the menu page and its assets (GET), which hold nothing
// secret and so need no session: the page authenticates its API calls
// itself. A ?code= in the query (never a URL this daemon makes) is refused
// unredeemed.
func (s *Server) serveMenu(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Has("code") {
		writePage(w, http.StatusBadRequest, page{Title: "Menu link not valid",
			Message: "Menu links carry their code after a #, never in the query.", Hint: reopenHint})
		return
	}
	if s.cfg.Menu == nil {
		writePage(w, http.StatusNotFound, page{Title: "No menu", Message: "This build has no menu UI."})
		return
	}
	if _, err := r.Cookie(legacyMenuCookie); err == nil {
		http.SetCookie(w, &http.Cookie{Name: legacyMenuCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	}
	s.cfg.Menu.ServeHTTP(w, r)
}

// peerIsThisUser reports whether the request's TCP peer is a program of
// the user the daemon runs as; true where the system does not say who
// owns the peer's socket (loopback.PeerUID).
func peerIsThisUser(r *http.Request) bool {
	local, remote, ok := loopback.RequestEnds(r)
	if !ok {
		return true
	}
	uid, ok := loopback.PeerUID(local, remote)
	return !ok || uid == os.Getuid()
}
