package injector

import (
	"context"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/latchkey/latchkey/integrations"
)

// Course thumbnails reach the menu through the daemon, never from the
// provider's URL directly: the menu's CSP loads images from its own origin
// (and data: URLs) only, so an upstream cannot point the browser at another
// host or loopback port. The daemon fetches a thumbnail only from the
// integration's own origin, without credentials or cookies, without
// following redirects, at most maxThumbnailBytes, and only as an image type.
const (
	maxThumbnailBytes = 512 << 10
	maxThumbnails     = 4096 // remembered URLs; the set starts afresh beyond
	thumbnailTimeout  = 5 * time.Second
)

// thumbnailTypes are the media types served back.
var thumbnailTypes = map[string]bool{
	"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true,
	"image/avif": true, "image/svg+xml": true,
}

// hvThumbCSP keeps an SVG thumbnail inert if it is ever rendered as a document.
var hvThumbCSP = []string{"default-src 'none'; style-src 'unsafe-inline'; sandbox"}

type thumbKey struct{ integration, id string }

type thumbnailState struct {
	mu   sync.Mutex
	urls map[thumbKey]string
}

// thumbClient fetches thumbnails: no environment proxy, no cookie jar, no
// redirects followed.
var thumbClient = &http.Client{
	Transport: &http.Transport{
		Proxy:                 nil,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: thumbnailTimeout,
	},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       thumbnailTimeout,
}

// sameOrigin is whether u has base's scheme, host and port.
func sameOrigin(u, base *url.URL) bool {
	return u != nil && base != nil && strings.EqualFold(u.Scheme, base.Scheme) &&
		strings.EqualFold(u.Host, base.Host) && u.User == nil
}

// rememberThumbnails keeps the thumbnail URLs of courses that are on ci's
// own origin, for handleThumbnail.
func (s *Server) rememberThumbnails(ci ConnectedIntegration, courses []integrations.Course) {
	base := ci.Integration.BaseURL()
	name := ci.Integration.Name()
	s.thumbs.mu.Lock()
	defer s.thumbs.mu.Unlock()
	for _, co := range courses {
		if co.Thumbnail == "" || co.ID == "" {
			continue
		}
		u, err := url.Parse(co.Thumbnail)
		if err != nil || !sameOrigin(u, base) {
			continue
		}
		if s.thumbs.urls == nil || len(s.thumbs.urls) >= maxThumbnails {
			s.thumbs.urls = make(map[thumbKey]string)
		}
		s.thumbs.urls[thumbKey{name, co.ID}] = u.String()
	}
}

// handleThumbnail serves GET /v1/courses/{integration}/{id}/thumbnail: the
// image the integration's last course feed named for that course, fetched
// now from the integration's own origin.
func (s *Server) handleThumbnail(w http.ResponseWriter, r *http.Request, c *caller) {
	name, id := r.PathValue("integration"), r.PathValue("id")
	ci, ok := s.integrationFor(w, c, name)
	if !ok {
		return
	}
	s.thumbs.mu.Lock()
	raw := s.thumbs.urls[thumbKey{name, id}]
	s.thumbs.mu.Unlock()
	u, err := url.Parse(raw)
	if raw == "" || err != nil || !sameOrigin(u, ci.Integration.BaseURL()) {
		writeError(w, http.StatusNotFound, "no_thumbnail", "no thumbnail on "+name+"'s own site is known for this course; list the courses first")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), thumbnailTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		writeError(w, http.StatusNotFound, "no_thumbnail", "the thumbnail URL is not usable")
		return
	}
	req.Header.Set("Accept", "image/*")
	resp, err := thumbClient.Do(req)
	if err != nil {
		s.log.Debug("thumbnail fetch failed", "integration", name, "error", scrub(err))
		writeError(w, http.StatusBadGateway, "thumbnail_unavailable", name+" did not answer for the thumbnail")
		return
	}
	defer resp.Body.Close()
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != http.StatusOK || !thumbnailTypes[mt] {
		writeError(w, http.StatusBadGateway, "thumbnail_unavailable", name+" gave no image for the thumbnail")
		return
	}
	if resp.ContentLength > maxThumbnailBytes {
		writeError(w, http.StatusBadGateway, "thumbnail_too_large", "the thumbnail is over 512 KiB")
		return
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxThumbnailBytes+1))
	if err != nil || len(body) > maxThumbnailBytes {
		writeError(w, http.StatusBadGateway, "thumbnail_too_large", "the thumbnail is unreadable or over 512 KiB")
		return
	}
	h := w.Header()
	h.Set("Content-Type", mt)
	h["Content-Security-Policy"] = hvThumbCSP
	h.Set("Cache-Control", "private, max-age=300")
	h.Set("Content-Disposition", "attachment")
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}
