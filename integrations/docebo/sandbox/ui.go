package sandbox

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const sessionCookie = "docebo_sandbox_session"

type session struct {
	user    *User
	expires time.Time
}

func securityHeaders(w http.ResponseWriter) {
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self';")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}} — Docebo sandbox</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}</style></head>
<body>
<h1>{{.Title}}</h1>
{{if .User}}<p id="signed-in-as">Signed in as {{.User.FirstName}} {{.User.LastName}} ({{.User.Username}})</p>{{end}}
{{if .Text}}<p id="message">{{.Text}}</p>{{end}}
{{if .Link}}<p><a id="continue" href="{{.Link}}">Continue</a></p>{{end}}
{{if .Items}}<ul id="courses">{{range .Items}}<li><a href="{{.Href}}">{{.Name}}</a> — {{.Status}}</li>{{end}}</ul>{{end}}
</body></html>`))

type pageData struct {
	Title, Text, Link string
	User              *User
	Items             []pageItem
}

type pageItem struct{ Name, Href, Status string }

func page(w http.ResponseWriter, status int, title, text, link string) {
	render(w, status, pageData{Title: title, Text: text, Link: link})
}

func render(w http.ResponseWriter, status int, d pageData) {
	securityHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = pageTmpl.Execute(w, d)
}

// learnerUI serves the learner pages and the two signed-in URL forms:
//
//	/learn/<path>;type=oauth2_response;access_token=…;expires_in=…;token_type=…;scope=api
//	/learn/signin;type=token_exchange;exchange_token=…   (30 s, single use)
//
// A valid credential starts a session (cookie) and the page says who is
// signed in; anything else is 401.
func (s *Server) learnerUI(w http.ResponseWriter, r *http.Request) {
	path, params := splitMatrix(r.URL.Path)
	var user *User
	switch params["type"] {
	case "token_exchange":
		if path != "/learn/signin" {
			page(w, http.StatusNotFound, "Not found", "token_exchange sign-in happens at /learn/signin.", "")
			return
		}
		u, redirect, msg := s.useExchangeToken(params["exchange_token"])
		if u == nil {
			page(w, http.StatusUnauthorized, "Sign-in failed", msg, "")
			return
		}
		s.startSession(w, u)
		d := s.pageFor(r, redirect, u)
		d.Link = redirect
		render(w, http.StatusOK, d)
		return
	case "oauth2_response":
		s.mu.Lock()
		t := s.st.access[params["access_token"]]
		ok := t != nil && t.user != nil && s.now().Before(t.expires)
		if ok {
			user = t.user
		}
		s.mu.Unlock()
		if !ok {
			page(w, http.StatusUnauthorized, "Sign-in failed", "The access token in the link is invalid or expired.", "")
			return
		}
		s.startSession(w, user)
	case "":
		user = s.sessionUser(r)
		if user == nil {
			page(w, http.StatusUnauthorized, "Not signed in", "Sign in to the platform to see this page.", "")
			return
		}
	default:
		page(w, http.StatusBadRequest, "Unsupported sign-in", "Unknown sign-in type.", "")
		return
	}
	render(w, http.StatusOK, s.pageFor(r, path, user))
}

// splitMatrix splits "/a/b;k=v;k2=v2" into the path and its parameters.
func splitMatrix(p string) (string, map[string]string) {
	parts := strings.Split(p, ";")
	m := map[string]string{}
	for _, kv := range parts[1:] {
		k, v, _ := strings.Cut(kv, "=")
		if uv, err := url.PathUnescape(v); err == nil {
			v = uv
		}
		m[strings.ToLower(k)] = v
	}
	return parts[0], m
}

func (s *Server) useExchangeToken(tok string) (*User, string, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.st.exchanges[tok]
	switch {
	case tok == "" || e == nil:
		return nil, "", "The exchange token is invalid."
	case e.used:
		return nil, "", "The exchange token was already used."
	case !s.now().Before(e.expires):
		return nil, "", "The exchange token has expired."
	}
	e.used = true
	return e.user, e.redirect, ""
}

func (s *Server) startSession(w http.ResponseWriter, u *User) {
	id := newToken()
	s.mu.Lock()
	s.st.sessions[id] = &session{user: u, expires: s.now().Add(8 * time.Hour)}
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

func (s *Server) sessionUser(r *http.Request) *User {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.st.sessions[c.Value]
	if sess == nil || !s.now().Before(sess.expires) {
		return nil
	}
	return sess.user
}

// pageFor builds the learner page of path for u: a course
// (/learn/course/<id>… or /learn/courses/<id>…), a learning plan
// (/learn/learning-plans/<id>…), "My courses", or a generic page.
func (s *Server) pageFor(r *http.Request, path string, u *User) pageData {
	d := pageData{User: u, Title: "Docebo sandbox"}
	seg := strings.Split(strings.Trim(path, "/"), "/")
	if len(seg) >= 3 && seg[0] == "learn" && (seg[1] == "course" || seg[1] == "courses" || seg[1] == "learning-plans") {
		id, _ := strconv.Atoi(seg[2])
		plan := seg[1] == "learning-plans"
		s.mu.Lock()
		co := s.st.courseByID[id]
		if plan {
			co = s.st.planByID[id]
		}
		s.mu.Unlock()
		switch {
		case co == nil && plan:
			d.Title = "Learning plan not found"
		case co == nil:
			d.Title = "Course not found"
		case plan:
			d.Title = co.Name
			d.Text = fmt.Sprintf("Learning plan %d (%d courses).", co.ID, len(co.CourseIDs))
		default:
			d.Title = co.Name
			d.Text = fmt.Sprintf("Course %d (%s).", co.ID, co.Type)
		}
		return d
	}
	if path == "/learn/mycourses" || path == "/learn/home" || path == "/learn" || path == "/learn/signin" {
		d.Title = "My courses"
		s.mu.Lock()
		for _, e := range s.st.enrollments {
			if e.UserID != u.ID {
				continue
			}
			if e.PlanID != 0 {
				if lp := s.st.planByID[e.PlanID]; lp != nil {
					d.Items = append(d.Items, pageItem{Name: lp.Name, Status: e.Status,
						Href: "/learn/learning-plans/" + strconv.Itoa(lp.ID) + "/" + lp.Slug})
				}
			} else if co := s.st.courseByID[e.CourseID]; co != nil {
				d.Items = append(d.Items, pageItem{Name: co.Name, Status: e.Status,
					Href: "/learn/course/" + strconv.Itoa(co.ID) + "/" + co.Slug})
			}
		}
		s.mu.Unlock()
	}
	return d
}

// thumbnail serves a small generated SVG per course (<id>.svg) or learning
// plan (lp-<id>.svg).
func (s *Server) thumbnail(w http.ResponseWriter, r *http.Request) {
	idText, ok := strings.CutSuffix(r.PathValue("file"), ".svg")
	idText, plan := strings.CutPrefix(idText, "lp-")
	id, err := strconv.Atoi(idText)
	s.mu.Lock()
	co := s.st.courseByID[id]
	if plan {
		co = s.st.planByID[id]
	}
	s.mu.Unlock()
	if !ok || err != nil || co == nil {
		http.NotFound(w, r)
		return
	}
	hue := (co.ID * 47) % 360
	if plan {
		hue = (hue + 180) % 360
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="320" height="180" viewBox="0 0 320 180">`+
		`<rect width="320" height="180" fill="hsl(%d,55%%,45%%)"/>`+
		`<text x="16" y="160" font-family="sans-serif" font-size="18" fill="#fff">%s</text></svg>`,
		hue, template.HTMLEscapeString(co.Name))
}

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	page(w, http.StatusOK, "Docebo sandbox",
		"A stand-in for a Docebo platform: /oauth2/authorize, /oauth2/token, /manage/v1/user/session, /learn/v1/enrollments, /learn/v1/courses, /learn/v1/catalog. "+
			"POST /manage/v1/user/exchange_token is a latchkey invention that no Docebo documentation describes.", "")
}
