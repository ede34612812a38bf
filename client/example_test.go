package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"

	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/client/apitype"
)

// fakeDaemon serves h on a control socket in a fresh directory, the way the
// daemon serves its control API, and returns the socket's path and a stop
// function.
func fakeDaemon(h http.Handler) (socket string, stop func()) {
	dir, err := os.MkdirTemp("", "latchkey-example")
	if err != nil {
		panic(err)
	}
	socket = filepath.Join(dir, "latchkey.sock")
	ln, err := net.Listen("unix", socket)
	if err != nil {
		panic(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	return socket, func() { srv.Close(); os.RemoveAll(dir) }
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// The zero Client finds the user's control socket by itself; a test or a
// second setup names one with Socket.
func ExampleClient_Status() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, apitype.Status{
			Version:      "1.0.0",
			Daemon:       apitype.DaemonStatus{Running: true, Listen: "127.0.0.1:7788"},
			Integrations: []apitype.IntegrationStatus{{Name: "docebo", State: apitype.StateConnected, Configured: true}},
		})
	})
	socket, stop := fakeDaemon(mux)
	defer stop()

	c := &client.Client{Socket: socket}
	st, err := c.Status(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("listening on", st.Daemon.Listen)
	for _, in := range st.Integrations {
		fmt.Println(in.Name, in.State)
	}
	// Output:
	// listening on 127.0.0.1:7788
	// docebo connected
}

// Errors are typed: ErrNotRunning when nothing answers, *APIError with the
// daemon's code (one of apitype's Code… constants) when it refuses.
func ExampleAPIError() {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /control/connect/{name}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, apitype.ErrorBody{Error: apitype.ErrorDetail{
			Code: apitype.CodeNotConfigured, Message: r.PathValue("name") + " is not configured",
		}})
	})
	socket, stop := fakeDaemon(mux)
	defer stop()

	c := &client.Client{Socket: socket}
	_, err := c.Connect(context.Background(), "docebo", apitype.GrantRequest{})
	var ae *client.APIError
	if errors.As(err, &ae) && ae.Code == apitype.CodeNotConfigured {
		fmt.Println("needs configuring:", ae.Message)
	}

	gone := &client.Client{Socket: filepath.Join(os.TempDir(), "no-such-dir", "latchkey.sock")}
	if err := gone.Ping(context.Background()); errors.Is(err, client.ErrNotRunning) {
		fmt.Println("not running")
	}
	// Output:
	// needs configuring: docebo is not configured
	// not running
}

// A browser connect answers a consent URL and a flow; WaitFlow returns once
// the user approved (nil) or the flow failed.
func ExampleClient_WaitFlow() {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /control/connect/{name}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, apitype.ConnectResponse{URL: "https://lms.example.com/oauth2/authorize?…", Flow: "f1"})
	})
	mux.HandleFunc("GET /control/flows/{id}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, apitype.FlowResponse{Done: true})
	})
	socket, stop := fakeDaemon(mux)
	defer stop()

	c := &client.Client{Socket: socket}
	ctx := context.Background()
	resp, err := c.Connect(ctx, "docebo", apitype.GrantRequest{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("open", resp.URL)
	if err := c.WaitFlow(ctx, resp.Flow); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("connected")
	// Output:
	// open https://lms.example.com/oauth2/authorize?…
	// connected
}
