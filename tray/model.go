package tray

import (
	"context"
	"fmt"
	"strings"

	"github.com/latchkey/latchkey/client/apitype"
)

// Daemon is what the tray needs from the daemon.
type Daemon interface {
	// TrayState is the current state of every configured integration.
	TrayState(ctx context.Context) (State, error)
	// Connect starts connecting (or reconnecting) one integration, e.g.
	// by opening its consent page. The tray calls it on its own goroutine.
	Connect(ctx context.Context, name string) error
	// Disconnect disconnects one integration.
	Disconnect(ctx context.Context, name string) error
	// OpenMenu opens the menu UI in the browser (what the hotkey does).
	OpenMenu(ctx context.Context) error
	// Quit asks the daemon to shut down (the "Quit" item).
	Quit()
	// TrayChanges signals (a value, or a close) whenever TrayState would
	// return something new. The daemon should send without blocking on a
	// channel with a buffer of 1. Nil means the tray only re-reads the
	// state after its own actions.
	TrayChanges() <-chan struct{}
}

// States of an integration, as the daemon's status document spells them.
const (
	StateConnected       = apitype.StateConnected
	StateReconnectNeeded = apitype.StateReconnectNeeded
	StateDisconnected    = apitype.StateDisconnected
)

// State is what the tray shows.
type State struct {
	Integrations []Integration
	// Problem, when set, is shown as a line of its own and turns the icon
	// to "needs attention" (for instance "daemon state unavailable"). It
	// must not contain a secret.
	Problem string
}

// Integration is one configured integration.
type Integration struct {
	Name        string // the id used with Connect/Disconnect: "docebo"
	DisplayName string // "Docebo"; Name when empty
	Account     string // "alice@example.com"; may be empty
	State       string // StateConnected, StateReconnectNeeded or StateDisconnected
	// APIToken: the integration is set up with an API token (latchkey
	// configure), not a consent page, so the tray offers no Connect for it.
	APIToken bool
}

// Icon is the overall state the tray icon shows.
type Icon int

const (
	// IconDisconnected: nothing is connected.
	IconDisconnected Icon = iota
	// IconConnected: every integration that is not deliberately
	// disconnected is connected, and at least one is.
	IconConnected
	// IconAttention: something needs the user (a reconnect, a problem).
	IconAttention
)

func (i Icon) String() string {
	switch i {
	case IconConnected:
		return "connected"
	case IconAttention:
		return "attention"
	}
	return "disconnected"
}

// Action is what clicking an item does.
type Action int

const (
	ActionNone Action = iota
	ActionConnect
	ActionDisconnect
	ActionOpenMenu
	ActionQuit
)

func (a Action) String() string {
	return [...]string{"none", "connect", "disconnect", "open-menu", "quit"}[a]
}

// Item is one menu line.
type Item struct {
	Title       string
	Enabled     bool
	Action      Action
	Integration string // for ActionConnect/ActionDisconnect: the Name
}

// Menu is the rendered tray: the icon, its tooltip, the integrations part
// (Body) and, below a separator, the fixed part (Footer).
type Menu struct {
	Icon    Icon
	Tooltip string
	Body    []Item
	Footer  []Item
}

const dash = " — "

// BuildMenu computes the tray from the daemon's state. hotkeyLabel is the
// configured combo as the platform spells it ("Ctrl+Shift+E",
// "Cmd+Shift+E"); empty when there is no hotkey.
func BuildMenu(s State, hotkeyLabel string) Menu {
	var m Menu
	var connected, attention, disconnected int
	for _, in := range s.Integrations {
		name := in.DisplayName
		if name == "" {
			name = in.Name
		}
		parts := []string{name}
		if in.Account != "" && in.State != StateDisconnected {
			parts = append(parts, in.Account)
		}
		parts = append(parts, stateLabel(in.State))
		m.Body = append(m.Body, Item{Title: strings.Join(parts, dash)})
		connect := Item{Title: "Connect " + name + "…", Enabled: true, Action: ActionConnect, Integration: in.Name}
		if in.APIToken {
			connect = Item{Title: name + ": set up with latchkey configure " + in.Name}
		}
		switch in.State {
		case StateConnected:
			connected++
			m.Body = append(m.Body, Item{Title: "Disconnect " + name, Enabled: true, Action: ActionDisconnect, Integration: in.Name})
		case StateDisconnected:
			disconnected++
			m.Body = append(m.Body, connect)
		default: // reconnect needed, or a state this tray does not know
			attention++
			if !in.APIToken {
				connect.Title = "Reconnect " + name + "…"
			}
			m.Body = append(m.Body, connect)
		}
	}
	if len(s.Integrations) == 0 {
		m.Body = append(m.Body, Item{Title: "No integrations configured"})
	}
	if s.Problem != "" {
		m.Body = append([]Item{{Title: s.Problem}}, m.Body...)
	}

	open := "Open menu"
	if hotkeyLabel != "" {
		open += " (" + hotkeyLabel + ")"
	}
	m.Footer = []Item{
		{Title: open, Enabled: true, Action: ActionOpenMenu},
		{Title: "Quit", Enabled: true, Action: ActionQuit},
	}

	switch {
	case attention > 0 || s.Problem != "":
		m.Icon = IconAttention
	case connected > 0:
		m.Icon = IconConnected
	default:
		m.Icon = IconDisconnected
	}
	m.Tooltip = tooltip(len(s.Integrations), connected, attention, s.Problem)
	return m
}

func stateLabel(s string) string {
	switch s {
	case StateConnected:
		return "Connected"
	case StateReconnectNeeded:
		return "Reconnect needed"
	case StateDisconnected:
		return "Not connected"
	case "":
		return "Unknown"
	}
	s = strings.ReplaceAll(s, "_", " ")
	return strings.ToUpper(s[:1]) + s[1:]
}

func tooltip(total, connected, attention int, problem string) string {
	var b strings.Builder
	b.WriteString("latchkey")
	switch {
	case problem != "":
		b.WriteString(dash + problem)
	case total == 0:
		b.WriteString(dash + "no integrations")
	default:
		fmt.Fprintf(&b, "%s%d of %d connected", dash, connected, total)
		if attention == 1 {
			b.WriteString(", 1 needs reconnecting")
		} else if attention > 1 {
			fmt.Fprintf(&b, ", %d need reconnecting", attention)
		}
	}
	return b.String()
}

// Fit limits the body to n items: when it is longer, it keeps whole
// integrations (title and action) and ends with a "More in the menu…"
// item that opens the menu UI, so the body never exceeds n.
func (m Menu) Fit(n int) Menu {
	if len(m.Body) <= n || n < 1 {
		return m
	}
	keep := n - 1
	// Do not split an integration's title from its action.
	if keep > 0 && keep < len(m.Body) && m.Body[keep].Action != ActionNone && m.Body[keep-1].Action == ActionNone {
		keep--
	}
	body := append([]Item(nil), m.Body[:keep]...)
	body = append(body, Item{Title: "More in the menu…", Enabled: true, Action: ActionOpenMenu})
	m.Body = body
	return m
}
