package injector

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"time"
)

// An open menu page waits on MenuFocusPath (a long poll, GET) to be asked
// to come to the front; FocusMenu asks the newest one and waits for its
// acknowledgement (POST MenuFocusPath {"ack"}), so that a second hotkey
// press brings back the open menu instead of opening another. A page that
// is gone (its tab closed while its poll is still open here) sends no
// acknowledgement, and the caller opens a new menu.
const MenuFocusPath = "/v1/menu/focus"

// menuFocusPoll is how long a page's poll waits before it is answered
// {"focus": false} and polls again; menuFocusAck is how long FocusMenu
// waits for the page to say it came to the front.
const (
	menuFocusPoll = 25 * time.Second
	menuFocusAck  = 1500 * time.Millisecond
)

// menuWaiter is one page's poll: FocusMenu sends it the nonce the page
// acknowledges with.
type menuWaiter struct {
	ask chan string // buffered (1)
}

type menuFocus struct {
	waiters []*menuWaiter            // newest last
	acks    map[string]chan struct{} // nonce → closed on acknowledgement
	stop    chan struct{}            // closed when the server stops serving
	stopped bool
}

// FocusMenu asks the newest open menu page to come to the front and
// reports whether one did within a moment.
func (s *Server) FocusMenu(ctx context.Context) bool {
	nonce := randomToken()
	ack := make(chan struct{})
	s.menu.mu.Lock()
	if s.menu.focus.stopped || len(s.menu.focus.waiters) == 0 {
		s.menu.mu.Unlock()
		return false
	}
	w := s.menu.focus.waiters[len(s.menu.focus.waiters)-1]
	s.menu.focus.waiters = s.menu.focus.waiters[:len(s.menu.focus.waiters)-1]
	if s.menu.focus.acks == nil {
		s.menu.focus.acks = make(map[string]chan struct{})
	}
	s.menu.focus.acks[nonce] = ack
	s.menu.mu.Unlock()
	defer func() {
		s.menu.mu.Lock()
		delete(s.menu.focus.acks, nonce)
		s.menu.mu.Unlock()
	}()
	w.ask <- nonce
	t := time.NewTimer(menuFocusAck)
	defer t.Stop()
	select {
	case <-ack:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

// MenuPagesOpen is how many menu pages are open and waiting to be brought
// back now.
func (s *Server) MenuPagesOpen() int {
	s.menu.mu.Lock()
	defer s.menu.mu.Unlock()
	return len(s.menu.focus.waiters)
}

// stopMenuFocus answers every waiting page: the server is stopping.
func (s *Server) stopMenuFocus() {
	s.menu.mu.Lock()
	defer s.menu.mu.Unlock()
	if !s.menu.focus.stopped {
		s.menu.focus.stopped = true
		close(s.menu.focus.stop)
	}
}

// handleMenuFocus is the menu page's poll (GET) and acknowledgement (POST).
// Both need a live menu session; the poll does not keep the session alive
// (an open tab is not a use: the session still ends after its idle time).
func (s *Server) handleMenuFocus(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		s.withCaller(true, false, func(w http.ResponseWriter, r *http.Request, _ *caller) {
			var req struct {
				Ack string `json:"ack"`
			}
			if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<10)).Decode(&req); err != nil || req.Ack == "" {
				writeError(w, http.StatusBadRequest, "bad_request", "the body must be {\"ack\": …}")
				return
			}
			s.menu.mu.Lock()
			ch, ok := s.menu.focus.acks[req.Ack]
			delete(s.menu.focus.acks, req.Ack)
			s.menu.mu.Unlock()
			if ok {
				close(ch)
			}
			w.WriteHeader(http.StatusNoContent)
		})(w, r)
		return
	}
	if !sameOriginGET(r) {
		writeError(w, http.StatusForbidden, "forbidden_origin", "the menu's own pages only")
		return
	}
	if !s.menuSessionLive(r) {
		writeError(w, http.StatusUnauthorized, "session_expired", "the menu session is missing or expired; open the menu again")
		return
	}
	me := &menuWaiter{ask: make(chan string, 1)}
	s.menu.mu.Lock()
	if s.menu.focus.stopped {
		s.menu.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"focus": false})
		return
	}
	s.menu.focus.waiters = append(s.menu.focus.waiters, me)
	stop := s.menu.focus.stop
	s.menu.mu.Unlock()
	defer func() {
		s.menu.mu.Lock()
		s.menu.focus.waiters = slices.DeleteFunc(s.menu.focus.waiters, func(x *menuWaiter) bool { return x == me })
		s.menu.mu.Unlock()
	}()
	t := time.NewTimer(menuFocusPoll)
	defer t.Stop()
	select {
	case nonce := <-me.ask:
		writeJSON(w, http.StatusOK, map[string]any{"focus": true, "ack": nonce})
	case <-t.C:
		writeJSON(w, http.StatusOK, map[string]any{"focus": false})
	case <-stop:
		writeJSON(w, http.StatusOK, map[string]any{"focus": false})
	case <-r.Context().Done():
	}
}
