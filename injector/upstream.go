package injector

import (
	"crypto/tls"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// upstreams holds one keep-alive client per integration origin
// (fasthttp.HostClient). A client dials only its own origin's host, never
// follows redirects and ignores the environment's proxy settings: the
// token goes straight to the integration.
type upstreams struct {
	mu sync.RWMutex
	m  map[upstreamKey]*fasthttp.HostClient
}

// upstreamKey is an origin: a base URL's scheme and host.
type upstreamKey struct{ scheme, host string }

const (
	upstreamDialTimeout = 10 * time.Second
	// upstreamReadTimeout bounds a whole response, body included.
	upstreamReadTimeout  = 5 * time.Minute
	upstreamWriteTimeout = time.Minute
	upstreamMaxConns     = 512
	upstreamIdle         = 50 * time.Second
	upstreamHeaderBytes  = 32 << 10
)

func newUpstreams() *upstreams { return &upstreams{m: make(map[upstreamKey]*fasthttp.HostClient)} }

// client returns the client of base's origin (scheme http or https).
func (u *upstreams) client(base *url.URL) *fasthttp.HostClient {
	key := upstreamKey{base.Scheme, base.Host}
	u.mu.RLock()
	hc := u.m[key]
	u.mu.RUnlock()
	if hc != nil {
		return hc
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if hc := u.m[key]; hc != nil {
		return hc
	}
	addr := base.Host
	if base.Port() == "" {
		port := "80"
		if base.Scheme == "https" {
			port = "443"
		}
		addr = net.JoinHostPort(base.Hostname(), port)
	}
	hc = &fasthttp.HostClient{
		Addr:      addr,
		IsTLS:     base.Scheme == "https",
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12, ServerName: base.Hostname()},
		Dial: func(addr string) (net.Conn, error) {
			return fasthttp.DialTimeout(addr, upstreamDialTimeout)
		},
		MaxConns:                 upstreamMaxConns,
		MaxIdleConnDuration:      upstreamIdle,
		ReadTimeout:              upstreamReadTimeout,
		WriteTimeout:             upstreamWriteTimeout,
		ReadBufferSize:           upstreamHeaderBytes,
		MaxConnWaitTimeout:       upstreamDialTimeout,
		DisablePathNormalizing:   true,
		NoDefaultUserAgentHeader: true,
		ConnPoolStrategy:         fasthttp.LIFO,
		SecureErrorLogMessage:    true,
	}
	u.m[key] = hc
	return hc
}
