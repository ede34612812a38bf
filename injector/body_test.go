package injector

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// Upstream bodies: a long one streams through whole, a short one of unknown
// length goes out with a Content-Length, an event stream is passed on as
// it arrives, and request bodies reach the upstream intact.
func TestProxyBodies(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok := e.mint("docebo")

	resp, body := e.do("GET", "/v1/proxy/docebo/api/big", tok, nil, nil)
	var want bytes.Buffer
	for i := range 200 {
		want.Write(bytes.Repeat([]byte{byte('a' + i%26)}, 1024))
	}
	if resp.StatusCode != 200 || body != want.String() {
		t.Fatalf("big body: %d, %d bytes (want %d)", resp.StatusCode, len(body), want.Len())
	}

	resp, body = e.do("GET", "/v1/proxy/docebo/api/small-chunked", tok, nil, nil)
	if resp.StatusCode != 200 || body != "part one, part two" || resp.ContentLength != int64(len(body)) {
		t.Fatalf("small chunked body: %d %q, Content-Length %d", resp.StatusCode, body, resp.ContentLength)
	}

	resp, body = e.do("POST", "/v1/proxy/docebo/api/echo-body", tok, map[string]string{"Content-Type": "text/plain"},
		strings.NewReader(strings.Repeat("payload ", 10000)))
	if resp.StatusCode != 200 || body != strings.Repeat("payload ", 10000) {
		t.Fatalf("request body: %d, %d bytes back", resp.StatusCode, len(body))
	}

	// The first event arrives while the upstream still holds the stream.
	req, _ := http.NewRequest("GET", e.base+"/v1/proxy/docebo/api/sse-live", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	sresp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer sresp.Body.Close()
	br := bufio.NewReader(sresp.Body)
	if line, err := br.ReadString('\n'); err != nil || line != "data: first\n" {
		t.Fatalf("first event: %q %v", line, err)
	}
	close(e.release)
	var rest strings.Builder
	br.WriteTo(&rest)
	if !strings.Contains(rest.String(), "data: second\n") {
		t.Fatalf("second event: %q", rest.String())
	}
}

// A request body over the limit is refused from its Content-Length, before
// anything is read, opened or forwarded.
func TestProxyBodyTooLarge(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok := e.mint("docebo")
	resp, body := e.raw("POST /v1/proxy/docebo/api/echo-body HTTP/1.1\r\nHost: " + e.addr +
		"\r\nAuthorization: Bearer " + tok + "\r\nContent-Length: 67108865\r\n\r\nx")
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, "body_too_large") {
		t.Fatalf("oversized body: %d %s", resp.StatusCode, body)
	}
	if n := len(e.up.all()); n != 0 {
		t.Fatalf("the upstream saw %d requests", n)
	}
}

// Request heads over the limit get 431, without a crash or a hang; HEAD
// through the proxy gets the upstream's length and no body.
func TestProxyHeadLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok := e.mint("docebo")
	resp, _ := e.raw("GET /v1/proxy/docebo/api/x HTTP/1.1\r\nHost: " + e.addr +
		"\r\nAuthorization: Bearer " + tok + "\r\nX-Big: " + strings.Repeat("b", 40<<10) + "\r\n\r\n")
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("oversized head: %d", resp.StatusCode)
	}
	resp, body := e.raw("HEAD /v1/proxy/docebo/api/small-chunked HTTP/1.1\r\nHost: " + e.addr +
		"\r\nAuthorization: Bearer " + tok + "\r\nConnection: close\r\n\r\n")
	if resp.StatusCode != 200 || body != "" {
		t.Fatalf("HEAD: %d %q", resp.StatusCode, body)
	}
}

// What a net/http handler keeps of its request (here the integration name a
// connect flow stores) stays intact after later requests reuse the
// connection's buffers.
func TestAdaptedRequestOutlivesHandler(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok := e.mint("*")
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	send := func(method, path string) int {
		t.Helper()
		fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Length: 0\r\n\r\n", method, path, e.addr, tok)
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := send("POST", "/v1/integrations/docebo/connect"); code != 200 {
		t.Fatalf("connect: %d", code)
	}
	// Same connection, same offsets, other bytes.
	send("POST", "/v1/integrations/zzzzzz/connect")
	send("GET", "/v1/status")
	e.be.mu.Lock()
	first := e.be.started[0]
	e.be.mu.Unlock()
	if first != "docebo" {
		t.Fatalf("the name kept from the first request became %q", first)
	}
}
