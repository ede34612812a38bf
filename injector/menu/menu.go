package menu

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

// FS holds the menu's assets at its root: index.html, the stylesheet, the
// ES modules and the icon.
//
//go:embed *.html *.css *.js icon.svg
var FS embed.FS

// Prefix is the URL path under which the menu is served.
const Prefix = "/menu"

// ContentSecurityPolicy is the policy the menu works under: its own scripts,
// styles and images only (nothing inline, no other host or port: a request
// to another loopback port would reach whatever listens there), API calls
// to its own origin. [Handler] sets it unless the response already carries
// one.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

type asset struct {
	body  []byte
	ctype string
	etag  string
}

type handler struct {
	assets map[string]asset // by name, "index.html", "app.js", …
}

// Handler serves the menu: the page at /menu, /menu/ and /menu/index.html,
// and the assets at /menu/NAME. It accepts the request path with or without
// the /menu prefix (so it works behind http.StripPrefix too). Only GET and
// HEAD are allowed. It does no authentication: the assets hold nothing
// secret, and the page opens its own session (see the package doc).
func Handler() http.Handler {
	h := &handler{assets: make(map[string]asset)}
	err := fs.WalkDir(FS, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := FS.ReadFile(name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		h.assets[name] = asset{
			body:  b,
			ctype: contentType(name),
			etag:  `"` + hex.EncodeToString(sum[:8]) + `"`,
		}
		return nil
	})
	if err != nil {
		// The assets are compiled in: failing to read them is a build defect.
		panic("menu: reading embedded assets: " + err.Error())
	}
	return h
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	}
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	if p == Prefix || strings.HasPrefix(p, Prefix+"/") {
		p = strings.TrimPrefix(p, Prefix)
	}
	name := strings.TrimPrefix(p, "/")
	if name == "" {
		name = "index.html"
	}
	a, ok := h.assets[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	if hd.Get("Content-Security-Policy") == "" {
		hd.Set("Content-Security-Policy", ContentSecurityPolicy)
	}
	hd.Set("Content-Type", a.ctype)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("ETag", a.etag)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
}
