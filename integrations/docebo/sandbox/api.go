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

// unauthorized: Docebo's error envelope is unconfirmed (docs/docebo.md); the
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
		// one (Docebo's authentication help page warns of it).
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

// paging reads page (1-based; page 0 is read as 1, unconfirmed whether Docebo
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
		co, path := s.st.courseByID[e.CourseID], "/learn/courses/"
		if e.PlanID != 0 {
			co, path = s.st.planByID[e.PlanID], "/learn/learning-plans/"
		}
		if co == nil {
			continue
		}
		it := map[string]any{
			"id": co.ID, "user_id": e.UserID, "name": co.Name, "code": co.Code, "type": co.Type,
			"status": e.Status, "description": co.Description,
			"image_url": base + thumbnailPath(co),
			"slug_name": co.Slug, "duration": co.Duration,
			"can_enter": e.Status != "waiting" && e.Status != "suspended",
			"is_new":    false, "enroll_begin_date": nil, "enroll_end_date": nil,
		}
		if e.PlanID != 0 {
			it["courses_count"] = len(co.CourseIDs)
		} else {
			it["lang_code"] = co.Language
			it["level"] = "learner"
		}
		if e.Completion >= 0 {
			it["completion_percentage"] = e.Completion
		}
		if e.WithURL {
			it["url"] = base + path + strconv.Itoa(co.ID) + "/" + co.Slug
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
		"img_url":     base + thumbnailPath(co),
		"description": co.Description, "language": co.Language, "duration": co.Duration,
		"date_last_updated": "2025-05-01 09:00:00", "is_new": co.ID%9 == 0, "price": "0",
	}
}

// listCourses: search_text matches the name, code or description, case
// insensitively, as a substring (so "go" also finds "Google"); sort_by is
// honoured only with a valid sort_by_direction, as the 2017 spec says. An
// admin (or the app's own token) sees every course, unpublished ones with
// "is_published": false; a learner sees the published ones, or gets 403
// with ForbidLearnerCourseList.
func (s *Server) listCourses(w http.ResponseWriter, r *http.Request, c caller) {
	q := r.URL.Query()
	needle := strings.ToLower(strings.TrimSpace(q.Get("search_text")))
	page, size := s.paging(r, 20)
	base := baseURL(r)
	admin := c.admin()
	s.mu.Lock()
	if !admin && s.o.ForbidLearnerCourseList {
		s.mu.Unlock()
		writeJSON(w, http.StatusForbidden, yiiError(http.StatusForbidden, "You are not allowed to perform this action."))
		return
	}
	var found []*Course
	for _, co := range s.st.courses {
		if co.Unpublished && !admin {
			continue
		}
		if needle == "" || matches(co, needle) {
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
		it := s.courseItem(base, co)
		if co.Unpublished {
			it["is_published"] = false
		}
		items = append(items, it)
	}
	envelope(w, listPage(r, items, page, size))
}

func matches(co *Course, needle string) bool {
	return strings.Contains(strings.ToLower(co.Name), needle) ||
		strings.Contains(strings.ToLower(co.Code), needle) || strings.Contains(strings.ToLower(co.Description), needle)
}

// listCatalogs: GET /learn/v1/catalog, the learner's catalog. my_catalogs=1
// lists the catalogs assigned to the caller, else those the caller can
// administrate (every catalog for an admin, none for a learner), as the 2017
// spec describes my_catalogs. show_item_list=1 adds each catalog's
// sub_items (published courses and learning plans), filtered by
// search_text on the item name (the spec's "search text in the course/plan
// name") and by type[]; items_per_catalog caps them. Catalogs left without
// items by search_text are dropped. Paging is over catalogs.
func (s *Server) listCatalogs(w http.ResponseWriter, r *http.Request, c caller) {
	q := r.URL.Query()
	needle := strings.ToLower(strings.TrimSpace(q.Get("search_text")))
	types := map[string]bool{}
	for _, t := range append(q["type[]"], q["type"]...) {
		types[t] = true
	}
	perCatalog, _ := strconv.Atoi(q.Get("items_per_catalog"))
	withItems := q.Get("show_item_list") == "1"
	mine := q.Get("my_catalogs") == "1"
	page, size := s.paging(r, 200)
	base := baseURL(r)
	var out []map[string]any
	s.mu.Lock()
	for _, cat := range s.st.catalogs {
		assigned := cat.Everyone
		for _, id := range cat.UserIDs {
			assigned = assigned || c.user != nil && c.user.ID == id
		}
		if mine && (c.user == nil || !assigned) || !mine && !c.admin() {
			continue
		}
		var subs []map[string]any
		add := func(co *Course) {
			if co == nil || co.Unpublished || needle != "" && !strings.Contains(strings.ToLower(co.Name), needle) {
				return
			}
			if len(types) > 0 && !types[co.Type] {
				return
			}
			if perCatalog > 0 && len(subs) >= perCatalog {
				return
			}
			subs = append(subs, catalogItem(base, co))
		}
		for _, id := range cat.CourseIDs {
			add(s.st.courseByID[id])
		}
		for _, id := range cat.PlanIDs {
			add(s.st.planByID[id])
		}
		if needle != "" && len(subs) == 0 {
			continue
		}
		it := map[string]any{
			"catalogue_id": cat.ID, "catalogue_name": cat.Name, "catalogue_description": cat.Description,
			"number_items": len(cat.CourseIDs) + len(cat.PlanIDs),
		}
		if withItems {
			if subs == nil {
				subs = []map[string]any{}
			}
			it["sub_items"] = subs
		}
		out = append(out, it)
	}
	s.mu.Unlock()
	envelope(w, listPage(r, out, page, size))
}

// catalogItem is one sub_items entry of the catalog. item_type is "course"
// or "learning_plan": the spec says only "Course or Learning plan", so the
// exact words are unconfirmed.
func catalogItem(base string, co *Course) map[string]any {
	it := map[string]any{
		"item_id": co.ID, "item_type": "course", "item_name": co.Name, "item_code": co.Code,
		"item_description": co.Description, "item_thumbnail": base + thumbnailPath(co),
		"item_can_enroll": 2, "item_visibility": 1, "item_policy": 1, "is_new": 0,
		"price_status": 1, "access_status": 1, "is_opened": 1, "item_language": co.Language,
		"number_of_courses": nil,
	}
	if co.Type == "learning_plan" {
		it["item_type"] = "learning_plan"
		it["number_of_courses"] = len(co.CourseIDs)
		it["price_status"], it["access_status"], it["is_opened"], it["item_language"] = nil, nil, nil, nil
	}
	return it
}

// thumbnailPath is the sandbox's generated thumbnail of a course or plan.
func thumbnailPath(co *Course) string {
	if co.Type == "learning_plan" {
		return "/sandbox/thumbnails/lp-" + strconv.Itoa(co.ID) + ".svg"
	}
	return "/sandbox/thumbnails/" + strconv.Itoa(co.ID) + ".svg"
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
		"thumbnail": base + thumbnailPath(co),
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
// single-use exchange token for /learn/signin;type=token_exchange.
//
// THIS ENDPOINT IS A LATCHKEY INVENTION. Docebo documents the exchange token
// only as something it mints itself inside an identity provider's sign-in;
// no public source shows an API that hands one to a client. It exists here
// so the experimental "signin = token_exchange" setting can be exercised;
// DisableExchangeToken makes it answer 404, as a real platform would. An
// optional JSON body {"redirect_path": "/learn/…"} names where the sign-in
// lands.
func (s *Server) mintExchangeToken(w http.ResponseWriter, r *http.Request, c caller) {
	s.mu.Lock()
	off := s.o.DisableExchangeToken
	s.mu.Unlock()
	if off {
		writeJSON(w, http.StatusNotFound, yiiError(http.StatusNotFound, "Page not found."))
		return
	}
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
