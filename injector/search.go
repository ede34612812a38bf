package injector

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/integrations"
)

// IntegrationError is one integration's failure in a search or course feed.
type IntegrationError struct {
	Integration string `json:"integration"`
	Code        string `json:"code"`
	Message     string `json:"message"`
}

// SearchResponse is the body of GET /v1/search.
type SearchResponse struct {
	Results []integrations.SearchResult `json:"results"`
	Errors  []IntegrationError          `json:"errors"`
}

// CoursesResponse is the body of GET /v1/courses.
type CoursesResponse struct {
	Items  []integrations.Course `json:"items"`
	Errors []IntegrationError    `json:"errors"`
}

const (
	defaultSearchLimit = 20
	maxSearchLimit     = 100
)

// fanResult is one integration's answer.
type fanResult[T any] struct {
	name  string
	items []T
	err   error
	took  time.Duration
}

// fanOut runs call for every connected integration the caller may use that
// implements the capability (capable says; call may still return ok=false),
// each
// under its own deadline, sending each result on the returned channel as it
// arrives. The channel is closed when all have answered or the deadline (plus
// a short grace) has passed; integrations still running by then are reported
// as timed out, never waited for.
//
// An integration the backend reports unavailable (reconnect needed, a
// configuration error) is not called: it is answered at once with its
// Unavailable error, unless it is known not to have the capability.
func fanOut[T any](ctx context.Context, s *Server, c *caller, deadline time.Duration,
	capable func(integrations.Integration) bool,
	call func(ctx context.Context, ci ConnectedIntegration) ([]T, bool, error)) (<-chan fanResult[T], error) {
	conns, err := s.backend.Connected(ctx)
	if err != nil {
		return nil, err
	}
	out := make(chan fanResult[T], len(conns))
	raw := make(chan fanResult[T], len(conns))
	pending := map[string]bool{}
	var order []string
	var unavailable []fanResult[T]
	for _, ci := range conns {
		if ci.Unavailable != nil {
			name := unavailableName(ci)
			if name != "" && c.Allows(name) && (ci.Integration == nil || capable(ci.Integration)) {
				unavailable = append(unavailable, fanResult[T]{name: name, err: ci.Unavailable})
			}
			continue
		}
		if ci.Integration == nil || !c.Allows(ci.Integration.Name()) {
			continue
		}
		name := ci.Integration.Name()
		pending[name] = true
		order = append(order, name)
		go func(ci ConnectedIntegration) {
			start := time.Now()
			ictx, cancel := context.WithTimeout(ctx, deadline)
			defer cancel()
			items, ok, err := call(ictx, ci)
			if !ok {
				items, err = nil, errNotCapable
			} else if err == nil && ictx.Err() != nil {
				// Answered after its deadline: too late to count.
				err = ictx.Err()
			}
			raw <- fanResult[T]{name: name, items: items, err: err, took: time.Since(start)}
		}(ci)
	}
	for _, r := range unavailable {
		out <- r
	}
	go func() {
		defer close(out)
		timer := time.NewTimer(deadline + 50*time.Millisecond)
		defer timer.Stop()
		for len(pending) > 0 {
			select {
			case r := <-raw:
				delete(pending, r.name)
				out <- r
			case <-timer.C:
				for _, n := range order {
					if pending[n] {
						out <- fanResult[T]{name: n, err: context.DeadlineExceeded, took: deadline}
					}
				}
				return
			}
		}
	}()
	return out, nil
}

var errNotCapable = errors.New("not capable")

// unavailableName is the name of an unavailable integration: its own, or
// Name when it could not be built.
func unavailableName(ci ConnectedIntegration) string {
	if ci.Integration != nil {
		return ci.Integration.Name()
	}
	return ci.Name
}

func toIntegrationError(name string, err error) IntegrationError {
	if errors.Is(err, context.DeadlineExceeded) {
		return IntegrationError{Integration: name, Code: "timeout", Message: name + " did not answer in time"}
	}
	_, code := integrationErrorStatus(err)
	if errors.Is(err, ErrMisconfigured) {
		code = "config_error"
	}
	return IntegrationError{Integration: name, Code: code, Message: scrub(err)}
}

func (s *Server) auditFan(c *caller, name, path string, err error, took time.Duration) {
	status := http.StatusOK
	if err != nil {
		status, _ = integrationErrorStatus(err)
	}
	s.recordAudit(AuditEntry{Time: time.Now().Add(-took), Caller: c.Subject, Integration: name,
		Method: http.MethodGet, Path: path, Status: status, Duration: took})
}

func (s *Server) handleSearch(w http.ResponseWriter, r *http.Request, c *caller) {
	c, ok := narrowed(w, r, c)
	if !ok {
		return
	}
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if q == "" {
		writeError(w, http.StatusBadRequest, "bad_request", "the q parameter is required")
		return
	}
	if len(q) > 512 {
		writeError(w, http.StatusBadRequest, "bad_request", "the query is too long")
		return
	}
	limit := defaultSearchLimit
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "bad_request", "limit must be a positive integer")
			return
		}
		limit = min(n, maxSearchLimit)
	}
	results, err := fanOut(r.Context(), s, c, s.cfg.SearchDeadline,
		func(in integrations.Integration) bool { _, ok := in.(integrations.Searcher); return ok },
		func(ctx context.Context, ci ConnectedIntegration) ([]integrations.SearchResult, bool, error) {
			se, ok := ci.Integration.(integrations.Searcher)
			if !ok {
				return nil, false, nil
			}
			res, err := se.Search(ctx, ci.Tokens, q, limit)
			return res, true, err
		})
	if err != nil {
		writeError(w, http.StatusInternalServerError, "backend_error", err.Error())
		return
	}
	if strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		s.streamSearch(w, c, results, limit)
		return
	}
	resp := SearchResponse{Results: []integrations.SearchResult{}, Errors: []IntegrationError{}}
	for fr := range results {
		if errors.Is(fr.err, errNotCapable) {
			continue
		}
		s.auditFan(c, fr.name, "/v1/search", fr.err, fr.took)
		if fr.err != nil {
			resp.Errors = append(resp.Errors, toIntegrationError(fr.name, fr.err))
			continue
		}
		resp.Results = append(resp.Results, normaliseResults(fr.name, fr.items)...)
	}
	rankResults(resp.Results)
	if len(resp.Results) > limit {
		resp.Results = resp.Results[:limit]
	}
	slices.SortFunc(resp.Errors, func(a, b IntegrationError) int { return cmp.Compare(a.Integration, b.Integration) })
	writeJSON(w, http.StatusOK, resp)
}

func normaliseResults(name string, rs []integrations.SearchResult) []integrations.SearchResult {
	for i := range rs {
		rs[i].Integration = name
		if rs[i].Score < 0 {
			rs[i].Score = 0
		} else if rs[i].Score > 1 {
			rs[i].Score = 1
		}
	}
	return rs
}

func rankResults(rs []integrations.SearchResult) {
	slices.SortStableFunc(rs, func(a, b integrations.SearchResult) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Integration, b.Integration); c != 0 {
			return c
		}
		return cmp.Compare(a.Title, b.Title)
	})
}

// streamSearch writes Server-Sent Events: one "results" event per
// integration as it answers ({"integration", "results"}, ranked, at most
// limit), one "error" event per failed integration (an IntegrationError),
// then "done".
func (s *Server) streamSearch(w http.ResponseWriter, c *caller, results <-chan fanResult[integrations.SearchResult], limit int) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h["Cache-Control"] = hvNoStore
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	rc.Flush()
	event := func(name string, v any) {
		b, _ := json.Marshal(v)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, b)
		rc.Flush()
	}
	for fr := range results {
		if errors.Is(fr.err, errNotCapable) {
			continue
		}
		s.auditFan(c, fr.name, "/v1/search", fr.err, fr.took)
		if fr.err != nil {
			event("error", toIntegrationError(fr.name, fr.err))
			continue
		}
		rs := normaliseResults(fr.name, fr.items)
		rankResults(rs)
		if len(rs) > limit {
			rs = rs[:limit]
		}
		if rs == nil {
			rs = []integrations.SearchResult{}
		}
		event("results", map[string]any{"integration": fr.name, "results": rs})
	}
	event("done", struct{}{})
}

func statusRank(st string) int {
	switch st {
	case "in_progress":
		return 0
	case "not_started", "enrolled", "subscribed":
		return 1
	case "completed":
		return 3
	}
	return 2
}

func (s *Server) handleCourses(w http.ResponseWriter, r *http.Request, c *caller) {
	c, ok := narrowed(w, r, c)
	if !ok {
		return
	}
	results, err := fanOut(r.Context(), s, c, s.cfg.CoursesDeadline,
		func(in integrations.Integration) bool { _, ok := in.(integrations.Courses); return ok },
		func(ctx context.Context, ci ConnectedIntegration) ([]integrations.Course, bool, error) {
			co, ok := ci.Integration.(integrations.Courses)
			if !ok {
				return nil, false, nil
			}
			res, err := co.Courses(ctx, ci.Tokens)
			s.rememberThumbnails(ci, res)
			return res, true, err
		})
	if err != nil {
		writeError(w, http.StatusInternalServerError, "backend_error", err.Error())
		return
	}
	resp := CoursesResponse{Items: []integrations.Course{}, Errors: []IntegrationError{}}
	for fr := range results {
		if errors.Is(fr.err, errNotCapable) {
			continue
		}
		s.auditFan(c, fr.name, "/v1/courses", fr.err, fr.took)
		if fr.err != nil {
			resp.Errors = append(resp.Errors, toIntegrationError(fr.name, fr.err))
			continue
		}
		for _, co := range fr.items {
			co.Integration = fr.name
			if co.Progress != nil {
				p := min(max(*co.Progress, 0), 100)
				co.Progress = &p
			}
			resp.Items = append(resp.Items, co)
		}
	}
	slices.SortStableFunc(resp.Items, func(a, b integrations.Course) int {
		if c := cmp.Compare(statusRank(a.Status), statusRank(b.Status)); c != 0 {
			return c
		}
		if a.Status == "in_progress" && b.Status == "in_progress" && a.Progress != nil && b.Progress != nil {
			if c := cmp.Compare(*b.Progress, *a.Progress); c != 0 {
				return c
			}
		}
		if c := cmp.Compare(a.Integration, b.Integration); c != 0 {
			return c
		}
		return cmp.Compare(a.Title, b.Title)
	})
	slices.SortFunc(resp.Errors, func(a, b IntegrationError) int { return cmp.Compare(a.Integration, b.Integration) })
	writeJSON(w, http.StatusOK, resp)
}
