package injector

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

// An upstream that silently closes each connection after one response: the
// pool's reused connection is stale, and the request is retried once on a
// new connection (replayable body), so the caller never sees the failure.
func TestUpstreamPoolStaleConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			go func(c net.Conn) {
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				b, _ := io.ReadAll(req.Body)
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: "+itoa(len(b)+2)+"\r\n\r\nok"+string(b))
			}(c)
		}
	}()
	p := newUpstreamPool()
	u, _ := url.Parse("http://" + ln.Addr().String() + "/x")
	for i := 0; i < 3; i++ {
		body := "body" + itoa(i)
		req, _ := http.NewRequestWithContext(context.Background(), "POST", u.String(), strings.NewReader(body))
		resp, err := p.RoundTrip(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(got) != "ok"+body {
			t.Fatalf("request %d: body %q", i, got)
		}
	}
	if accepted.Load() < 3 {
		t.Fatalf("accepted %d connections for 3 requests on a closing upstream", accepted.Load())
	}
}

// A keep-alive upstream: connections are reused, and a body closed before
// its end does not put a half-read connection back.
func TestUpstreamPoolReuse(t *testing.T) {
	var conns atomic.Int64
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, strings.Repeat("y", 100<<10))
		}),
		ConnState: func(c net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		},
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	defer srv.Close()
	p := newUpstreamPool()
	get := func(readAll bool) {
		req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/", nil)
		resp, err := p.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		if readAll {
			if b, _ := io.ReadAll(resp.Body); len(b) != 100<<10 {
				t.Fatalf("short body %d", len(b))
			}
		} else {
			resp.Body.Read(make([]byte, 10))
		}
		resp.Body.Close()
	}
	for i := 0; i < 5; i++ {
		get(true)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for 5 sequential requests", n)
	}
	get(false) // abandoned mid-body: connection dropped
	get(true)
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections; the half-read one must not be reused", n)
	}
}
