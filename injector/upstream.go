package injector

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// upstreamPool is the injector's lean HTTP/1.1 client for integrations: a
// keep-alive pool per origin where the request's own goroutine writes the
// request and reads the response (net/http.Transport hands each request to
// two more goroutines, which costs latency on a loaded machine). Parsing and
// writing are net/http's (http.ReadResponse, Request.Write). It never
// follows redirects, never uses a proxy from the environment, and dials
// only the request URL's host.
type upstreamPool struct {
	dialer         net.Dialer
	tls            *tls.Config
	maxIdlePerHost int
	idleTimeout    time.Duration
	headerTimeout  time.Duration

	mu   sync.Mutex
	idle map[string][]*pconn // "scheme://host:port" → idle conns, most recent last
}

type pconn struct {
	c      net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	idleAt time.Time
}

func newUpstreamPool() *upstreamPool {
	return &upstreamPool{
		dialer:         net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second},
		tls:            &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}},
		maxIdlePerHost: 512,
		idleTimeout:    50 * time.Second,
		headerTimeout:  60 * time.Second,
		idle:           make(map[string][]*pconn),
	}
}

func (p *upstreamPool) get(ctx context.Context, key, scheme, host string) (*pconn, bool, error) {
	now := time.Now()
	p.mu.Lock()
	for l := p.idle[key]; len(l) > 0; l = p.idle[key] {
		pc := l[len(l)-1]
		p.idle[key] = l[:len(l)-1]
		if now.Sub(pc.idleAt) < p.idleTimeout {
			p.mu.Unlock()
			return pc, true, nil
		}
		pc.c.Close()
	}
	p.mu.Unlock()
	addr := host
	if _, _, err := net.SplitHostPort(host); err != nil {
		if scheme == "https" {
			addr = net.JoinHostPort(host, "443")
		} else {
			addr = net.JoinHostPort(host, "80")
		}
	}
	c, err := p.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, false, err
	}
	if scheme == "https" {
		cfg := p.tls.Clone()
		cfg.ServerName, _, _ = net.SplitHostPort(addr)
		tc := tls.Client(c, cfg)
		hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			c.Close()
			return nil, false, err
		}
		c = tc
	}
	return &pconn{c: c, br: bufio.NewReaderSize(c, 8<<10), bw: bufio.NewWriterSize(c, 8<<10)}, false, nil
}

func (p *upstreamPool) put(key string, pc *pconn) {
	pc.idleAt = time.Now()
	p.mu.Lock()
	if l := p.idle[key]; len(l) < p.maxIdlePerHost {
		p.idle[key] = append(l, pc)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	pc.c.Close()
}

var errNothingRead = errors.New("connection closed before a response")

// RoundTrip sends req (http or https, HTTP/1.1) and returns the response,
// whose body returns the connection to the pool once read to the end. A
// request that fails on a reused connection before any response byte is
// retried once on a new one when its body can be replayed (GetBody or none).
func (p *upstreamPool) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	u := req.URL
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, errors.New("unsupported scheme")
	}
	key := u.Scheme + "://" + u.Host
	replayable := req.Body == nil || req.GetBody != nil
	for attempt := 0; ; attempt++ {
		pc, reused, err := p.get(ctx, key, u.Scheme, u.Host)
		if err != nil {
			return nil, err
		}
		if attempt > 0 && req.GetBody != nil {
			if req.Body, err = req.GetBody(); err != nil {
				pc.c.Close()
				return nil, err
			}
		}
		stop := context.AfterFunc(ctx, func() { pc.c.Close() })
		resp, err := p.exchange(pc, req)
		if err != nil {
			stop()
			pc.c.Close()
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if reused && replayable && attempt == 0 && errors.Is(err, errNothingRead) {
				continue
			}
			return nil, err
		}
		resp.Body = &pooledBody{rc: resp.Body, pc: pc, pool: p, key: key, stop: stop,
			keep: !resp.Close && !req.Close}
		return resp, nil
	}
}

func (p *upstreamPool) exchange(pc *pconn, req *http.Request) (*http.Response, error) {
	if err := req.Write(pc.bw); err != nil {
		return nil, errNothingReadIf(err, true)
	}
	if err := pc.bw.Flush(); err != nil {
		return nil, errNothingReadIf(err, true)
	}
	pc.c.SetReadDeadline(time.Now().Add(p.headerTimeout))
	if _, err := pc.br.Peek(1); err != nil {
		return nil, errNothingReadIf(err, true)
	}
	for {
		resp, err := http.ReadResponse(pc.br, req)
		if err != nil {
			return nil, err
		}
		// Skip interim responses (100 Continue, 103 Early Hints).
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			continue
		}
		// A small body of known length is read under the same deadline
		// (saving a timer update per request); others may stream for long.
		if resp.ContentLength < 0 || resp.ContentLength > 1<<20 {
			pc.c.SetReadDeadline(time.Time{})
		}
		return resp, nil
	}
}

func errNothingReadIf(err error, nothing bool) error {
	if nothing {
		return errors.Join(errNothingRead, err)
	}
	return err
}

// pooledBody hands the connection back to the pool at EOF; closing it
// before EOF closes the connection.
type pooledBody struct {
	rc   io.ReadCloser
	pc   *pconn
	pool *upstreamPool
	key  string
	stop func() bool
	keep bool
	done bool
}

func (b *pooledBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.release(true)
	} else if err != nil {
		b.release(false)
	}
	return n, err
}

func (b *pooledBody) Close() error {
	if !b.done {
		b.release(false)
	}
	return nil
}

func (b *pooledBody) release(eof bool) {
	b.done = true
	b.rc.Close()
	// stop is false when the context already closed the connection.
	if b.stop() && eof && b.keep && b.pc.br.Buffered() == 0 {
		b.pool.put(b.key, b.pc)
		return
	}
	b.pc.c.Close()
}
