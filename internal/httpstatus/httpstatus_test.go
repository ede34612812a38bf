package httpstatus

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestRecorder(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		h    http.HandlerFunc
		want int
	}{
		"nothing written":   {func(w http.ResponseWriter, r *http.Request) {}, 200},
		"body only":         {func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("x")) }, 200},
		"explicit status":   {func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(404) }, 404},
		"first status wins": {func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503); w.WriteHeader(200) }, 503},
		"status after body": {func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("x")); w.WriteHeader(500) }, 200},
	} {
		t.Run(name, func(t *testing.T) {
			inner := httptest.NewRecorder()
			rec := NewRecorder(inner)
			tc.h(rec, httptest.NewRequest("GET", "/", nil))
			if got := rec.Status(); got != tc.want {
				t.Fatalf("Status() = %d, want %d", got, tc.want)
			}
			if rec.Unwrap() != inner {
				t.Fatal("Unwrap does not return the wrapped writer")
			}
		})
	}
}
