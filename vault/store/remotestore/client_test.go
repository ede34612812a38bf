package remotestore_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/latchkey/latchkey/vault/store"
	"github.com/latchkey/latchkey/vault/store/remotestore"
)

// The API suite in vault/storeserver drives this client against the real
// server; these tests cover what that server never answers.

func TestErrorMapping(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status int
		body   string
		want   []error
		not    []error
	}{
		{500, `{"error":{"code":"internal","message":"x"}}`, []error{store.ErrUnavailable}, []error{store.ErrNotFound}},
		{502, `<html>bad gateway</html>`, []error{store.ErrUnavailable}, nil},
		{503, `{"error":{"code":"unavailable","message":"db"}}`, []error{store.ErrUnavailable}, nil},
		{429, ``, []error{store.ErrUnavailable}, nil},
		{410, `{"error":{"code":"revoked","message":"x"}}`, []error{remotestore.ErrRevoked, store.ErrNotFound}, nil},
		{410, `{"error":{"code":"gone","message":"x"}}`, nil, []error{remotestore.ErrRevoked}},
		{404, `{"error":{"code":"not_found","message":"x"}}`, []error{store.ErrNotFound}, []error{remotestore.ErrRevoked}},
		{412, `{"error":{"code":"conflict","message":"x"}}`, []error{store.ErrConflict}, nil},
		{401, ``, []error{remotestore.ErrUnauthorized}, nil},
		{403, ``, []error{remotestore.ErrUnauthorized}, nil},
		{400, `{"error":{"code":"bad_envelope","message":"x"}}`, nil, []error{store.ErrUnavailable, store.ErrConflict}},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(tc.status)
			w.Write([]byte(tc.body))
		}))
		c := remotestore.New(srv.URL, nil, nil)
		_, err := c.GetRecord(t.Context(), store.Key{Device: "d", Integration: "i"})
		srv.Close()
		var apiErr *remotestore.APIError
		if !errors.As(err, &apiErr) || apiErr.Status != tc.status {
			t.Errorf("%d: %v is not an APIError with that status", tc.status, err)
		}
		for _, w := range tc.want {
			if !errors.Is(err, w) {
				t.Errorf("%d %s: %v is not %v", tc.status, tc.body, err, w)
			}
		}
		for _, w := range tc.not {
			if errors.Is(err, w) {
				t.Errorf("%d %s: %v is %v", tc.status, tc.body, err, w)
			}
		}
	}
}

func TestNetworkErrorsAreUnavailable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c := remotestore.New("http://"+addr, nil, nil)
	if _, err := c.ListRecords(t.Context(), ""); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("connection refused: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.ListRecords(ctx, ""); !errors.Is(err, context.Canceled) || errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("canceled: %v", err)
	}
}

func TestRequestShape(t *testing.T) {
	t.Parallel()
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Clone(context.Background())
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"user":"alice","device":"d","integration":"x","key_id":"k","envelope":"e","version":4}`))
	}))
	defer srv.Close()
	bearerErr := errors.New("no login")
	c := remotestore.New(srv.URL+"/prefix/", func(context.Context) (string, error) { return "tok", nil }, nil)
	rec, err := c.PutRecord(t.Context(), store.Record{Key: store.Key{Device: "d/../x", Integration: "a b"}, KeyID: "k", Envelope: "e"}, 3)
	if err != nil || rec.Version != 4 {
		t.Fatal(err)
	}
	if got.Method != "PUT" || got.URL.EscapedPath() != "/prefix/v1/records/d%2F..%2Fx/a%20b" || got.Header.Get("If-Match") != `"3"` ||
		got.Header.Get("Authorization") != "Bearer tok" || got.Header.Get("If-None-Match") != "" {
		t.Fatalf("request: %s %s %v", got.Method, got.URL.EscapedPath(), got.Header)
	}
	if _, err := c.PutRecord(t.Context(), store.Record{Key: store.Key{Device: "d", Integration: "i"}}, store.CreateOnly); err != nil || got.Header.Get("If-None-Match") != "*" || got.Header.Get("If-Match") != "" {
		t.Fatalf("create: %v %v", err, got.Header)
	}
	c = remotestore.New(srv.URL, func(context.Context) (string, error) { return "", bearerErr }, nil)
	if _, err := c.ListRecords(t.Context(), ""); !errors.Is(err, remotestore.ErrUnauthorized) || !errors.Is(err, bearerErr) {
		t.Fatalf("bearer failure: %v", err)
	}
	if _, err := remotestore.New("not a url", nil, nil).ListRecords(t.Context(), ""); err == nil {
		t.Fatal("a relative base URL was accepted")
	}
}
