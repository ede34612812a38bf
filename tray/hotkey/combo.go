package hotkey

import (
	"errors"
	"fmt"
	"strings"
)

// ErrUnavailable is returned (wrapped, with the reason) by Listen when this
// build or this session has no global hotkey: built without cgo, or no X
// display to grab keys on.
var ErrUnavailable = errors.New("hotkey unavailable")

// Modifier is one modifier key of a Combo.
type Modifier int

const (
	// Ctrl is the Control key.
	Ctrl Modifier = iota + 1
	// Shift is the Shift key.
	Shift
	// Alt is Alt (Option on macOS).
	Alt
	// Super is the platform key: Cmd on macOS, Win on Windows, Super (Mod4)
	// on X11. "cmd", "command", "super", "win" and "meta" all name it.
	Super
)

func (m Modifier) String() string {
	switch m {
	case Ctrl:
		return "ctrl"
	case Shift:
		return "shift"
	case Alt:
		return "alt"
	case Super:
		return "cmd"
	}
	return fmt.Sprintf("Modifier(%d)", int(m))
}

// label is the modifier as the platform's menus spell it.
func (m Modifier) label(goos string) string {
	switch m {
	case Ctrl:
		return "Ctrl"
	case Shift:
		return "Shift"
	case Alt:
		if goos == "darwin" {
			return "Option"
		}
		return "Alt"
	case Super:
		switch goos {
		case "darwin":
			return "Cmd"
		case "windows":
			return "Win"
		}
		return "Super"
	}
	return m.String()
}

// Combo is a parsed shortcut: one or more modifiers, in the order written,
// and one key.
type Combo struct {
	Mods []Modifier
	// Key is the canonical key name: "a"…"z", "0"…"9", "f1"…"f12",
	// "space", "enter", "tab" or "escape".
	Key string
}

var modNames = map[string]Modifier{
	"ctrl": Ctrl, "control": Ctrl,
	"shift": Shift,
	"alt":   Alt, "option": Alt, "opt": Alt,
	"cmd": Super, "command": Super, "super": Super, "win": Super, "meta": Super,
}

var keyAliases = map[string]string{
	"space": "space", "enter": "enter", "return": "enter", "tab": "tab",
	"escape": "escape", "esc": "escape",
}

// Parse reads a combo such as "ctrl+shift+e" or "Cmd+Shift+E" (case and
// spaces around "+" do not matter). It needs at least one modifier and
// exactly one key.
func Parse(s string) (Combo, error) {
	var c Combo
	if strings.TrimSpace(s) == "" {
		return c, errors.New(`hotkey: empty combo (write one such as "ctrl+shift+e")`)
	}
	parts := strings.Split(strings.ToLower(s), "+")
	seen := map[Modifier]bool{}
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			return Combo{}, fmt.Errorf("hotkey %q: empty part (write it as \"ctrl+shift+e\")", s)
		}
		last := i == len(parts)-1
		if m, ok := modNames[p]; ok && !last {
			if seen[m] {
				return Combo{}, fmt.Errorf("hotkey %q: %s given twice", s, p)
			}
			seen[m] = true
			c.Mods = append(c.Mods, m)
			continue
		}
		if !last {
			return Combo{}, fmt.Errorf("hotkey %q: %q is not a modifier (ctrl, shift, alt, cmd)", s, p)
		}
		k, ok := canonicalKey(p)
		if !ok {
			return Combo{}, fmt.Errorf("hotkey %q: unsupported key %q (use a letter, a digit, f1–f12, space, enter, tab or escape)", s, p)
		}
		c.Key = k
	}
	if len(c.Mods) == 0 {
		return Combo{}, fmt.Errorf("hotkey %q: needs at least one modifier (ctrl, shift, alt, cmd)", s)
	}
	return c, nil
}

func canonicalKey(p string) (string, bool) {
	if len(p) == 1 && (p[0] >= 'a' && p[0] <= 'z' || p[0] >= '0' && p[0] <= '9') {
		return p, true
	}
	if k, ok := keyAliases[p]; ok {
		return k, true
	}
	if len(p) >= 2 && p[0] == 'f' {
		var n int
		if _, err := fmt.Sscanf(p[1:], "%d", &n); err == nil && fmt.Sprint(n) == p[1:] && n >= 1 && n <= 12 {
			return p, true
		}
	}
	return "", false
}

// String is the canonical lower-case form, "ctrl+shift+e".
func (c Combo) String() string {
	parts := make([]string, 0, len(c.Mods)+1)
	for _, m := range c.Mods {
		parts = append(parts, m.String())
	}
	return strings.Join(append(parts, c.Key), "+")
}

// Label is the combo as a menu shows it on goos: "Ctrl+Shift+E",
// "Cmd+Shift+E" on darwin.
func (c Combo) Label(goos string) string {
	parts := make([]string, 0, len(c.Mods)+1)
	for _, m := range c.Mods {
		parts = append(parts, m.label(goos))
	}
	key := c.Key
	switch {
	case len(key) == 1:
		key = strings.ToUpper(key)
	case key[0] == 'f' && key != "f":
		key = strings.ToUpper(key)
	default:
		key = strings.ToUpper(key[:1]) + key[1:]
	}
	return strings.Join(append(parts, key), "+")
}

// Default is the default combo on goos: "cmd+shift+e" on darwin,
// "ctrl+shift+e" elsewhere.
func Default(goos string) string {
	if goos == "darwin" {
		return "cmd+shift+e"
	}
	return "ctrl+shift+e"
}
