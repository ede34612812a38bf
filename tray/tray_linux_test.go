//go:build linux && cgo

package tray

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testenv"
	"github.com/latchkey/latchkey/tray/snwatcher"
)

// fakeDaemon is the test's Daemon: real state, changed by the tray's clicks.
type fakeDaemon struct {
	mu      sync.Mutex
	state   State
	changes chan struct{}

	disconnects chan string
	connects    chan string
	opens       chan struct{}
	quits       chan struct{}
}

func newFakeDaemon(s State) *fakeDaemon {
	return &fakeDaemon{
		state: s, changes: make(chan struct{}, 1),
		disconnects: make(chan string, 4), connects: make(chan string, 4),
		opens: make(chan struct{}, 4), quits: make(chan struct{}, 1),
	}
}

func (d *fakeDaemon) TrayState(ctx context.Context) (State, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.state
	s.Integrations = slices.Clone(s.Integrations)
	return s, nil
}

func (d *fakeDaemon) setState(name, state string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range d.state.Integrations {
		if d.state.Integrations[i].Name == name {
			d.state.Integrations[i].State = state
			return nil
		}
	}
	return fmt.Errorf("no integration %q", name)
}

func (d *fakeDaemon) Connect(ctx context.Context, name string) error {
	d.connects <- name
	return d.setState(name, StateConnected)
}

func (d *fakeDaemon) Disconnect(ctx context.Context, name string) error {
	d.disconnects <- name
	return d.setState(name, StateDisconnected)
}

func (d *fakeDaemon) OpenMenu(ctx context.Context) error { d.opens <- struct{}{}; return nil }
func (d *fakeDaemon) Quit()                              { d.quits <- struct{}{} }
func (d *fakeDaemon) TrayChanges() <-chan struct{}       { return d.changes }

// notify is what the daemon does when its state changes outside the tray.
func (d *fakeDaemon) notify() {
	select {
	case d.changes <- struct{}{}:
	default:
	}
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
	var zero T
	return zero
}

// iconIs reports whether the item's icon file holds icon i. The appindicator
// writes the icon to a file and publishes its path as IconName.
func iconIs(item *snwatcher.Item, i Icon) bool {
	v, err := item.Property("IconName")
	if err != nil {
		return false
	}
	path, _ := v.Value().(string)
	b, err := os.ReadFile(path)
	return err == nil && bytes.Equal(b, IconBytes(i, "png"))
}

func waitIcon(t *testing.T, ctx context.Context, item *snwatcher.Item, i Icon) {
	t.Helper()
	for !iconIs(item, i) {
		select {
		case <-ctx.Done():
			t.Fatalf("the tray icon never became %v", i)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func TestTrayUnderXvfb(t *testing.T) {
	testenv.Require(t, testenv.Display)
	if ok, why := Available(); !ok {
		t.Fatalf("Available() = false (%s) with a display", why)
	}
	w, err := snwatcher.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	d := newFakeDaemon(State{Integrations: []Integration{
		{Name: "docebo", DisplayName: "Docebo", Account: "alice@example.com", State: StateConnected},
		{Name: "document360", DisplayName: "Document360", Account: "alice", State: StateReconnectNeeded},
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	runCtx, stopTray := context.WithCancel(ctx)
	defer stopTray()
	ran := make(chan error, 1)
	go func() { ran <- Run(runCtx, d, Options{HotkeyLabel: "Ctrl+Shift+E", MaxItems: 5}) }()

	item, err := w.WaitItem(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const (
		doceboOn  = "Docebo — alice@example.com — Connected"
		doceboOff = "Docebo — Not connected" // no account once disconnected
		d360      = "Document360 — alice — Reconnect needed"
		d360On    = "Document360 — alice — Connected"
	)
	want := []string{doceboOn, "Disconnect Docebo", d360, "Reconnect Document360…", "---", "Open menu (Ctrl+Shift+E)", "Quit"}
	menu, err := item.WaitLayout(ctx, func(n *snwatcher.Node) bool { return slices.Equal(n.Labels(), want) })
	if err != nil {
		t.Fatalf("initial menu: %v; want %q", err, want)
	}
	for _, n := range menu.Shown() {
		isTitle := n.Label == doceboOn || n.Label == d360
		if n.Type != "separator" && n.Enabled == isTitle {
			t.Errorf("item %q enabled=%v, want %v", n.Label, n.Enabled, !isTitle)
		}
	}
	waitIcon(t, ctx, item, IconAttention)

	// Disconnect Docebo from the menu.
	if err := item.Click(ctx, menu.After(doceboOn, "Disconnect Docebo").ID); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, d.disconnects, "Daemon.Disconnect"); got != "docebo" {
		t.Fatalf("Disconnect(%q), want docebo", got)
	}
	want = []string{doceboOff, "Connect Docebo…", d360, "Reconnect Document360…", "---", "Open menu (Ctrl+Shift+E)", "Quit"}
	if menu, err = item.WaitLayout(ctx, func(n *snwatcher.Node) bool { return slices.Equal(n.Labels(), want) }); err != nil {
		t.Fatalf("after Disconnect: %v; want %q", err, want)
	}

	// Reconnect Document360: each action names its integration.
	if err := item.Click(ctx, menu.After(d360, "Reconnect Document360…").ID); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, d.connects, "Daemon.Connect"); got != "document360" {
		t.Fatalf("Connect(%q), want document360", got)
	}
	want = []string{doceboOff, "Connect Docebo…", d360On, "Disconnect Document360", "---", "Open menu (Ctrl+Shift+E)", "Quit"}
	if _, err = item.WaitLayout(ctx, func(n *snwatcher.Node) bool { return slices.Equal(n.Labels(), want) }); err != nil {
		t.Fatalf("after Connect: %v; want %q", err, want)
	}
	waitIcon(t, ctx, item, IconConnected)

	// A change made elsewhere (the CLI, the menu UI) reaches the tray, and
	// more integrations than fit are cut with "More in the menu…".
	d.mu.Lock()
	d.state.Integrations[0].State = StateConnected
	d.state.Integrations = append(d.state.Integrations, Integration{Name: "extra", State: StateDisconnected})
	d.mu.Unlock()
	d.notify()
	want = []string{doceboOn, "Disconnect Docebo", d360On, "Disconnect Document360", "More in the menu…", "---", "Open menu (Ctrl+Shift+E)", "Quit"}
	if menu, err = item.WaitLayout(ctx, func(n *snwatcher.Node) bool { return slices.Equal(n.Labels(), want) }); err != nil {
		t.Fatalf("after an outside change: %v; want %q", err, want)
	}

	if err := item.Click(ctx, menu.After("", "Open menu (Ctrl+Shift+E)").ID); err != nil {
		t.Fatal(err)
	}
	recv(t, d.opens, "Daemon.OpenMenu")

	// Quit: the daemon is told and the tray closes.
	if err := item.Click(ctx, menu.After("", "Quit").ID); err != nil {
		t.Fatal(err)
	}
	recv(t, d.quits, "Daemon.Quit")
	if err := recv(t, ran, "Run to return after Quit"); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := Run(ctx, d, Options{}); !errors.Is(err, ErrAlreadyRan) {
		t.Fatalf("second Run = %v, want ErrAlreadyRan", err)
	}
}

func TestNoDisplay(t *testing.T) {
	t.Setenv("WAYLAND_DISPLAY", "")
	t.Setenv("DISPLAY", "")
	if ok, why := Available(); ok || why == "" {
		t.Fatalf("Available() = %v, %q with no display", ok, why)
	}
	// A display that is set but does not open: GTK would end the process.
	t.Setenv("DISPLAY", "127.0.0.1:4242")
	t.Setenv("WAYLAND_DISPLAY", "wayland-latchkey-none")
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	ok, why := Available()
	if ok {
		t.Fatal("Available() = true for a display that does not open")
	}
	t.Log("reason:", why)
	err := Run(context.Background(), newFakeDaemon(State{}), Options{})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Run with no display = %v, want ErrUnavailable", err)
	}
}
