package daemon

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/url"
	"sync"
	"time"
)

// Browser flows: a connect or login waiting for its redirect, found by its
// single-use state, and by its id for the CLI that waits on it.

// flowTTL bounds how long a consent page may stay open.
const flowTTL = 10 * time.Minute

// flow is one authorization-code connect in progress.
type flow struct {
	ID          string
	Integration string
	verifier    string
	nonce       string // OpenID Connect logins only
	expires     time.Time
	// complete finishes the flow from the redirect's query: an
	// integration's connect (finishConnect) or the identity's login
	// (finishLogin).
	complete func(ctx context.Context, f *flow, q url.Values) error
	done     chan struct{} // closed when the flow ends
	err      error         // set before done is closed
}

// flowTable holds connect flows by state. A state is single-use: taking it
// removes it. Finished flows stay findable by ID for a while so a CLI that
// waits on one learns how it ended.
type flowTable struct {
	mu      sync.Mutex
	byState map[string]*flow
	byID    map[string]*flow
}

func newFlowTable() *flowTable {
	return &flowTable{byState: map[string]*flow{}, byID: map[string]*flow{}}
}

func (t *flowTable) add(state string, f *flow) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	for s, old := range t.byState { // drop abandoned flows
		if now.After(old.expires) {
			delete(t.byState, s)
			old.finish(errors.New("the consent page was not completed in time"))
		}
	}
	for id, old := range t.byID {
		if now.After(old.expires.Add(flowTTL)) {
			delete(t.byID, id)
		}
	}
	t.byState[state] = f
	t.byID[f.ID] = f
}

// take removes and returns the flow of state (single use).
func (t *flowTable) take(state string) (*flow, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, ok := t.byState[state]
	if ok {
		delete(t.byState, state)
	}
	return f, ok
}

func (t *flowTable) byFlowID(id string) (*flow, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, ok := t.byID[id]
	return f, ok
}

func (f *flow) finish(err error) {
	select {
	case <-f.done:
	default:
		f.err = err
		close(f.done)
	}
}

func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error()) // never happens on supported systems
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
