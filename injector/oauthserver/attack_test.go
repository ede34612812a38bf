package oauthserver

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// TestMetadataDocumentIsNotFetchedFromThisMachineOrItsNetwork: a client id
// is a URL anyone (a web page sending the person's browser to
// /oauth2/authorize) chooses, so by default the daemon does not open a
// connection to loopback or private addresses for it.
func TestMetadataDocumentIsNotFetchedFromThisMachineOrItsNetwork(t *testing.T) {
	t.Parallel()
	h := newHarness(t) // the default HTTPClient
	var conns atomic.Int32
	doc := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	doc.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	doc.StartTLS()
	defer doc.Close()
	_, ch := pkce()
	if resp := h.authorize(authParams(doc.URL+"/client.json", "http://127.0.0.1/cb", ch)); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("authorize with a loopback document: %d", resp.StatusCode)
	}
	if n := conns.Load(); n != 0 {
		t.Fatalf("the daemon connected %d times to %s for a client id", n, doc.URL)
	}
	for ip, public := range map[string]bool{
		"127.0.0.1": false, "10.1.2.3": false, "192.168.0.1": false, "172.16.0.9": false, "169.254.169.254": false,
		"::1": false, "fe80::1": false, "fd00::1": false, "0.0.0.0": false, "100.64.0.1": false, "::ffff:10.0.0.1": false,
		"93.184.216.34": true, "2606:2800:220:1::1": true,
	} {
		if got := publicAddress(net.ParseIP(ip)); got != public {
			t.Errorf("publicAddress(%s) = %v, want %v", ip, got, public)
		}
	}
}

// TestMetadataDocumentsAreNotKept: each client id URL fetched is not added
// to the saved state, so requests naming made-up documents cannot grow it.
func TestMetadataDocumentsAreNotKept(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	doc := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"client_id":%q,"redirect_uris":["http://127.0.0.1/cb"]}`, "https://"+r.Host+r.URL.Path)
	}))
	defer doc.Close()
	h.srv.cfg.HTTPClient = doc.Client()
	for i := range 20 {
		_, ch := pkce()
		if resp := h.authorize(authParams(fmt.Sprintf("%s/c%d.json", doc.URL, i), "http://127.0.0.1/cb", ch)); resp.StatusCode != http.StatusOK {
			t.Fatalf("authorize %d: %d", i, resp.StatusCode)
		}
	}
	h.srv.mu.Lock()
	n := len(h.srv.st.Clients)
	h.srv.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d fetched documents kept as clients", n)
	}
}

// TestAuthorizeRefusesRequestsThatAreNotNavigations: a page's image, frame
// or fetch of /oauth2/authorize (Sec-Fetch-Dest other than "document"),
// even from a same-site page on another loopback port, opens no consent
// window on the desktop.
func TestAuthorizeRefusesRequestsThatAreNotNavigations(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.register("http://127.0.0.1/cb")
	for _, dest := range []string{"image", "iframe", "empty", "script"} {
		_, ch := pkce()
		req, _ := http.NewRequest("GET", h.ts.URL+AuthorizePath+"?"+authParams(id, "http://127.0.0.1/cb", ch).Encode(), nil)
		req.Header.Set("Sec-Fetch-Dest", dest)
		req.Header.Set("Sec-Fetch-Site", "same-site") // a page on another loopback port
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("Sec-Fetch-Dest %s: %d", dest, resp.StatusCode)
		}
	}
	h.prompts.mu.Lock()
	n := len(h.prompts.reqs)
	h.prompts.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d consent windows opened for requests that were not navigations", n)
	}
	// A navigation (the app opening the browser, or a link) still asks.
	_, ch := pkce()
	req, _ := http.NewRequest("GET", h.ts.URL+AuthorizePath+"?"+authParams(id, "http://127.0.0.1/cb", ch).Encode(), nil)
	req.Header.Set("Sec-Fetch-Dest", "document")
	req.Header.Set("Sec-Fetch-Mode", "navigate")
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || h.prompts.last(t).ClientID != id {
		t.Fatalf("a navigation: %d", resp.StatusCode)
	}
}
