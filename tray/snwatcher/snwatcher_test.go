package snwatcher

import (
	"slices"
	"testing"

	"github.com/godbus/dbus/v5"
)

func TestUnmnemonic(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"_Quit":              "Quit",
		"snake__case":        "snake_case",
		"a_b__c___d":         "ab_c_d",
		"Docebo — a@b.c":     "Docebo — a@b.c",
		"trailing_":          "trailing",
		"Open menu (Ctrl+E)": "Open menu (Ctrl+E)",
	} {
		if got := unmnemonic(in); got != want {
			t.Errorf("unmnemonic(%q) = %q, want %q", in, got, want)
		}
	}
}

func node(id int32, props map[string]dbus.Variant, children ...any) []any {
	var cs []dbus.Variant
	for _, c := range children {
		cs = append(cs, dbus.MakeVariant(c))
	}
	return []any{id, props, cs}
}

func TestParseLayout(t *testing.T) {
	t.Parallel()
	label := func(s string) map[string]dbus.Variant { return map[string]dbus.Variant{"label": dbus.MakeVariant(s)} }
	root := node(0, nil,
		node(1, map[string]dbus.Variant{"label": dbus.MakeVariant("Docebo — connected"), "enabled": dbus.MakeVariant(false)}),
		node(2, label("_Disconnect")),
		node(3, map[string]dbus.Variant{"label": dbus.MakeVariant("hidden"), "visible": dbus.MakeVariant(false)}),
		node(4, map[string]dbus.Variant{"type": dbus.MakeVariant("separator")}),
		node(5, label("Quit")),
	)
	n, err := parse(root)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := n.Labels(), []string{"Docebo — connected", "Disconnect", "---", "Quit"}; !slices.Equal(got, want) {
		t.Fatalf("Labels = %q, want %q", got, want)
	}
	if n.Children[0].Enabled || !n.Children[1].Enabled {
		t.Error("enabled flags parsed wrong")
	}
	if c := n.After("Docebo — connected", "Disconnect"); c == nil || c.ID != 2 {
		t.Errorf("After = %+v, want id 2", c)
	}
	if c := n.After("", "hidden"); c != nil {
		t.Errorf("After found a hidden item: %+v", c)
	}
	if c := n.After("Quit", "Disconnect"); c != nil {
		t.Errorf("After found an item above its anchor: %+v", c)
	}
	if _, err := parse([]any{int32(1)}); err == nil {
		t.Error("parse accepted a malformed node")
	}
}
