package injector

import (
	"html/template"
	"net/http"
)

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{{.Title}} · latchkey</title></head>
<body><main><h1>{{.Title}}</h1><p>{{.Message}}</p></main></body></html>
`))

// writePage answers with a tiny HTML page (no script, no inline style).
func writePage(w http.ResponseWriter, status int, title, msg string) {
	h := w.Header()
	h["Content-Security-Policy"] = hvPageCSP
	h.Set("Content-Type", "text/html; charset=utf-8")
	h["Cache-Control"] = hvNoStore
	w.WriteHeader(status)
	pageTmpl.Execute(w, struct{ Title, Message string }{title, msg})
}
