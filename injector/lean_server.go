package injector

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// leanServer serves HTTP/1.1 on the TCP listener with one goroutine per
// connection and nothing else per request. net/http's server starts a
// background read per request (to notice a client going away) and hands the
// connection between goroutines; on a loaded machine those wake-ups are a
// large part of what a proxy costs. Parsing is net/http's (http.ReadRequest,
// Header.Write); this type only frames responses (Content-Length when the
// body is known at the end, chunked otherwise) and manages keep-alive,
// timeouts and graceful shutdown. A request's context is cancelled when its
// handler returns or the server is force-closed, not when the client
// disconnects mid-request (a write to it then fails instead).
type leanServer struct {
	handler           http.Handler
	log               *slog.Logger
	baseCtx           context.Context
	readHeaderTimeout time.Duration
	idleTimeout       time.Duration
	maxHeaderBytes    int

	mu      sync.Mutex
	conns   map[*leanConn]bool // → active (serving a request)
	closing bool
	wg      sync.WaitGroup
	date    dateCache
}

type leanConn struct {
	c  net.Conn
	lr *limitReader
	br *bufio.Reader
	bw *bufio.Writer
}

// limitReader caps the bytes read while a request head is parsed.
type limitReader struct {
	r io.Reader
	n int64 // < 0: unlimited
}

var errHeaderTooLarge = errors.New("request header too large")

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		return l.r.Read(p)
	}
	if l.n == 0 {
		return 0, errHeaderTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

func serveLean(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) error {
	s := &leanServer{
		handler:           h,
		log:               log,
		baseCtx:           context.WithoutCancel(ctx),
		readHeaderTimeout: 10 * time.Second,
		idleTimeout:       2 * time.Minute,
		maxHeaderBytes:    64 << 10,
		conns:             make(map[*leanConn]bool),
	}
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var tempDelay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return s.shutdown(30 * time.Second)
			}
			if errors.Is(err, net.ErrClosed) {
				s.shutdown(0)
				return err
			}
			// Anything else (EMFILE, ECONNABORTED, …) is transient: back
			// off and keep accepting.
			tempDelay = min(max(2*tempDelay, 5*time.Millisecond), time.Second)
			time.Sleep(tempDelay)
			continue
		}
		tempDelay = 0
		lc := &leanConn{c: c}
		lc.lr = &limitReader{r: c, n: -1}
		lc.br = bufio.NewReaderSize(lc.lr, 4<<10)
		lc.bw = bufio.NewWriterSize(c, 4<<10)
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			c.Close()
			continue
		}
		s.conns[lc] = false
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(lc)
	}
}

// shutdown closes idle connections and waits (up to grace) for active ones
// to finish their request; then closes whatever is left.
func (s *leanServer) shutdown(grace time.Duration) error {
	s.mu.Lock()
	s.closing = true
	for lc, active := range s.conns {
		if !active {
			lc.c.Close()
		}
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(grace):
	}
	s.mu.Lock()
	for lc := range s.conns {
		lc.c.Close()
	}
	s.mu.Unlock()
	<-done
	return nil
}

// setActive marks lc; it returns false when the server is closing and lc
// should stop.
func (s *leanServer) setActive(lc *leanConn, active bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing && !active {
		return false
	}
	s.conns[lc] = active
	return true
}

func (s *leanServer) serveConn(lc *leanConn) {
	defer func() {
		lc.c.Close()
		s.mu.Lock()
		delete(s.conns, lc)
		s.mu.Unlock()
		s.wg.Done()
	}()
	for {
		if !s.setActive(lc, false) {
			return
		}
		lc.c.SetReadDeadline(time.Now().Add(s.idleTimeout))
		if _, err := lc.br.Peek(1); err != nil {
			return
		}
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			return
		}
		s.conns[lc] = true
		s.mu.Unlock()
		lc.c.SetReadDeadline(time.Now().Add(s.readHeaderTimeout))
		lc.lr.n = int64(s.maxHeaderBytes) - int64(lc.br.Buffered())
		if lc.lr.n < 0 {
			lc.lr.n = 0
		}
		req, err := http.ReadRequest(lc.br)
		lc.lr.n = -1
		if err != nil {
			status := http.StatusBadRequest
			if errors.Is(err, errHeaderTooLarge) {
				status = http.StatusRequestHeaderFieldsTooLarge
			}
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				fmt.Fprintf(lc.c, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n%s\n",
					status, http.StatusText(status), http.StatusText(status))
			}
			return
		}
		lc.c.SetReadDeadline(time.Time{})
		if !s.serveRequest(lc, req) {
			return
		}
	}
}

// serveRequest runs the handler for req and reports whether the connection
// may serve another request.
func (s *leanServer) serveRequest(lc *leanConn, req *http.Request) (keep bool) {
	ctx, cancel := context.WithCancel(s.baseCtx)
	defer cancel()
	req = req.WithContext(ctx)
	req.RemoteAddr = lc.c.RemoteAddr().String()
	// The handler's Close must not read an endless body to its end; what
	// is left is drained (boundedly) below.
	rawBody := req.Body
	if rawBody != nil && rawBody != http.NoBody {
		req.Body = &earlyCloseBody{r: rawBody}
	}
	w := &leanResponse{srv: s, lc: lc, req: req, hdr: make(http.Header, 8), contentLength: -1}
	w.closeAfter = req.Close || req.ProtoMajor != 1 || req.ProtoMinor == 0
	if req.ProtoMajor != 1 {
		w.hdr.Set("Connection", "close")
		w.WriteHeader(http.StatusHTTPVersionNotSupported)
		w.finish()
		return false
	}
	if e := req.Header.Get("Expect"); e != "" {
		if !strings.EqualFold(e, "100-continue") {
			w.closeAfter = true
			w.WriteHeader(http.StatusExpectationFailed)
			w.finish()
			return false
		}
		if req.ContentLength != 0 {
			lc.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
			lc.bw.Flush()
		}
	}
	func() {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					w.closeAfter = true
					return
				}
				s.log.Error("injector: handler panic", "panic", fmt.Sprint(p))
				w.closeAfter = true
				if !w.wroteHeader {
					w.hdr = http.Header{}
					w.WriteHeader(http.StatusInternalServerError)
				}
			}
		}()
		s.handler.ServeHTTP(w, req)
	}()
	if err := w.finish(); err != nil {
		return false
	}
	// Drain what the handler did not read of the body, within reason.
	if rawBody != nil && rawBody != http.NoBody {
		n, err := io.CopyN(io.Discard, rawBody, 256<<10+1)
		if n > 256<<10 || (err != nil && err != io.EOF) {
			return false
		}
	}
	return !w.closeAfter
}

// earlyCloseBody is a request body whose Close does not read the rest.
type earlyCloseBody struct {
	r      io.Reader
	closed bool
}

func (b *earlyCloseBody) Read(p []byte) (int, error) {
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	return b.r.Read(p)
}

func (b *earlyCloseBody) Close() error { b.closed = true; return nil }

// leanResponse is the http.ResponseWriter of leanServer.
type leanResponse struct {
	srv           *leanServer
	lc            *leanConn
	req           *http.Request
	hdr           http.Header
	status        int
	wroteHeader   bool // WriteHeader called (status decided)
	headerSent    bool // status line and headers written to the conn
	chunked       bool
	contentLength int64 // declared, -1 if not
	written       int64
	buf           []byte // body held until the head is sent
	closeAfter    bool
	err           error
}

func (w *leanResponse) Header() http.Header { return w.hdr }

func (w *leanResponse) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		return // interim responses are not supported; ignore
	}
	w.wroteHeader = true
	w.status = code
	if cl := w.hdr.Get("Content-Length"); cl != "" {
		if v, err := strconv.ParseInt(cl, 10, 64); err == nil && v >= 0 {
			w.contentLength = v
		} else {
			w.hdr.Del("Content-Length")
		}
	}
}

func bodyAllowed(status int) bool {
	return !(status >= 100 && status < 200 || status == http.StatusNoContent || status == http.StatusNotModified)
}

func (w *leanResponse) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return 0, w.err
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if w.req.Method == http.MethodHead {
		w.written += int64(len(p))
		return len(p), nil
	}
	if w.contentLength >= 0 && w.written+int64(len(p)) > w.contentLength {
		return 0, http.ErrContentLength
	}
	w.written += int64(len(p))
	if !w.headerSent {
		if len(w.buf)+len(p) <= 4<<10 {
			w.buf = append(w.buf, p...)
			return len(p), nil
		}
		if err := w.sendHead(false); err != nil {
			return 0, err
		}
	}
	return w.writeBody(p)
}

func (w *leanResponse) writeBody(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var err error
	if w.chunked {
		bw := w.lc.bw
		bw.WriteString(strconv.FormatInt(int64(len(p)), 16))
		bw.WriteString("\r\n")
		bw.Write(p)
		_, err = bw.WriteString("\r\n")
	} else {
		_, err = w.lc.bw.Write(p)
	}
	if err != nil {
		w.err = err
		return 0, err
	}
	return len(p), nil
}

// dateCache formats the Date header once a second.
type dateCache struct {
	mu    sync.Mutex
	sec   int64
	value []string
}

func (d *dateCache) get() []string {
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if now.Unix() != d.sec {
		d.sec = now.Unix()
		d.value = []string{now.UTC().Format(http.TimeFormat)}
	}
	return d.value
}

// sendHead writes the status line and headers. final: the handler has
// returned, so a buffered body's length is known.
func (w *leanResponse) sendHead(final bool) error {
	w.headerSent = true
	h := w.hdr
	allowed := bodyAllowed(w.status)
	switch {
	case !allowed:
		h.Del("Content-Length")
		h.Del("Transfer-Encoding")
	case w.contentLength >= 0:
		h.Del("Transfer-Encoding")
	case final:
		w.contentLength = w.written
		if w.req.Method != http.MethodHead || w.written > 0 {
			h["Content-Length"] = []string{strconv.FormatInt(w.written, 10)}
		}
	case w.req.ProtoMinor >= 1:
		w.chunked = true
		h.Del("Content-Length")
		h["Transfer-Encoding"] = []string{"chunked"}
	default:
		w.closeAfter = true
	}
	if allowed && w.written > 0 && h.Get("Content-Type") == "" && h.Get("Content-Encoding") == "" {
		h["Content-Type"] = []string{http.DetectContentType(w.buf)}
	}
	if _, ok := h["Date"]; !ok {
		h["Date"] = w.srv.date.get()
	}
	if w.closeAfter {
		h["Connection"] = []string{"close"}
	} else if strings.EqualFold(h.Get("Connection"), "close") {
		w.closeAfter = true
	}
	bw := w.lc.bw
	bw.WriteString("HTTP/1.1 ")
	bw.WriteString(strconv.Itoa(w.status))
	bw.WriteByte(' ')
	bw.WriteString(http.StatusText(w.status))
	bw.WriteString("\r\n")
	h.Write(bw)
	bw.WriteString("\r\n")
	if len(w.buf) > 0 {
		buf := w.buf
		w.buf = nil
		if _, err := w.writeBody(buf); err != nil {
			return err
		}
	}
	return nil
}

// FlushError sends what is buffered (the head first); used by
// http.ResponseController and Flush.
func (w *leanResponse) FlushError() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.headerSent {
		if err := w.sendHead(false); err != nil {
			return err
		}
	}
	if err := w.lc.bw.Flush(); err != nil {
		w.err = err
		return err
	}
	return w.err
}

// Flush implements http.Flusher.
func (w *leanResponse) Flush() { w.FlushError() }

// finish completes the response after the handler returned.
func (w *leanResponse) finish() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.headerSent {
		if err := w.sendHead(true); err != nil {
			return err
		}
	}
	if w.chunked {
		w.lc.bw.WriteString("0\r\n\r\n")
	}
	if w.contentLength >= 0 && w.written < w.contentLength && w.req.Method != http.MethodHead && bodyAllowed(w.status) {
		w.closeAfter = true // short body: the framing is broken
	}
	if err := w.lc.bw.Flush(); err != nil {
		return err
	}
	return w.err
}
