package tray

import (
	"reflect"
	"testing"
)

func TestBuildMenu(t *testing.T) {
	t.Parallel()
	footer := func(label string) []Item {
		return []Item{
			{Title: label, Enabled: true, Action: ActionOpenMenu},
			{Title: "Quit", Enabled: true, Action: ActionQuit},
		}
	}
	tests := []struct {
		name   string
		state  State
		hotkey string
		want   Menu
	}{
		{
			name:   "nothing configured",
			hotkey: "Ctrl+Shift+E",
			want: Menu{
				Icon:    IconDisconnected,
				Tooltip: "latchkey — no integrations",
				Body:    []Item{{Title: "No integrations configured"}},
				Footer:  footer("Open menu (Ctrl+Shift+E)"),
			},
		},
		{
			name: "all connected",
			state: State{Integrations: []Integration{
				{Name: "docebo", DisplayName: "Docebo", Account: "alice@example.com", State: StateConnected},
				{Name: "document360", DisplayName: "Document360", Account: "alice", State: StateConnected},
			}},
			hotkey: "Cmd+Shift+E",
			want: Menu{
				Icon:    IconConnected,
				Tooltip: "latchkey — 2 of 2 connected",
				Body: []Item{
					{Title: "Docebo — alice@example.com — Connected"},
					{Title: "Disconnect Docebo", Enabled: true, Action: ActionDisconnect, Integration: "docebo"},
					{Title: "Document360 — alice — Connected"},
					{Title: "Disconnect Document360", Enabled: true, Action: ActionDisconnect, Integration: "document360"},
				},
				Footer: footer("Open menu (Cmd+Shift+E)"),
			},
		},
		{
			name: "one needs reconnecting",
			state: State{Integrations: []Integration{
				{Name: "docebo", DisplayName: "Docebo", Account: "alice@example.com", State: StateConnected},
				{Name: "document360", Account: "alice", State: StateReconnectNeeded},
			}},
			hotkey: "Ctrl+Shift+E",
			want: Menu{
				Icon:    IconAttention,
				Tooltip: "latchkey — 1 of 2 connected, 1 needs reconnecting",
				Body: []Item{
					{Title: "Docebo — alice@example.com — Connected"},
					{Title: "Disconnect Docebo", Enabled: true, Action: ActionDisconnect, Integration: "docebo"},
					{Title: "document360 — alice — Reconnect needed"},
					{Title: "Reconnect document360…", Enabled: true, Action: ActionConnect, Integration: "document360"},
				},
				Footer: footer("Open menu (Ctrl+Shift+E)"),
			},
		},
		{
			name: "connected and deliberately disconnected",
			state: State{Integrations: []Integration{
				{Name: "docebo", DisplayName: "Docebo", Account: "alice@example.com", State: StateConnected},
				{Name: "document360", DisplayName: "Document360", State: StateDisconnected},
			}},
			want: Menu{
				Icon:    IconConnected,
				Tooltip: "latchkey — 1 of 2 connected",
				Body: []Item{
					{Title: "Docebo — alice@example.com — Connected"},
					{Title: "Disconnect Docebo", Enabled: true, Action: ActionDisconnect, Integration: "docebo"},
					{Title: "Document360 — Not connected"},
					{Title: "Connect Document360…", Enabled: true, Action: ActionConnect, Integration: "document360"},
				},
				Footer: footer("Open menu"),
			},
		},
		{
			name: "all disconnected",
			state: State{Integrations: []Integration{
				{Name: "docebo", DisplayName: "Docebo", State: StateDisconnected},
			}},
			hotkey: "Ctrl+Alt+K",
			want: Menu{
				Icon:    IconDisconnected,
				Tooltip: "latchkey — 0 of 1 connected",
				Body: []Item{
					{Title: "Docebo — Not connected"},
					{Title: "Connect Docebo…", Enabled: true, Action: ActionConnect, Integration: "docebo"},
				},
				Footer: footer("Open menu (Ctrl+Alt+K)"),
			},
		},
		{
			// An API-token integration has no consent page: no Connect for it;
			// a disconnected one names no account.
			name: "API token and no account once disconnected",
			state: State{Integrations: []Integration{
				{Name: "docebo", DisplayName: "Docebo", Account: "alice@example.com", State: StateDisconnected},
				{Name: "document360", DisplayName: "Document360", State: StateDisconnected, APIToken: true},
			}},
			want: Menu{
				Icon:    IconDisconnected,
				Tooltip: "latchkey — 0 of 2 connected",
				Body: []Item{
					{Title: "Docebo — Not connected"},
					{Title: "Connect Docebo…", Enabled: true, Action: ActionConnect, Integration: "docebo"},
					{Title: "Document360 — Not connected"},
					{Title: "Document360: set up with latchkey configure document360"},
				},
				Footer: footer("Open menu"),
			},
		},
		{
			name: "unknown states need attention",
			state: State{Integrations: []Integration{
				{Name: "a", State: "token_expired"},
				{Name: "b", State: ""},
			}},
			want: Menu{
				Icon:    IconAttention,
				Tooltip: "latchkey — 0 of 2 connected, 2 need reconnecting",
				Body: []Item{
					{Title: "a — Token expired"},
					{Title: "Reconnect a…", Enabled: true, Action: ActionConnect, Integration: "a"},
					{Title: "b — Unknown"},
					{Title: "Reconnect b…", Enabled: true, Action: ActionConnect, Integration: "b"},
				},
				Footer: footer("Open menu"),
			},
		},
		{
			name: "problem",
			state: State{Problem: "daemon state unavailable", Integrations: []Integration{
				{Name: "docebo", DisplayName: "Docebo", State: StateConnected},
			}},
			hotkey: "Ctrl+Shift+E",
			want: Menu{
				Icon:    IconAttention,
				Tooltip: "latchkey — daemon state unavailable",
				Body: []Item{
					{Title: "daemon state unavailable"},
					{Title: "Docebo — Connected"},
					{Title: "Disconnect Docebo", Enabled: true, Action: ActionDisconnect, Integration: "docebo"},
				},
				Footer: footer("Open menu (Ctrl+Shift+E)"),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := BuildMenu(tt.state, tt.hotkey)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("BuildMenu:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestMenuFit(t *testing.T) {
	t.Parallel()
	var s State
	for _, n := range []string{"a", "b", "c", "d"} {
		s.Integrations = append(s.Integrations, Integration{Name: n, State: StateConnected})
	}
	m := BuildMenu(s, "")
	more := Item{Title: "More in the menu…", Enabled: true, Action: ActionOpenMenu}
	tests := []struct {
		n    int
		want []Item
	}{
		{n: 8, want: m.Body},
		{n: 100, want: m.Body},
		{n: 7, want: append(append([]Item(nil), m.Body[:6]...), more)},
		{n: 6, want: append(append([]Item(nil), m.Body[:4]...), more)}, // never a title without its action
		{n: 5, want: append(append([]Item(nil), m.Body[:4]...), more)},
		{n: 1, want: []Item{more}},
	}
	for _, tt := range tests {
		got := m.Fit(tt.n)
		if !reflect.DeepEqual(got.Body, tt.want) {
			t.Errorf("Fit(%d).Body =\n %+v\nwant\n %+v", tt.n, got.Body, tt.want)
		}
		if len(got.Body) > tt.n {
			t.Errorf("Fit(%d) left %d items", tt.n, len(got.Body))
		}
		if !reflect.DeepEqual(got.Footer, m.Footer) || got.Icon != m.Icon {
			t.Errorf("Fit(%d) changed the footer or icon", tt.n)
		}
	}
	if len(m.Body) != 8 {
		t.Fatalf("Fit modified the original menu: %d items", len(m.Body))
	}
}
