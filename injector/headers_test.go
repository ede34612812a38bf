package injector

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Every caller header by which an upstream (or a proxy or CDN in front of
// it) could be told another client address, another URL, host or method,
// or the caller's credentials, is dropped by the real proxy before the
// upstream; ordinary API headers go through.
func TestProxyRequestHeaderFilter(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok := e.mint("docebo")
	dropped := []string{
		"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-Port", "X-Forwarded-Server",
		"X_Forwarded_For", "Forwarded", "Via", "X-Real-IP", "X_Real_IP", "X-Client-IP", "X_Client_IP",
		"Client-IP", "True-Client-IP", "True_Client_IP", "CF-Connecting-IP", "CF_Connecting_IP",
		"CF-Connecting-IPv6", "Fastly-Client-IP", "X-Cluster-Client-IP", "X_Cluster_Client_IP",
		"X-Originating-IP", "X-Remote-IP", "X-Remote-Addr", "X-ProxyUser-Ip", "WL-Proxy-Client-IP",
		"Proxy-Client-IP", "X-Envoy-External-Address", "Akamai-Client-IP", "X-Host",
		"X-Original-URL", "X_Original_URL", "X-Original-URI", "X-Rewrite-URL", "X-Override-URL",
		"X-Original-Host", "X-HTTP-Method-Override", "X_HTTP_Method_Override", "X-HTTP-Method",
		"X-Method-Override", "X-Original-Method", "X-HTTP-Host-Override",
		"Cookie", "Cookie2", "Proxy-Authorization", "Referer", "Sec-Fetch-Site",
	}
	kept := []string{"Accept", "Content-Language", "If-None-Match", "X-Custom", "X-Request-Id", "Api-Version"}
	for _, h := range dropped {
		t.Run(h, func(t *testing.T) {
			n := e.up.count()
			resp, body := e.do("GET", "/v1/proxy/docebo/api/items", tok, map[string]string{h: "6.6.6.6", "X-Custom": "kept"}, nil)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			all := e.up.all()
			if len(all) != n+1 {
				t.Fatalf("upstream saw %d requests, want %d", len(all), n+1)
			}
			got := all[len(all)-1].Header
			want := strings.ToLower(strings.ReplaceAll(h, "_", "-"))
			for k := range got {
				if strings.ToLower(strings.ReplaceAll(k, "_", "-")) == want {
					t.Fatalf("%s reached the upstream as %s: %q", h, k, got[k])
				}
			}
			if got.Get("X-Custom") != "kept" {
				t.Fatalf("an ordinary header was dropped with %s: %v", h, got)
			}
		})
	}
	hdr := map[string]string{}
	for _, h := range kept {
		hdr[h] = "v-" + h
	}
	if resp, _ := e.do("GET", "/v1/proxy/docebo/api/items", tok, hdr, nil); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	all := e.up.all()
	for _, h := range kept {
		if v := all[len(all)-1].Header.Get(h); v != "v-"+h {
			t.Errorf("%s not forwarded (%q)", h, v)
		}
	}
}

// Upstream headers that would act on the injector's origin are not passed
// back; ordinary ones are.
func TestProxyResponseHeaderFilter(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok := e.mint("docebo")
	dropped := map[string]string{
		"Set-Cookie":                          "sess=upstream",
		"Clear-Site-Data":                     `"*"`,
		"Refresh":                             "0; url=http://" + e.addr + "/v1/status",
		"Link":                                "</v1/status>; rel=preload",
		"Alt-Svc":                             `h3=":443"`,
		"Strict-Transport-Security":           "max-age=31536000",
		"Nel":                                 `{"report_to":"x"}`,
		"Report-To":                           `{"group":"x"}`,
		"Reporting-Endpoints":                 `x="https://evil.example/r"`,
		"Service-Worker-Allowed":              "/",
		"Content-Security-Policy-Report-Only": "default-src *",
		"Access-Control-Allow-Origin":         "*",
		"Cross-Origin-Resource-Policy":        "cross-origin",
		"Permissions-Policy":                  "camera=*",
	}
	kept := map[string]string{"Etag": `"v1"`, "Cache-Control": "private", "X-Upstream": "yes", "Retry-After": "3"}
	q := url.Values{}
	for k, v := range dropped {
		q.Add("h", k+": "+v)
	}
	for k, v := range kept {
		q.Add("h", k+": "+v)
	}
	resp, _ := e.do("GET", "/v1/proxy/docebo/api/reply?"+q.Encode(), tok, nil, nil)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for k := range dropped {
		if v := resp.Header.Values(k); len(v) != 0 {
			t.Errorf("upstream %s passed back: %q", k, v)
		}
	}
	for k, v := range kept {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("upstream %s: got %q, want %q", k, got, v)
		}
	}
}

// An upstream Location is never one that makes a redirect-following caller
// send its JWT to the injector outside the integration it called: any
// spelling of the injector's own listener is dropped, a path outside the
// base path is made absolute on the upstream's origin.
func TestProxyLocationNeverPointsAtTheInjector(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok := e.mint("docebo")
	_, port, _ := net.SplitHostPort(e.addr)
	up := e.up.srv.URL
	for _, tc := range []struct{ loc, want string }{
		// kept or rewritten
		{"/base/api/echo?x=1", "/v1/proxy/docebo/api/echo?x=1"},
		{up + "/base/api/echo", "/v1/proxy/docebo/api/echo"},
		{"https://elsewhere.example/page", "https://elsewhere.example/page"},
		{"http://127.0.0.1:1/other-port", "http://127.0.0.1:1/other-port"},
		{"/v1/status", up + "/v1/status"},
		{"../../v1/status", up + "/v1/status"},
		{"/menu", up + "/menu"},
		// the injector itself, in every spelling: dropped
		{"http://" + e.addr + "/v1/status", ""},
		{"http://127.0.0.1:" + port + "/v1/proxy/document360/x", ""},
		{"http://localhost:" + port + "/v1/status", ""},
		{"http://LOCALHOST.:" + port + "/v1/status", ""},
		{"http://app.localhost:" + port + "/v1/status", ""},
		{"http://[::1]:" + port + "/v1/status", ""},
		{"http://[::ffff:127.0.0.1]:" + port + "/v1/status", ""},
		{"http://127.1:" + port + "/v1/status", ""},
		{"http://127.0.0.2:" + port + "/v1/status", ""},
		{"http://2130706433:" + port + "/v1/status", ""},
		{"http://0x7f.0.0.1:" + port + "/v1/status", ""},
		{"http://0177.0.0.1:" + port + "/v1/status", ""},
		{"http://0.0.0.0:" + port + "/v1/status", ""},
		{"http://0:" + port + "/v1/status", ""},
		{"//127.0.0.1:" + port + "/v1/status", ""},
		{"http://127.0.0.1:0" + port + "/v1/status", ""},
		// not http(s), or a proxy path cleanProxyPath refuses: dropped
		{"javascript:alert(1)", ""},
		{"/base/api/%2e%2e/%2e%2e/v1/status", ""},
		{"/base/api//x", ""},
	} {
		t.Run(tc.loc, func(t *testing.T) {
			resp, _ := e.do("GET", "/v1/proxy/docebo/api/reply?"+url.Values{"h": {"Location: " + tc.loc}}.Encode(), tok, nil, nil)
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if got := resp.Header.Values("Location"); tc.want == "" && len(got) != 0 || tc.want != "" && (len(got) != 1 || got[0] != tc.want) {
				t.Fatalf("Location %q passed back as %q, want %q", tc.loc, got, tc.want)
			}
		})
	}
}
