package injector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unsafe"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

// Both listeners are served by fasthttp (github.com/valyala/fasthttp): its
// parser and connection handling cost a fraction of net/http's per request,
// which is what lets the injector keep up with nginx (injector/loadtest).
// The proxy runs natively on it (proxy.go); every other route is the
// net/http handler behind fasthttpadaptor, which streams (Flush) for the
// search event stream.

const (
	maxHeaderBytes = 32 << 10 // request line and headers (JWTs from IdPs can be large)
	maxRequestBody = 64 << 20 // request bodies are read whole (and so are replayable)
	readTimeout    = 30 * time.Second
	idleTimeout    = 2 * time.Minute
	shutdownGrace  = 30 * time.Second
)

// newFastServer returns a fasthttp server for h, configured for the
// injector: bounded headers and bodies, no default Server or Content-Type
// header, errors logged at debug level without request contents.
func newFastServer(h fasthttp.RequestHandler, log *slog.Logger) *fasthttp.Server {
	return &fasthttp.Server{
		Handler:                      h,
		ReadBufferSize:               maxHeaderBytes,
		MaxRequestBodySize:           maxRequestBody,
		NoDefaultServerHeader:        true,
		NoDefaultContentType:         true,
		DisablePreParseMultipartForm: true,
		SecureErrorLogMessage:        true,
		CloseOnShutdown:              true,
		Logger:                       fastLogger{log},
		ErrorHandler:                 fastParseError,
		ReadTimeout:                  readTimeout,
		IdleTimeout:                  idleTimeout,
	}
}

// fastParseError answers a request fasthttp could not read.
func fastParseError(ctx *fasthttp.RequestCtx, err error) {
	status, code, msg := http.StatusBadRequest, "bad_request", "the request could not be parsed"
	var small *fasthttp.ErrSmallBuffer
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		status, code, msg = http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("request bodies are limited to %d MiB", maxRequestBody>>20)
	case errors.Is(err, fasthttp.ErrSmallReadBuffer), errors.As(err, &small):
		status, code, msg = http.StatusRequestHeaderFieldsTooLarge, "headers_too_large", "the request headers are too large"
	}
	ctx.Response.Header.SetConnectionClose()
	writeError(fastWriter(ctx), status, code, msg)
}

// serveFast serves on ln the handler that handler makes, until ctx ends,
// then lets in-flight requests finish (up to shutdownGrace) and closes the
// rest. It returns nil after a shutdown caused by ctx.
//
// The handler is given ctx as the server's lifetime context: when the
// shutdown begins, the token lookups and refreshes that requests wait on
// and the net/http routes end, while a proxied exchange already under way
// may finish within the grace period.
func serveFast(ctx context.Context, ln net.Listener, log *slog.Logger, handler func(life context.Context) fasthttp.RequestHandler) error {
	srv := newFastServer(handler(ctx), log)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	err := srv.ShutdownWithContext(sctx)
	if serr := <-errc; serr != nil && err == nil {
		err = serr
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return nil // in-flight requests past the grace period were cut
	}
	return err
}

// fastTCP is the loopback listener's handler: browser-safety checks for
// every route, the proxy natively, the rest through api (the net/http API
// on fasthttp). life is the server's lifetime context (serveFast).
func (s *Server) fastTCP(life context.Context, ctx *fasthttp.RequestCtx, api fasthttp.RequestHandler) {
	defer s.recoverFast(ctx)
	uri := b2s(ctx.Request.Header.RequestURI())
	if refuseTarget(ctx, uri) {
		return
	}
	if !strings.HasPrefix(uri, proxyPrefix) {
		api(ctx)
		return
	}
	setFastSecurityHeaders(ctx, fastProxyCSP)
	v := s.guardTCP(b2s(ctx.Method()), uri, b2s(ctx.Request.Header.Host()),
		b2s(ctx.Request.Header.Peek("Origin")), len(ctx.Request.Header.Peek("Access-Control-Request-Method")) > 0)
	if v.status != 0 {
		writeError(fastWriter(ctx), v.status, v.code, v.msg)
		return
	}
	v.setCORS(ctx.Response.Header.Set)
	if v.preflight {
		ctx.SetStatusCode(http.StatusNoContent)
		return
	}
	c, ok := s.fastBearer(life, ctx)
	if !ok {
		return
	}
	s.proxy(life, ctx, c)
}

// fastControl is the unix control socket's handler: the proxy natively (as
// the full-scope local CLI), the rest through api (the net/http control
// API). life is the server's lifetime context (serveFast).
func (s *Server) fastControl(life context.Context, ctx *fasthttp.RequestCtx, api fasthttp.RequestHandler) {
	defer s.recoverFast(ctx)
	uri := b2s(ctx.Request.Header.RequestURI())
	if refuseTarget(ctx, uri) {
		return
	}
	if !strings.HasPrefix(uri, proxyPrefix) {
		api(ctx)
		return
	}
	setFastSecurityHeaders(ctx, fastProxyCSP)
	if len(ctx.Request.Header.Peek("Origin")) > 0 {
		writeError(fastWriter(ctx), http.StatusForbidden, "forbidden_origin", "the control socket takes no browser requests")
		return
	}
	s.proxy(life, ctx, controlCaller)
}

// refuseTarget answers 400 to CONNECT and to any request target that is not
// in origin form (absolute URIs, "*"), on every route, and reports whether
// it did.
func refuseTarget(ctx *fasthttp.RequestCtx, uri string) bool {
	if !ctx.IsConnect() && strings.HasPrefix(uri, "/") {
		return false
	}
	setFastSecurityHeaders(ctx, fastAPICSP)
	writeError(fastWriter(ctx), http.StatusBadRequest, "bad_request", "only origin-form request targets are accepted")
	return true
}

// fastSecurityHeaders are securityHeaders as bytes, and the two CSPs the
// fasthttp handlers set. The names are canonical already, so they are set
// without fasthttp's normalising copy (SetCanonical: a third of Set's cost).
var (
	fastSecurityHeaders = func() (hs [len(securityHeaders)][2][]byte) {
		for i, sh := range securityHeaders {
			hs[i] = [2][]byte{[]byte(sh.name), []byte(sh.value[0])}
		}
		return hs
	}()
	fastCSPName  = []byte("Content-Security-Policy")
	fastAPICSP   = []byte(hvAPICSP[0])
	fastProxyCSP = []byte(hvProxyCSP[0])
)

func setFastSecurityHeaders(ctx *fasthttp.RequestCtx, csp []byte) {
	h := &ctx.Response.Header
	for _, sh := range fastSecurityHeaders {
		h.SetCanonical(sh[0], sh[1])
	}
	h.SetCanonical(fastCSPName, csp)
}

// fastBearer authenticates a proxied request by its bearer JWT, writing the
// 401 itself.
func (s *Server) fastBearer(life context.Context, ctx *fasthttp.RequestCtx) (*caller, bool) {
	vals := ctx.Request.Header.PeekAll("Authorization")
	if len(vals) != 1 {
		writeUnauthorized(fastWriter(ctx), "a bearer token is required")
		return nil, false
	}
	// A view of the header: verifyBearer keeps nothing of it.
	tok, ok := bearerValue(b2s(vals[0]))
	if !ok {
		writeUnauthorized(fastWriter(ctx), "a bearer token is required")
		return nil, false
	}
	c, ok := s.verifyBearer(life, tok, resourceAPI)
	if !ok {
		writeUnauthorized(fastWriter(ctx), "the bearer token is not valid")
	}
	return c, ok
}

// recoverFast turns a handler panic into a 500 (or a cut connection for
// http.ErrAbortHandler) instead of a crashed daemon.
func (s *Server) recoverFast(ctx *fasthttp.RequestCtx) {
	p := recover()
	if p == nil {
		return
	}
	ctx.Response.Header.SetConnectionClose()
	if p == http.ErrAbortHandler {
		return
	}
	s.log.Error("injector: handler panic", "panic", fmt.Sprint(p))
	ctx.Response.Reset()
	ctx.Response.Header.SetConnectionClose()
	writeError(fastWriter(ctx), http.StatusInternalServerError, "internal_error", "internal error")
}

// adapt serves a net/http handler on fasthttp. fasthttpadaptor builds the
// http.Request over fasthttp's buffers and passes the RequestCtx as its
// context, all recycled once the handler returns; but handlers keep parts
// of their request (a connect flow's integration name, a search's query in
// a fan-out past its deadline). So the handler gets a request that owns its
// strings, and a context of its own, under life (the server's lifetime:
// cancelled when it shuts down) and cancelled when the handler returns,
// carrying the connection's local address (http.LocalAddrContextKey).
func adapt(life context.Context, h http.Handler) fasthttp.RequestHandler {
	return fasthttpadaptor.NewFastHTTPHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithCancel(life)
		defer cancel()
		if rc, ok := r.Context().(*fasthttp.RequestCtx); ok {
			ctx = context.WithValue(ctx, http.LocalAddrContextKey, rc.LocalAddr())
		}
		own, err := ownedRequest(r.WithContext(ctx))
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad_request", "the request target could not be parsed")
			return
		}
		h.ServeHTTP(w, own)
	}))
}

// ownedRequest is r (a shallow copy) with every string copied out of the
// buffers it views: method, target and URL, Host, protocol, remote address
// headers and transfer codings. The body is read by the handler before it
// returns.
func ownedRequest(r *http.Request) (*http.Request, error) {
	r.Method = strings.Clone(r.Method)
	r.RequestURI = strings.Clone(r.RequestURI)
	r.Host = strings.Clone(r.Host)
	r.Proto = strings.Clone(r.Proto)
	r.RemoteAddr = strings.Clone(r.RemoteAddr)
	u, err := url.ParseRequestURI(r.RequestURI)
	if err != nil {
		return nil, err
	}
	r.URL = u
	h := make(http.Header, len(r.Header))
	for k, vv := range r.Header {
		cv := make([]string, len(vv))
		for i, v := range vv {
			cv[i] = strings.Clone(v)
		}
		h[strings.Clone(k)] = cv
	}
	r.Header = h
	if te := r.TransferEncoding; te != nil {
		r.TransferEncoding = make([]string, len(te))
		for i, v := range te {
			r.TransferEncoding[i] = strings.Clone(v)
		}
	}
	return r, nil
}

// fastResponse is an http.ResponseWriter over a fasthttp response, for the
// proxy's error answers (the JSON writers take an http.ResponseWriter).
type fastResponse struct {
	ctx   *fasthttp.RequestCtx
	hdr   http.Header
	wrote bool
}

func fastWriter(ctx *fasthttp.RequestCtx) *fastResponse {
	return &fastResponse{ctx: ctx, hdr: make(http.Header, 4)}
}

func (f *fastResponse) Header() http.Header { return f.hdr }

func (f *fastResponse) WriteHeader(code int) {
	if f.wrote {
		return
	}
	f.wrote = true
	for k, vv := range f.hdr {
		f.ctx.Response.Header.Del(k)
		for _, v := range vv {
			f.ctx.Response.Header.Add(k, v)
		}
	}
	f.ctx.SetStatusCode(code)
}

func (f *fastResponse) Write(p []byte) (int, error) {
	f.WriteHeader(http.StatusOK)
	return f.ctx.Write(p)
}

// fastLogger sends fasthttp's own messages (connection errors, with request
// contents left out by SecureErrorLogMessage) to the debug log.
type fastLogger struct{ log *slog.Logger }

func (l fastLogger) Printf(format string, args ...any) {
	l.log.Debug("injector: http", "message", fmt.Sprintf(format, args...))
}

// b2s views b as a string without copying; the string must not outlive b
// (fasthttp's buffers are reused once the handler returns).
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
