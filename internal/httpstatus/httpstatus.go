// Package httpstatus records the status code an http.Handler answered with,
// for middleware that counts or logs requests.
package httpstatus

import "net/http"

// Recorder is an http.ResponseWriter that remembers the first status code
// written through it. Unwrap lets http.ResponseController reach the writer
// beneath (Flush, deadlines).
type Recorder struct {
	http.ResponseWriter
	code int
}

// NewRecorder wraps w.
func NewRecorder(w http.ResponseWriter) *Recorder { return &Recorder{ResponseWriter: w} }

func (r *Recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *Recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *Recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Status is the status the handler answered with: 200 when it wrote
// nothing, as net/http then sends.
func (r *Recorder) Status() int {
	if r.code == 0 {
		return http.StatusOK
	}
	return r.code
}
