package hotkey

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		canon   string
		linux   string
		darwin  string
		wantErr string
	}{
		{in: "ctrl+shift+e", canon: "ctrl+shift+e", linux: "Ctrl+Shift+E", darwin: "Ctrl+Shift+E"},
		{in: " Cmd + Shift + E ", canon: "cmd+shift+e", linux: "Super+Shift+E", darwin: "Cmd+Shift+E"},
		{in: "control+alt+f5", canon: "ctrl+alt+f5", linux: "Ctrl+Alt+F5", darwin: "Ctrl+Option+F5"},
		{in: "super+space", canon: "cmd+space", linux: "Super+Space", darwin: "Cmd+Space"},
		{in: "ctrl+return", canon: "ctrl+enter", linux: "Ctrl+Enter", darwin: "Ctrl+Enter"},
		{in: "shift+7", canon: "shift+7", linux: "Shift+7", darwin: "Shift+7"},
		{in: "ctrl+shift+f", canon: "ctrl+shift+f", linux: "Ctrl+Shift+F", darwin: "Ctrl+Shift+F"},
		{in: "", wantErr: "empty combo"},
		{in: "e", wantErr: "at least one modifier"},
		{in: "ctrl+shift", wantErr: `unsupported key "shift"`},
		{in: "ctrl++e", wantErr: "empty part"},
		{in: "ctrl+ctrl+e", wantErr: "given twice"},
		{in: "hyper+e", wantErr: `"hyper" is not a modifier`},
		{in: "ctrl+é", wantErr: "unsupported key"},
		{in: "ctrl+f13", wantErr: "unsupported key"},
		{in: "ctrl+f01", wantErr: "unsupported key"},
		{in: "ctrl+ab", wantErr: "unsupported key"},
	}
	for _, tt := range tests {
		c, err := Parse(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Parse(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if got := c.String(); got != tt.canon {
			t.Errorf("Parse(%q).String() = %q, want %q", tt.in, got, tt.canon)
		}
		if got := c.Label("linux"); got != tt.linux {
			t.Errorf("Parse(%q).Label(linux) = %q, want %q", tt.in, got, tt.linux)
		}
		if got := c.Label("darwin"); got != tt.darwin {
			t.Errorf("Parse(%q).Label(darwin) = %q, want %q", tt.in, got, tt.darwin)
		}
	}
}

func TestDefault(t *testing.T) {
	t.Parallel()
	for goos, want := range map[string]string{"darwin": "Cmd+Shift+E", "linux": "Ctrl+Shift+E", "windows": "Ctrl+Shift+E"} {
		c, err := Parse(Default(goos))
		if err != nil {
			t.Fatalf("Default(%s) does not parse: %v", goos, err)
		}
		if got := c.Label(goos); got != want {
			t.Errorf("Default(%s) label = %q, want %q", goos, got, want)
		}
	}
}
