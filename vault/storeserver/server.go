package storeserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/latchkey/latchkey/internal/httpstatus"
	"github.com/latchkey/latchkey/vault/envelope"
	"github.com/latchkey/latchkey/vault/store"
)

const (
	maxUserLen    = 255
	maxSegmentLen = 128
	maxBearerLen  = 16 << 10
	// MaxBodyBytes bounds a request body: one envelope plus its JSON.
	MaxBodyBytes = envelope.MaxLen + 1024
	// DefaultAdminListLimit and MaxAdminListLimit bound GET /v1/admin/records.
	DefaultAdminListLimit = 1000
	MaxAdminListLimit     = 10000
)

// Config is what a Server needs.
type Config struct {
	Backend  Backend
	Verifier Verifier
	Logger   *slog.Logger // nil: slog.Default()
	// Secrets seal the org integrations' client secrets; nil: a client
	// secret is refused (ErrNoSecretsKey) and the console is off.
	Secrets *SecretsKeys
	// Console, when set, serves the admin console at /admin.
	Console *ConsoleConfig
}

// Server is the latchkey-store HTTP API. It is an http.Handler and holds no
// state besides its metrics: the database is the only truth.
type Server struct {
	backend  Backend
	verifier Verifier
	log      *slog.Logger
	secrets  *SecretsKeys
	m        *metrics
	mux      *http.ServeMux
}

// New builds a Server.
func New(c Config) (*Server, error) {
	if c.Backend == nil || c.Verifier == nil {
		return nil, errors.New("storeserver: Config needs a Backend and a Verifier")
	}
	s := &Server{backend: c.Backend, verifier: c.Verifier, log: c.Logger, secrets: c.Secrets, m: newMetrics(), mux: http.NewServeMux()}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.Handle("GET /v1/records", s.auth(s.listOwn))
	s.mux.Handle("GET /v1/records/{device}/{integration}", s.auth(s.getRecord))
	s.mux.Handle("PUT /v1/records/{device}/{integration}", s.auth(s.putRecord))
	s.mux.Handle("DELETE /v1/records/{device}/{integration}", s.auth(s.deleteRecord))
	s.mux.Handle("GET /v1/admin/records", s.auth(s.admin(s.adminList)))
	s.mux.Handle("DELETE /v1/admin/records/{user}/{device}/{integration}", s.auth(s.admin(s.adminRevoke)))
	s.mux.Handle("GET /v1/admin/integrations", s.auth(s.admin(s.adminListIntegrations)))
	s.mux.Handle("GET /v1/admin/integrations/{name}", s.auth(s.admin(s.adminGetIntegration)))
	s.mux.Handle("PUT /v1/admin/integrations/{name}", s.auth(s.admin(s.adminPutIntegration)))
	s.mux.Handle("DELETE /v1/admin/integrations/{name}", s.auth(s.admin(s.adminDeleteIntegration)))
	s.mux.Handle("GET /v1/admin/integrations/{name}/history", s.auth(s.admin(s.adminIntegrationHistory)))
	s.mux.Handle("GET /v1/org/integrations", s.auth(s.orgIntegrations))
	if c.Console != nil {
		if err := s.mountConsole(*c.Console); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Metrics is the Prometheus handler of the server's series. It is not a
// route of the API itself: Run serves it on its own listener
// (--metrics-listen) only when asked to, since the series tell whoever reads
// them how the store is used.
func (s *Server) Metrics() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.m.reg, promhttp.HandlerOpts{}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		mux.ServeHTTP(w, r)
	})
}

// ServeHTTP routes the request and records its metrics.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	sw := httpstatus.NewRecorder(w)
	s.mux.ServeHTTP(sw, r)
	route := r.Pattern // set by the mux on this request
	if route == "" {
		route = "unmatched"
	}
	s.m.requests.WithLabelValues(route, strconv.Itoa(sw.Status())).Inc()
	s.m.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
}

type handler func(w http.ResponseWriter, r *http.Request, id Identity)

// auth verifies the bearer JWT and passes the caller's identity on.
func (s *Server) auth(next handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, ok := bearer(r)
		if !ok {
			s.m.authFail.WithLabelValues("401").Inc()
			w.Header().Set("WWW-Authenticate", `Bearer realm="latchkey-store"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "a bearer token from the identity provider is required")
			return
		}
		id, err := s.verifier.Verify(r.Context(), raw)
		if err != nil {
			s.m.authFail.WithLabelValues("401").Inc()
			// The verifier's error names the failed check; it never holds the token.
			s.log.Info("token refused", "remote", r.RemoteAddr, "reason", err.Error())
			w.Header().Set("WWW-Authenticate", `Bearer realm="latchkey-store", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "the bearer token is not valid")
			return
		}
		next(w, r, id)
	})
}

func bearer(r *http.Request) (string, bool) {
	a := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(a, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	if tok == "" || len(tok) > maxBearerLen {
		return "", false
	}
	return tok, true
}

// admin lets administrators through and answers 403 to everybody else.
func (s *Server) admin(next handler) handler {
	return func(w http.ResponseWriter, r *http.Request, id Identity) {
		if !id.Admin {
			s.m.authFail.WithLabelValues("403").Inc()
			writeError(w, http.StatusForbidden, "forbidden", "this route is for administrators")
			return
		}
		next(w, r, id)
	}
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.backend.Ping(ctx); err != nil {
		s.m.dbErrors.Inc()
		s.log.Warn("readiness: database unreachable", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the database does not answer")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// key builds the caller's key from the path, validated.
func (s *Server) key(w http.ResponseWriter, r *http.Request, user string) (store.Key, bool) {
	k := store.Key{User: user, Device: r.PathValue("device"), Integration: r.PathValue("integration")}
	if !validSegment(k.Device) || !validSegment(k.Integration) {
		writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("device and integration must be 1–%d characters of A–Z a–z 0–9 . _ - starting with a letter or digit", maxSegmentLen))
		return store.Key{}, false
	}
	return k, true
}

// validSegment: a device or integration name.
func validSegment(s string) bool {
	if s == "" || len(s) > maxSegmentLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case (c == '.' || c == '_' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// validUser: a subject as the identity provider spells it.
func validUser(s string) bool {
	if s == "" || len(s) > maxUserLen || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

func (s *Server) listOwn(w http.ResponseWriter, r *http.Request, id Identity) {
	recs, err := s.backend.ListRecords(r.Context(), id.Subject)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"records": recs})
}

func (s *Server) getRecord(w http.ResponseWriter, r *http.Request, id Identity) {
	k, ok := s.key(w, r, id.Subject)
	if !ok {
		return
	}
	rec, err := s.backend.GetRecord(r.Context(), k)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	w.Header().Set("ETag", etag(rec.Version))
	writeJSON(w, http.StatusOK, rec)
}

// putBody is the body of PUT /v1/records/{device}/{integration}.
type putBody struct {
	KeyID    string `json:"key_id"`
	Envelope string `json:"envelope"`
}

func (s *Server) putRecord(w http.ResponseWriter, r *http.Request, id Identity) {
	k, ok := s.key(w, r, id.Subject)
	if !ok {
		return
	}
	expect, ok := s.precondition(w, r, true)
	if !ok {
		return
	}
	var body putBody
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the body is larger than %d bytes", MaxBodyBytes))
			return
		}
		writeError(w, http.StatusBadRequest, "bad_request", `the body must be JSON {"key_id": "...", "envelope": "lk1...."}`)
		return
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "bad_request", "the body must hold one JSON object")
		return
	}
	env, err := envelope.Parse(body.Envelope)
	if err != nil {
		// Never echo the envelope (or what was sent in its place).
		writeError(w, http.StatusBadRequest, "bad_envelope", "envelope is not a sealed latchkey envelope ("+envelopeReason(err)+")")
		return
	}
	if body.KeyID != env.KeyID {
		writeError(w, http.StatusBadRequest, "key_id_mismatch", "key_id does not match the key id inside the envelope")
		return
	}
	rec, err := s.backend.PutRecord(r.Context(), store.Record{Key: k, KeyID: body.KeyID, Envelope: body.Envelope}, expect)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	w.Header().Set("ETag", etag(rec.Version))
	code := http.StatusOK
	if expect == store.CreateOnly {
		code = http.StatusCreated
	}
	writeJSON(w, code, rec)
}

func envelopeReason(err error) string {
	if errors.Is(err, envelope.ErrUnsupportedVersion) {
		return "unsupported version"
	}
	return "malformed"
}

func (s *Server) deleteRecord(w http.ResponseWriter, r *http.Request, id Identity) {
	k, ok := s.key(w, r, id.Subject)
	if !ok {
		return
	}
	expect, ok := s.precondition(w, r, false)
	if !ok {
		return
	}
	if err := s.backend.DeleteVersion(r.Context(), k, expect); err != nil {
		s.storeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) adminList(w http.ResponseWriter, r *http.Request, id Identity) {
	q := r.URL.Query()
	user := q.Get("user")
	if user != "" && !validUser(user) {
		writeError(w, http.StatusBadRequest, "bad_request", "user is not a valid subject")
		return
	}
	limit := DefaultAdminListLimit
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > MaxAdminListLimit {
			writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("limit must be 1–%d", MaxAdminListLimit))
			return
		}
		limit = n
	}
	recs, err := s.backend.AdminList(r.Context(), user, limit)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"records": recs})
}

func (s *Server) adminRevoke(w http.ResponseWriter, r *http.Request, id Identity) {
	user := r.PathValue("user")
	if !validUser(user) {
		writeError(w, http.StatusBadRequest, "bad_request", "user is not a valid subject")
		return
	}
	k, ok := s.key(w, r, user)
	if !ok {
		return
	}
	if err := s.backend.Revoke(r.Context(), k, id.Subject); err != nil {
		s.storeError(w, r, err)
		return
	}
	s.m.revokes.Inc()
	s.log.Info("record revoked", "admin", id.Subject, "user", k.User, "device", k.Device, "integration", k.Integration)
	w.WriteHeader(http.StatusNoContent)
}

// precondition reads If-None-Match: * (create) or If-Match: "<version>".
// For writes one of them is required; for deletes both are optional
// (store.AnyVersion).
func (s *Server) precondition(w http.ResponseWriter, r *http.Request, required bool) (int64, bool) {
	inm, hasINM := r.Header["If-None-Match"]
	im, hasIM := r.Header["If-Match"]
	switch {
	case hasINM && hasIM:
		writeError(w, http.StatusBadRequest, "bad_request", "send If-None-Match or If-Match, not both")
		return 0, false
	case hasINM:
		if !required || len(inm) != 1 || strings.TrimSpace(inm[0]) != "*" {
			writeError(w, http.StatusBadRequest, "bad_request", `If-None-Match accepts only "*" (create) on PUT`)
			return 0, false
		}
		return store.CreateOnly, true
	case hasIM:
		v, ok := parseETag(im)
		if !ok {
			writeError(w, http.StatusBadRequest, "bad_request", `If-Match must be one version in quotes, e.g. If-Match: "3"`)
			return 0, false
		}
		return v, true
	case required:
		writeError(w, http.StatusPreconditionRequired, "precondition_required", `send If-None-Match: * to create or If-Match: "<version>" to update`)
		return 0, false
	default:
		return store.AnyVersion, true
	}
}

func etag(v int64) string { return `"` + strconv.FormatInt(v, 10) + `"` }

func parseETag(vals []string) (int64, bool) {
	if len(vals) != 1 {
		return 0, false
	}
	s := strings.TrimSpace(vals[0])
	if len(s) < 3 || s[0] != '"' || s[len(s)-1] != '"' {
		return 0, false
	}
	v, err := strconv.ParseInt(s[1:len(s)-1], 10, 64)
	if err != nil || v < 1 {
		return 0, false
	}
	return v, true
}

// storeError maps a backend error to its HTTP answer.
func (s *Server) storeError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, ErrRevoked):
		writeError(w, http.StatusGone, "revoked", "an administrator revoked this record; connect the integration again")
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", "no record here")
	case errors.Is(err, store.ErrConflict):
		s.m.conflicts.Inc()
		writeError(w, http.StatusPreconditionFailed, "conflict", "the record changed (or exists): read it again and retry with its version")
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads the answer.
		writeError(w, 499, "canceled", "request canceled")
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		s.m.dbErrors.Inc()
		s.log.Error("database unavailable", "route", r.Pattern, "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the database is unavailable; retry later")
	default:
		s.m.dbErrors.Inc()
		s.log.Error("database error", "route", r.Pattern, "err", err)
		writeError(w, http.StatusInternalServerError, "internal", "internal error")
	}
}

// apiError is the body of every error answer.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, code int, errCode, msg string) {
	var e apiError
	e.Error.Code, e.Error.Message = errCode, msg
	writeJSON(w, code, e)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
