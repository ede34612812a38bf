package injector

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

// MenuCookie is the name of the menu session cookie.
const MenuCookie = "latchkey_menu"

type menuState struct {
	mu       sync.Mutex
	codes    map[[32]byte]time.Time // sha256(code) → expiry
	sessions map[[32]byte]time.Time // sha256(session) → expiry
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

// NewMenuCode returns the menu URL with a fresh one-time code: GET on it, once
// and within Config.MenuCodeTTL, sets the menu session cookie.
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
	return "http://" + s.listenerHost() + "/menu?code=" + code
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
	for k, exp := range s.menu.sessions {
		if !now.Before(exp) {
			delete(s.menu.sessions, k)
		}
	}
	s.menu.sessions[digest(sess)] = now.Add(s.cfg.MenuSessionTTL)
	s.menu.mu.Unlock()
	return sess
}

func (s *Server) menuSessionValid(r *http.Request) bool {
	ck, err := r.Cookie(MenuCookie)
	if err != nil || ck.Value == "" {
		return false
	}
	d := digest(ck.Value)
	s.menu.mu.Lock()
	defer s.menu.mu.Unlock()
	exp, ok := s.menu.sessions[d]
	if ok && !s.now().Before(exp) {
		delete(s.menu.sessions, d)
		return false
	}
	return ok
}

// serveMenu serves /menu: a ?code= is exchanged for the session cookie and
// redirected away; otherwise the session is required.
func (s *Server) serveMenu(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/menu" && r.URL.Query().Has("code") {
		if !s.redeemCode(r.URL.Query().Get("code")) {
			writePage(w, http.StatusUnauthorized, "Menu link expired",
				"This menu link has expired or was already used. Open the menu again (Ctrl+Shift+E or the tray).")
			return
		}
		http.SetCookie(w, &http.Cookie{
			Name:     MenuCookie,
			Value:    s.newSession(),
			Path:     "/",
			HttpOnly: true,
			SameSite: http.SameSiteStrictMode,
			MaxAge:   int(s.cfg.MenuSessionTTL / time.Second),
		})
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, "/menu", http.StatusSeeOther)
		return
	}
	if !s.menuSessionValid(r) {
		writePage(w, http.StatusUnauthorized, "Menu session expired",
			"Open the menu with Ctrl+Shift+E (Cmd+Shift+E on macOS) or from the tray.")
		return
	}
	if s.cfg.Menu == nil {
		writePage(w, http.StatusNotFound, "No menu", "This build has no menu UI.")
		return
	}
	s.cfg.Menu.ServeHTTP(w, r)
}
