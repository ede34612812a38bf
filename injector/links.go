package injector

import (
	"net/http"
	"sync"
	"time"
)

// A signed-in link that the daemon opens on the desktop (open_course) goes
// to the browser as a one-time address of this listener that redirects to
// it, not as itself: a browser's command line is readable by every local
// user, and the link carries a provider token. The address is good once,
// for OneTimeLinkTTL, and only for this user's programs (peerIsThisUser).
const (
	oneTimeLinkPath = "/v1/links/"
	// OneTimeLinkTTL is how long a OneTimeLink address waits to be opened.
	OneTimeLinkTTL = time.Minute
)

type oneTimeLinks struct {
	mu    sync.Mutex
	links map[[32]byte]oneTimeLink // sha256(handle) → link
}

type oneTimeLink struct {
	target  string
	expires time.Time
}

// OneTimeLink returns an address of this listener that redirects, once and
// within OneTimeLinkTTL, to target: what the desktop's browser is given
// to open a signed-in link.
func (s *Server) OneTimeLink(target string) string {
	handle := randomToken()
	now := s.now()
	s.links.mu.Lock()
	if s.links.links == nil {
		s.links.links = map[[32]byte]oneTimeLink{}
	}
	for k, l := range s.links.links {
		if !now.Before(l.expires) {
			delete(s.links.links, k)
		}
	}
	s.links.links[digest(handle)] = oneTimeLink{target: target, expires: now.Add(OneTimeLinkTTL)}
	s.links.mu.Unlock()
	return "http://" + s.listenerHost() + oneTimeLinkPath + handle
}

// handleOneTimeLink redirects to a OneTimeLink's target, once.
func (s *Server) handleOneTimeLink(w http.ResponseWriter, r *http.Request) {
	if !peerIsThisUser(r) {
		writeError(w, http.StatusForbidden, "forbidden_peer", "this link is for this user's own browser only")
		return
	}
	d := digest(r.PathValue("handle"))
	s.links.mu.Lock()
	l, ok := s.links.links[d]
	delete(s.links.links, d)
	s.links.mu.Unlock()
	if !ok || !s.now().Before(l.expires) {
		writePage(w, http.StatusNotFound, page{Title: "This link was already used",
			Message: "It opens a course once, within a minute. Open the course again from the menu or your assistant.", Hint: reopenHint})
		return
	}
	w.Header()["Cache-Control"] = hvNoStore
	w.Header().Set("Location", l.target)
	w.WriteHeader(http.StatusFound)
}
