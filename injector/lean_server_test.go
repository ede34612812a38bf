package injector

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The lean server's framing, on a real connection.
func TestLeanServerFraming(t *testing.T) {
	e := newEnv(t)
	tok := e.mint("*")
	host := "Host: " + e.addr + "\r\n"
	authz := "Authorization: Bearer " + tok + "\r\n"

	// Two pipelined requests on one connection, the first with a chunked
	// body and Expect: 100-continue; both answered in order.
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "POST /v1/proxy/docebo/api/items HTTP/1.1\r\n"+host+authz+
		"Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n5\r\nhello\r\n0\r\n\r\n"+
		"GET /healthz HTTP/1.1\r\n"+host+"\r\n")
	br := bufio.NewReader(c)
	line, _ := br.ReadString('\n')
	if !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("no 100 Continue: %q", line)
	}
	br.ReadString('\n')
	r1, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b1, _ := io.ReadAll(r1.Body)
	if r1.StatusCode != 200 || !strings.Contains(string(b1), "/base/api/items") {
		t.Fatalf("first: %d %s", r1.StatusCode, b1)
	}
	r2, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := io.ReadAll(r2.Body)
	if r2.StatusCode != 200 || !strings.Contains(string(b2), "ok") || r2.ContentLength != int64(len(b2)) {
		t.Fatalf("second: %d %q cl=%d", r2.StatusCode, b2, r2.ContentLength)
	}
	all := e.up.all()
	if got := all[len(all)-1]; got.Body != "hello" || got.Method != "POST" {
		t.Fatalf("chunked body arrived as %+v", got)
	}

	// HTTP/1.0: answered, then closed.
	resp, _ := e.raw("GET /healthz HTTP/1.0\r\n" + host + "\r\n")
	if resp.StatusCode != 200 || !resp.Close {
		t.Fatalf("HTTP/1.0: %d close=%v", resp.StatusCode, resp.Close)
	}
	// A huge header is refused.
	resp, _ = e.raw("GET /healthz HTTP/1.1\r\n" + host + "X-Big: " + strings.Repeat("a", 70<<10) + "\r\n\r\n")
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("huge header: %d", resp.StatusCode)
	}
	// HEAD carries no body.
	resp, body := e.raw("HEAD /healthz HTTP/1.1\r\n" + host + "\r\n")
	if resp.StatusCode != 200 || body != "" {
		t.Fatalf("HEAD: %d %q", resp.StatusCode, body)
	}
	// Garbage is a 400, not a hang.
	resp, _ = e.raw("NOT HTTP AT ALL\r\n\r\n")
	if resp.StatusCode != 400 {
		t.Fatalf("garbage: %d", resp.StatusCode)
	}
}
