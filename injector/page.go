package injector

import (
	"html/template"
	"net/http"
	"strings"
)

// The daemon's own pages (connected, refused, a link not valid) use the
// menu's stylesheet, so they look like the menu in light and dark; they
// carry no script.
var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta name="color-scheme" content="light dark"><meta name="referrer" content="no-referrer">
<title>{{.Title}} · latchkey</title><link rel="stylesheet" href="/menu/style.css"></head>
<body class="page-body"><main class="page"><div class="page-card">
<h1>{{.Title}}</h1>
<p>{{.Message}}</p>
{{- if .Back}}
<p><a class="button" href="{{.Back}}">Open the menu</a></p>
{{- end}}
{{- if .Hint}}
<p class="hint">{{.Hint}}</p>
{{- end}}
{{- if .Detail}}
<p class="hint">Details: {{.Detail}}</p>
{{- end}}
</div></main></body></html>
`))

// page is what writePage shows: a title, a sentence, optionally a link
// that opens the menu (Back: a menu URL with a fresh one-time code), a hint
// (what else to do) and the technical detail of a failure.
type page struct {
	Title, Message, Back, Hint, Detail string
}

// reopenHint says how to open the menu without a link.
const reopenHint = "To open the menu later: run latchkey menu, press Ctrl+Shift+E (Cmd+Shift+E on macOS) or use the tray."

// writePage answers with a small HTML page (no script, no inline style).
func writePage(w http.ResponseWriter, status int, p page) {
	h := w.Header()
	h["Content-Security-Policy"] = hvPageCSP
	h.Set("Content-Type", "text/html; charset=utf-8")
	h["Cache-Control"] = hvNoStore
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	pageTmpl.Execute(w, p)
}

var displayNames = map[string]string{"docebo": "Docebo", "document360": "Document360", "identity": "your sign-in"}

// DisplayName is how integration name is named to people ("Docebo").
func DisplayName(name string) string {
	if d, ok := displayNames[name]; ok {
		return d
	}
	if name == "" {
		return name
	}
	return strings.ToUpper(name[:1]) + name[1:]
}
