package sandbox

import (
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// caller is the authenticated subject of an API request.
type caller struct {
	user *User // nil: a client_credentials token (the app itself)
}

func (c caller) admin() bool {
	return c.user == nil || c.user.Level == "super_admin" || c.user.Level == "admin"
}

type apiHandler func(w http.ResponseWriter, r *http.Request, c caller)

// api authenticates a request by its bearer token: 401 when the token is
// missing, unknown or expired.
func (s *Server) api(h apiHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.st.apiCalls++
		s.mu.Unlock()
		w.Header().Set("X-Docebo-Api-Version", "1.0.0")
		auth := r.Header.Get("Authorization")
		tok, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok {
			tok, ok = strings.CutPrefix(auth, "bearer ")
		}
		if !ok || tok == "" {
			unauthorized(w, "Your request was made with invalid credentials.")
			return
		}
		s.mu.Lock()
		t := s.st.access[strings.TrimSpace(tok)]
		expired := t != nil && !s.now().Before(t.expires)
		s.mu.Unlock()
		switch {
		case t == nil:
			unauthorized(w, "The access token provided is invalid")
		case expired:
			unauthorized(w, "The access token provided has expired")
		default:
			h(w, r, caller{user: t.user})
		}
	}
}

// unauthorized: Docebo's error envelope is UNSURE (API-FACTS §2); the
// sandbox answers in the Yii2 REST shape Docebo's PHP stack suggests, plus
// the OAuth error members, so clients must read either.
func unauthorized(w http.ResponseWriter, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="Service", error="invalid_token"`)
	writeJSON(w, http.StatusUnauthorized, map[string]any{
		"name": "Unauthorized", "message": msg, "code": 0, "status": 401,
		"error": "invalid_token", "error_description": msg,
	})
}

func yiiError(status int, msg string) map[string]any {
	return map[string]any{"name": http.StatusText(status), "message": msg, "code": 0, "status": status}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// envelope writes Docebo's success envelope.
func envelope(w http.ResponseWriter, data any) {
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "version": "1.0.0", "_links": []any{}})
}

func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (s *Server) sessionInfo(w http.ResponseWriter, r *http.Request, c caller) {
	if c.user == nil {
		// Client-credentials tokens carry no user; the newer APIs require
		// one (seed 002's warning).
		writeJSON(w, http.StatusForbidden, yiiError(http.StatusForbidden, "This API requires a user access token"))
		return
	}
	u := c.user
	envelope(w, map[string]any{
		"id": u.ID, "username": u.Username, "firstname": u.FirstName, "lastname": u.LastName,
		"email": u.Email, "user_level": u.Level, "avatar_url": "", "timezone": "Europe/Rome",
		"language": "english", "dateformat_locale": "en",
	})
}

// paging reads page (1-based; page 0 is read as 1, UNSURE whether Docebo
// accepts it) and page_size (clamped to MaxPageSize).
func (s *Server) paging(r *http.Request, defSize int) (page, size int) {
	q := r.URL.Query()
	page, _ = strconv.Atoi(q.Get("page"))
	if page < 1 {
		page = 1
	}
	size, _ = strconv.Atoi(q.Get("page_size"))
	if size < 1 {
		size = defSize
	}
	s.mu.Lock()
	size = min(size, s.o.MaxPageSize)
	s.mu.Unlock()
	return page, size
}

func listPage[T any](r *http.Request, all []T, page, size int) map[string]any {
	total := len(all)
	pages := (total + size - 1) / size
	from := min((page-1)*size, total)
	to := min(from+size, total)
	items := all[from:to]
	if items == nil {
		items = []T{}
	}
	d := map[string]any{
		"items":             items,
		"count":             len(items),
		"has_more_data":     to < total,
		"current_page":      page,
		"current_page_size": size,
		"total_page_count":  pages,
	}
	if r.URL.Query().Get("get_total_count") == "1" {
		d["total_count"] = total
	}
	return d
}

// statusMatches: the status[] filter takes not_started | in_progress |
// completed (Docebo Connect docs) and also the raw item words.
func statusMatches(filter []string, status string) bool {
	if len(filter) == 0 {
		return true
	}
	norm := status
	switch status {
	case "subscribed", "enrolled", "waiting":
		norm = "not_started"
	}
	for _, f := range filter {
		if f == status || f == norm {
			return true
		}
	}
	return false
}

func (s *Server) listEnrollments(w http.ResponseWriter, r *http.Request, c caller) {
	q := r.URL.Query()
	ids := map[int]bool{}
	for _, k := range []string{"id_user[]", "id_user"} {
		for _, v := range q[k] {
			for _, f := range strings.Split(v, ",") {
				if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil {
					ids[n] = true
				}
			}
		}
	}
	if !c.admin() {
		for id := range ids {
			if id != c.user.ID {
				writeJSON(w, http.StatusForbidden, yiiError(http.StatusForbidden, "You are not allowed to view other users' enrollments"))
				return
			}
		}
		ids = map[int]bool{c.user.ID: true}
	}
	statuses := append(q["status[]"], q["status"]...)
	page, size := s.paging(r, 20)
	base := baseURL(r)
	var items []map[string]any
	s.mu.Lock()
	for _, e := range s.st.enrollments {
		if len(ids) > 0 && !ids[e.UserID] || !statusMatches(statuses, e.Status) {
			continue
		}
		co := s.st.courseByID[e.CourseID]
		if co == nil {
			continue
		}
		it := map[string]any{
			"id": co.ID, "user_id": e.UserID, "name": co.Name, "code": co.Code, "type": co.Type,
			"status": e.Status, "description": co.Description,
			"image_url": base + "/sandbox/thumbnails/" + strconv.Itoa(co.ID) + ".svg",
			"slug_name": co.Slug, "lang_code": co.Language, "duration": co.Duration,
			"level": "learner", "can_enter": e.Status != "waiting" && e.Status != "suspended",
			"is_new": false, "enroll_begin_date": nil, "enroll_end_date": nil,
		}
		if e.Completion >= 0 {
			it["completion_percentage"] = e.Completion
		}
		if e.WithURL {
			it["url"] = base + "/learn/courses/" + strconv.Itoa(co.ID) + "/" + co.Slug
		}
		if e.Status == "completed" {
			it["course_complete_date"] = "2025-06-30 12:00:00"
		}
		items = append(items, it)
	}
	s.mu.Unlock()
	envelope(w, listPage(r, items, page, size))
}

func (s *Server) courseItem(base string, co *Course) map[string]any {
	return map[string]any{
		"id_course": co.ID, "name": co.Name, "course_type": co.Type, "code": co.Code,
		"uidCourse": "UID" + strconv.Itoa(co.ID), "slug_name": co.Slug,
		"img_url":     base + "/sandbox/thumbnails/" + strconv.Itoa(co.ID) + ".svg",
		"description": co.Description, "language": co.Language, "duration": co.Duration,
		"date_last_updated": "2025-05-01 09:00:00", "is_new": co.ID%9 == 0, "price": "0",
	}
}

// listCourses: search_text matches the name, code or description, case
// insensitively, as a substring (so "go" also finds "Google"); sort_by is
// honoured only with a valid sort_by_direction, as the 2017 spec says.
func (s *Server) listCourses(w http.ResponseWriter, r *http.Request, c caller) {
	q := r.URL.Query()
	needle := strings.ToLower(strings.TrimSpace(q.Get("search_text")))
	page, size := s.paging(r, 20)
	base := baseURL(r)
	s.mu.Lock()
	var found []*Course
	for _, co := range s.st.courses {
		if needle == "" || strings.Contains(strings.ToLower(co.Name), needle) ||
			strings.Contains(strings.ToLower(co.Code), needle) || strings.Contains(strings.ToLower(co.Description), needle) {
			found = append(found, co)
		}
	}
	s.mu.Unlock()
	if q.Get("sort_by") == "name" {
		switch q.Get("sort_by_direction") {
		case "asc":
			sort.SliceStable(found, func(i, j int) bool { return found[i].Name < found[j].Name })
		case "desc":
			sort.SliceStable(found, func(i, j int) bool { return found[i].Name > found[j].Name })
		}
	}
	items := make([]map[string]any, 0, len(found))
	for _, co := range found {
		items = append(items, s.courseItem(base, co))
	}
	envelope(w, listPage(r, items, page, size))
}

func (s *Server) getCourse(w http.ResponseWriter, r *http.Request, c caller) {
	id, _ := strconv.Atoi(r.PathValue("id"))
	s.mu.Lock()
	co := s.st.courseByID[id]
	status := ""
	if co != nil && c.user != nil {
		for _, e := range s.st.enrollments {
			if e.UserID == c.user.ID && e.CourseID == id {
				status = e.Status
			}
		}
	}
	s.mu.Unlock()
	if co == nil {
		writeJSON(w, http.StatusNotFound, yiiError(http.StatusNotFound, "Course not found"))
		return
	}
	base := baseURL(r)
	envelope(w, map[string]any{
		"id": co.ID, "name": co.Name, "type": co.Type, "code": co.Code, "slug_name": co.Slug,
		"thumbnail": base + "/sandbox/thumbnails/" + strconv.Itoa(co.ID) + ".svg",
		"status":    status, "description": co.Description, "lang_code": co.Language,
		"can_self_unenroll": false,
	})
}

type exchangeToken struct {
	user     *User
	expires  time.Time
	used     bool
	redirect string
}

// mintExchangeToken: POST /manage/v1/user/exchange_token → a 30-second,
// single-use exchange token for /learn/signin;type=token_exchange. UNSURE:
// seed 001 describes the token, not how a client obtains one; this endpoint
// is the sandbox's invention. An optional JSON body {"redirect_path": "/learn/…"}
// names where the sign-in lands.
func (s *Server) mintExchangeToken(w http.ResponseWriter, r *http.Request, c caller) {
	if c.user == nil {
		writeJSON(w, http.StatusForbidden, yiiError(http.StatusForbidden, "This API requires a user access token"))
		return
	}
	var body struct {
		RedirectPath string `json:"redirect_path"`
	}
	if r.ContentLength != 0 {
		_ = json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&body)
	}
	redirect := body.RedirectPath
	if !strings.HasPrefix(redirect, "/learn") || strings.HasPrefix(redirect, "//") || strings.ContainsAny(redirect, ";\\") {
		redirect = "/learn/mycourses"
	}
	tok := newToken() + newToken()[:24] // 64 hex characters
	s.mu.Lock()
	ttl := s.o.ExchangeTokenTTL
	s.st.exchanges[tok] = &exchangeToken{user: c.user, expires: s.now().Add(ttl), redirect: redirect}
	s.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	envelope(w, map[string]any{"exchange_token": tok, "expires_in": int(ttl / time.Second)})
}
