package docebo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/latchkey/latchkey/integrations"
)

// maxPages bounds enrollment paging when the server never says it is done.
const maxPages = 500

// Account implements integrations.AccountLookup with
// GET /manage/v1/user/session.
func (d *Docebo) Account(ctx context.Context, tokens integrations.Tokens) (integrations.Account, error) {
	var s sessionData
	if err := d.call(ctx, tokens, apiCall{method: http.MethodGet, path: SessionPath}, &s); err != nil {
		return integrations.Account{}, err
	}
	if s.ID == "" {
		return integrations.Account{}, fmt.Errorf("docebo: %s answered without a user id", SessionPath)
	}
	name := strings.TrimSpace(strings.TrimSpace(s.FirstName) + " " + strings.TrimSpace(s.LastName))
	if name == "" {
		name = s.Username
	}
	return integrations.Account{ID: string(s.ID), Username: s.Username, Name: name, Email: s.Email}, nil
}

type sessionData struct {
	ID        flexString `json:"id"`
	Username  string     `json:"username"`
	FirstName string     `json:"firstname"`
	LastName  string     `json:"lastname"`
	Email     string     `json:"email"`
}

// page is the "data" of a Docebo list endpoint.
type page[T any] struct {
	Items          []T       `json:"items"`
	Count          flexInt   `json:"count"`
	HasMoreData    *flexBool `json:"has_more_data"`
	CurrentPage    flexInt   `json:"current_page"`
	TotalPageCount flexInt   `json:"total_page_count"`
}

// more reports whether a page after page number p exists: has_more_data
// when the server sent it (bounded by total_page_count when present), else
// total_page_count alone; an empty page always ends.
func (pg *page[T]) more(p int) bool {
	if len(pg.Items) == 0 {
		return false
	}
	if pg.TotalPageCount > 0 && p >= int(pg.TotalPageCount) {
		return false
	}
	if pg.HasMoreData != nil {
		return bool(*pg.HasMoreData)
	}
	return pg.TotalPageCount > 0
}

type enrollment struct {
	ID                   flexString `json:"id"` // course or learning-plan id, per type (not id_course)
	IDCourse             flexString `json:"id_course"`
	Name                 string     `json:"name"`
	Type                 string     `json:"type"`
	Status               flexString `json:"status"`
	ImageURL             string     `json:"image_url"`
	Thumbnail            string     `json:"thumbnail"`
	SlugName             string     `json:"slug_name"`
	URL                  string     `json:"url"`
	CompletionPercentage optFloat   `json:"completion_percentage"`
	Completion           optFloat   `json:"completion"`
}

// Courses implements integrations.Courses: the connected user's enrollments
// from GET /learn/v1/enrollments?id_user[]=<id>, every page until
// has_more_data is false (bounded by total_page_count when present).
// Enrollments are told apart by type and id: course 12 and learning plan 12
// are two items, "12" and "lp-12".
func (d *Docebo) Courses(ctx context.Context, tokens integrations.Tokens) ([]integrations.Course, error) {
	acct, err := d.Account(ctx, tokens)
	if err != nil {
		return nil, err
	}
	var out []integrations.Course
	seen := map[string]bool{}
	// Pages are 1-based (2017 spec, every sync client). Unconfirmed: one
	// source calls them 0-based; duplicates across pages are dropped so a
	// server that reads page=1 as the second page only costs the first page,
	// and an empty page always ends the loop.
	for p := 1; p <= maxPages; p++ {
		q := url.Values{
			"id_user[]": {acct.ID},
			"page":      {strconv.Itoa(p)},
			"page_size": {strconv.Itoa(d.pageSize)},
		}
		var pg page[enrollment]
		if err := d.call(ctx, tokens, apiCall{method: http.MethodGet, path: EnrollmentsPath, query: q}, &pg); err != nil {
			return nil, err
		}
		for _, e := range pg.Items {
			c := d.course(e)
			if c.ID == "" || seen[c.ID] {
				continue
			}
			seen[c.ID] = true
			out = append(out, c)
		}
		if !pg.more(p) {
			break
		}
	}
	if out == nil {
		out = []integrations.Course{}
	}
	return out, nil
}

func (d *Docebo) course(e enrollment) integrations.Course {
	raw := strings.TrimSpace(string(e.ID))
	if raw == "" {
		raw = strings.TrimSpace(string(e.IDCourse))
	}
	id := ""
	if raw != "" {
		id = itemID(isLearningPlan(e.Type), raw)
	}
	status := NormalizeStatus(string(e.Status))
	c := integrations.Course{
		Integration: Name,
		ID:          id,
		Title:       strings.TrimSpace(e.Name),
		URL:         d.itemURL(e.URL, id, e.SlugName),
		Type:        e.Type,
		Status:      status,
		Thumbnail:   d.absURL(firstNonEmpty(e.ImageURL, e.Thumbnail)),
	}
	// completion_percentage ?? completion (unconfirmed, may be absent); else
	// derived from the status when the status says it.
	switch {
	case e.CompletionPercentage.OK:
		c.Progress = clampPercent(e.CompletionPercentage.V)
	case e.Completion.OK:
		c.Progress = clampPercent(e.Completion.V)
	case status == "not_started":
		c.Progress = clampPercent(0)
	case status == "completed":
		c.Progress = clampPercent(100)
	}
	if c.Title == "" {
		c.Title = "Course " + raw
		if isLearningPlan(e.Type) {
			c.Title = "Learning plan " + raw
		}
	}
	return c
}

// isLearningPlan reports whether a Docebo item type names a learning plan
// ("learning_plan" in enrollments; the catalog's exact word is unconfirmed,
// so close spellings count too).
func isLearningPlan(typ string) bool {
	switch strings.NewReplacer("_", "", "-", "", " ", "").Replace(strings.ToLower(strings.TrimSpace(typ))) {
	case "learningplan", "plan", "lp", "learningpath":
		return true
	}
	return false
}

// itemID is the normalised id of a Docebo item: the course id as it is, a
// learning plan's with LearningPlanPrefix.
func itemID(plan bool, id string) string {
	if plan {
		return LearningPlanPrefix + id
	}
	return id
}

// splitItemID reverses itemID.
func splitItemID(id string) (plan bool, raw string) {
	if rest, ok := strings.CutPrefix(id, LearningPlanPrefix); ok {
		return true, rest
	}
	return false, id
}

func clampPercent(f float64) *float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	f = math.Max(0, math.Min(100, f))
	return &f
}

// NormalizeStatus maps Docebo's enrollment status words to latchkey's
// not_started | in_progress | completed; other words (suspended, overbooking,
// …) pass through lower-cased. Unconfirmed which set /learn/v1/enrollments
// returns: the admin service says enrolled|waiting|in_progress|completed,
// legacy pages say subscribed, and older APIs use numbers (-2 waiting,
// -1 to-confirm, 0 subscribed, 1 in progress, 2 completed, 3 suspended).
func NormalizeStatus(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	switch strings.NewReplacer(" ", "_", "-", "_").Replace(s) {
	case "subscribed", "enrolled", "not_started", "notstarted", "waiting", "waiting_list", "to_confirm", "0", "-1", "-2":
		return "not_started"
	case "in_progress", "inprogress", "itinere", "started", "1":
		return "in_progress"
	case "completed", "complete", "passed", "2":
		return "completed"
	case "3":
		return "suspended"
	}
	return s
}

// itemURL prefers the item's own url (absolute or relative to the
// platform; http(s) only), else the learner-UI page of the normalised id:
// /learn/course/<id>/<slug> for a course, /learn/learning-plans/<id>/<slug>
// for a learning plan ("lp-<id>").
func (d *Docebo) itemURL(ownURL, id, slug string) string {
	if u := d.absURL(ownURL); u != "" {
		return u
	}
	return d.url(uiPath(id, slug))
}

// uiPath is the learner-UI path of a normalised item id, with its slug when
// known.
func uiPath(id, slug string) string {
	plan, raw := splitItemID(id)
	p := courseUIPath + url.PathEscape(raw)
	if plan {
		p = learningPlanUIPath + url.PathEscape(raw)
	}
	if slug = strings.TrimSpace(slug); slug != "" {
		p += "/" + url.PathEscape(slug)
	}
	return p
}

// absURL resolves raw against the base URL, keeping only http(s) results.
func (d *Docebo) absURL(raw string) string {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	u = d.base.ResolveReference(u)
	if u.Scheme != "https" && u.Scheme != "http" || u.Host == "" || u.User != nil {
		return ""
	}
	return u.String()
}

// CourseURL is the learner-UI link of a normalised item id (a course id, or
// "lp-<id>" for a learning plan), with its slug when known.
func (d *Docebo) CourseURL(id, slug string) string { return d.itemURL("", id, slug) }

type courseItem struct {
	IDCourse    flexString `json:"id_course"`
	ID          flexString `json:"id"`
	Name        string     `json:"name"`
	CourseType  string     `json:"course_type"`
	Type        string     `json:"type"`
	SlugName    string     `json:"slug_name"`
	Description string     `json:"description"`
	URL         string     `json:"url"`
	// IsPublished / Published: skipped when present and false (the field's
	// name is unconfirmed; absent means published).
	IsPublished *flexBool `json:"is_published"`
	Published   *flexBool `json:"published"`
}

// catalog is one catalog of GET /learn/v1/catalog?show_item_list=1.
type catalog struct {
	SubItems []catalogItem `json:"sub_items"`
}

type catalogItem struct {
	ItemID          flexString `json:"item_id"`
	ItemType        string     `json:"item_type"`
	ItemName        string     `json:"item_name"`
	ItemCode        string     `json:"item_code"`
	ItemDescription string     `json:"item_description"`
	// AccessStatus: 1 enabled, 2 disabled, 3 expired, null for learning
	// plans (2017 spec).
	AccessStatus flexString `json:"access_status"`
}

// coursesForbiddenFor is how long Search skips /learn/v1/courses after it
// answered 403, going straight to the catalog.
const coursesForbiddenFor = 10 * time.Minute

// maxCatalogPages bounds catalog paging in a search.
const maxCatalogPages = 5

// Search implements integrations.Searcher with
// GET /learn/v1/courses?search_text=…. When that answers 403 (a learner's
// token may not list courses; what it gets there is not public), Search uses
// the learner's own catalogs instead, GET /learn/v1/catalog?my_catalogs=1
// &show_item_list=1&search_text=…, keeping only the items that match the
// query (checked here too, in case the platform ignores search_text) and
// that the user may open (not disabled or expired), courses and learning
// plans alike. Unpublished courses are skipped in either case. Results are
// ranked by a score in 0..1 derived from how well the title (and the
// description) match the query, so they merge with other integrations'
// results.
func (d *Docebo) Search(ctx context.Context, tokens integrations.Tokens, query string, limit int) ([]integrations.SearchResult, error) {
	query = strings.TrimSpace(query)
	if query == "" {
		return []integrations.SearchResult{}, nil
	}
	if limit <= 0 {
		limit = 20
	}
	var out []integrations.SearchResult
	var err error
	if d.coursesForbidden() {
		out, err = d.searchCatalog(ctx, tokens, query)
	} else {
		out, err = d.searchCourses(ctx, tokens, query, min(limit, 200))
		var pe *integrations.ProviderError
		if errors.As(err, &pe) && pe.Status == http.StatusForbidden {
			d.mu.Lock()
			d.coursesForbiddenUntil = d.now().Add(coursesForbiddenFor)
			d.mu.Unlock()
			out, err = d.searchCatalog(ctx, tokens, query)
		}
	}
	if err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Score > out[j].Score })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (d *Docebo) coursesForbidden() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.now().Before(d.coursesForbiddenUntil)
}

func (d *Docebo) searchCourses(ctx context.Context, tokens integrations.Tokens, query string, size int) ([]integrations.SearchResult, error) {
	q := url.Values{
		"search_text": {query},
		"page":        {"1"},
		"page_size":   {strconv.Itoa(size)},
	}
	var pg page[courseItem]
	if err := d.call(ctx, tokens, apiCall{method: http.MethodGet, path: CoursesPath, query: q}, &pg); err != nil {
		return nil, err
	}
	terms := words(query)
	out := make([]integrations.SearchResult, 0, len(pg.Items))
	for _, it := range pg.Items {
		id := firstNonEmpty(string(it.IDCourse), string(it.ID))
		if id == "" || it.IsPublished != nil && !bool(*it.IsPublished) || it.Published != nil && !bool(*it.Published) {
			continue
		}
		desc := plainText(it.Description)
		out = append(out, integrations.SearchResult{
			Integration: Name,
			Kind:        "course",
			ID:          id,
			Title:       strings.TrimSpace(it.Name),
			URL:         d.itemURL(it.URL, id, it.SlugName),
			Snippet:     truncate(desc, 200),
			Score:       Score(terms, query, it.Name, desc),
		})
	}
	return out, nil
}

// searchCatalog searches the catalogs assigned to the user. The catalog
// items carry no slug, so links are /learn/course/<id> and
// /learn/learning-plans/<id>.
func (d *Docebo) searchCatalog(ctx context.Context, tokens integrations.Tokens, query string) ([]integrations.SearchResult, error) {
	terms := words(query)
	seen := map[string]bool{}
	out := []integrations.SearchResult{}
	for p := 1; p <= maxCatalogPages; p++ {
		q := url.Values{
			"search_text":    {query},
			"show_item_list": {"1"},
			"my_catalogs":    {"1"},
			"page":           {strconv.Itoa(p)},
			"page_size":      {"100"},
		}
		var pg page[catalog]
		if err := d.call(ctx, tokens, apiCall{method: http.MethodGet, path: CatalogPath, query: q}, &pg); err != nil {
			return nil, err
		}
		for _, cat := range pg.Items {
			for _, it := range cat.SubItems {
				raw := strings.TrimSpace(string(it.ItemID))
				switch strings.TrimSpace(string(it.AccessStatus)) {
				case "2", "3": // disabled, expired
					continue
				}
				plan := isLearningPlan(it.ItemType)
				id := itemID(plan, raw)
				desc := plainText(it.ItemDescription)
				if raw == "" || seen[id] || !mentions(terms, it.ItemName, it.ItemCode, desc) {
					continue
				}
				seen[id] = true
				// Kind stays "course" for a learning plan too: the menu
				// opens "course" results through the signed-in link, and
				// the id ("lp-…") tells the two apart.
				out = append(out, integrations.SearchResult{
					Integration: Name,
					Kind:        "course",
					ID:          id,
					Title:       strings.TrimSpace(it.ItemName),
					URL:         d.itemURL("", id, ""),
					Snippet:     truncate(desc, 200),
					Score:       Score(terms, query, it.ItemName, desc),
				})
			}
		}
		if !pg.more(p) {
			break
		}
	}
	return out, nil
}

// mentions reports whether any query word occurs in one of the texts, case
// insensitively, as a substring (the way the platform's own search_text
// matches).
func mentions(terms []string, texts ...string) bool {
	for _, t := range texts {
		lt := strings.ToLower(t)
		for _, w := range terms {
			if strings.Contains(lt, w) {
				return true
			}
		}
	}
	return false
}

// Score rates how well a course matches a query, in 0..1: 1 for the exact
// title; otherwise mostly the share of query words found as whole title
// words (prefixes count half), a bonus when the title holds the whole
// phrase, a little for words found in the description. The platform already
// decided the course matches, so the floor is 0.05.
func Score(terms []string, query, title, desc string) float64 {
	if len(terms) == 0 {
		return 0.05
	}
	nq := strings.Join(words(query), " ")
	tw := words(title)
	if nq != "" && strings.Join(tw, " ") == nq {
		return 1
	}
	titleHit := termShare(terms, tw)
	descHit := termShare(terms, words(desc))
	s := 0.65*titleHit + 0.15*descHit
	if nq != "" && strings.Contains(" "+strings.Join(tw, " ")+" ", " "+nq+" ") {
		s += 0.15
	}
	// Shorter titles that match are more specific.
	if titleHit > 0 && len(tw) > 0 {
		s += 0.04 * float64(len(terms)) / float64(max(len(tw), len(terms)))
	}
	return math.Round(math.Max(0.05, math.Min(0.99, s))*1000) / 1000
}

func termShare(terms, in []string) float64 {
	if len(terms) == 0 {
		return 0
	}
	set := make(map[string]bool, len(in))
	for _, w := range in {
		set[w] = true
	}
	var hit float64
	for _, t := range terms {
		if set[t] {
			hit++
			continue
		}
		for _, w := range in {
			if len(t) >= 2 && strings.HasPrefix(w, t) {
				hit += 0.5
				break
			}
		}
	}
	return hit / float64(len(terms))
}

// words splits s into lower-case words of letters and digits.
func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '+' && r != '#'
	})
}

// plainText drops HTML tags and entities from a Docebo description.
func plainText(s string) string {
	var b strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '<':
			in = true
		case r == '>' && in:
			in = false
			b.WriteByte(' ')
		case !in:
			b.WriteRune(r)
		}
	}
	return strings.Join(strings.Fields(html.UnescapeString(b.String())), " ")
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return strings.TrimSpace(string(r[:n-1])) + "…"
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			return s
		}
	}
	return ""
}

// Tolerant JSON scalars: Docebo sends ids, counts and flags as numbers in
// some services and strings in others.

// flexString reads a string or a number (as its decimal text); anything
// else (null, objects, arrays) reads as "".
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if json.Unmarshal(b, &s) == nil {
			*f = flexString(s)
		}
		return nil
	}
	var n json.Number
	if json.Unmarshal(b, &n) == nil {
		*f = flexString(n.String())
	}
	return nil
}

// flexInt reads an integer sent as a number or a string; anything else
// reads as 0 rather than failing the whole page.
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	var s flexString
	if s.UnmarshalJSON(b) != nil {
		return nil
	}
	if x, err := strconv.ParseFloat(strings.TrimSpace(string(s)), 64); err == nil && !math.IsNaN(x) && !math.IsInf(x, 0) && math.Abs(x) < 1<<53 {
		*f = flexInt(x)
	}
	return nil
}

// optFloat is a number (or numeric string, "42%" too) that may be absent,
// null or unreadable: OK says whether it was there.
type optFloat struct {
	V  float64
	OK bool
}

func (f *optFloat) UnmarshalJSON(b []byte) error {
	var s flexString
	if s.UnmarshalJSON(b) != nil {
		return nil
	}
	x, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(string(s)), "%"), 64)
	if err == nil && !math.IsNaN(x) && !math.IsInf(x, 0) {
		*f = optFloat{V: x, OK: true}
	}
	return nil
}

// flexBool reads true/false, 1/0 and their string forms; anything else is
// false.
type flexBool bool

func (f *flexBool) UnmarshalJSON(b []byte) error {
	switch strings.ToLower(strings.Trim(string(bytes.TrimSpace(b)), `"`)) {
	case "true", "1", "yes":
		*f = true
	default:
		*f = false
	}
	return nil
}
