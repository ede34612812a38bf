package service

import (
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

func testOptions(t *testing.T, exe string) Options {
	t.Helper()
	o, err := Options{
		Executable: exe,
		Args:       []string{"daemon", "--listen", "127.0.0.1:7777", `100% "$HOME" \ <&>`},
		Env: map[string]string{
			"LATCHKEY_LISTEN": "127.0.0.1:7777",
			"A_NOTE":          `say "hi" 50% $HOME \n`,
		},
	}.normalize()
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestRenderUnit(t *testing.T) {
	t.Parallel()
	unit, err := renderUnit(testOptions(t, "/opt/latch key/latchkey"))
	if err != nil {
		t.Fatal(err)
	}
	want := `# Written by "latchkey install"; remove it with "latchkey uninstall".
[Unit]
Description=latchkey credential daemon
Documentation=https://github.com/latchkey/latchkey

[Service]
Type=exec
ExecStart="/opt/latch key/latchkey" "daemon" "--listen" "127.0.0.1:7777" "100%% \"$$HOME\" \\ <&>"
Environment="A_NOTE=say \"hi\" 50%% $HOME \\n"
Environment="LATCHKEY_LISTEN=127.0.0.1:7777"
Restart=on-failure
RestartSec=2s
TimeoutStopSec=20s
UMask=0077
NoNewPrivileges=yes
LockPersonality=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
RestrictNamespaces=yes
SystemCallArchitectures=native
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK

[Install]
WantedBy=default.target
`
	if string(unit) != want {
		t.Errorf("unit:\n%s\nwant:\n%s", unit, want)
	}
}

func TestRenderUnitNoEnv(t *testing.T) {
	t.Parallel()
	o, err := Options{Executable: "/usr/bin/latchkey"}.normalize()
	if err != nil {
		t.Fatal(err)
	}
	unit, err := renderUnit(o)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "\nExecStart=\"/usr/bin/latchkey\" \"daemon\"\nRestart=on-failure\n") {
		t.Errorf("default args or empty env rendered wrong:\n%s", unit)
	}
}

func TestNormalizeRejects(t *testing.T) {
	t.Parallel()
	for name, o := range map[string]Options{
		"relative executable": {Executable: "bin/latchkey"},
		"newline in arg":      {Executable: "/usr/bin/latchkey", Args: []string{"daemon\nExecStartPre=/bin/evil"}},
		"newline in value":    {Executable: "/usr/bin/latchkey", Env: map[string]string{"A": "x\ny"}},
		"bad env name":        {Executable: "/usr/bin/latchkey", Env: map[string]string{"A=B": "x"}},
		"empty env name":      {Executable: "/usr/bin/latchkey", Env: map[string]string{"": "x"}},
		"NUL in executable":   {Executable: "/usr/bin/latch\x00key"},
	} {
		if _, err := o.normalize(); err == nil {
			t.Errorf("%s: normalize accepted %+v", name, o)
		}
	}
}

// plistValue is a parsed property-list value (enough of the format for
// these tests).
type plistNode struct {
	XMLName  xml.Name
	Content  string      `xml:",chardata"`
	Children []plistNode `xml:",any"`
}

func TestRenderPlist(t *testing.T) {
	t.Parallel()
	o := testOptions(t, "/Applications/Latch Key/latchkey")
	data, err := renderPlist(o, "/Users/alice/Library/Logs/latchkey")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Dict plistNode `xml:"dict"`
	}
	dec := xml.NewDecoder(strings.NewReader(string(data)))
	dec.Strict = true
	if err := dec.Decode(&doc); err != nil && err != io.EOF {
		t.Fatalf("plist is not well-formed XML: %v\n%s", err, data)
	}
	// Pair up <key>…</key><value> in the top dict.
	top := map[string]plistNode{}
	kids := doc.Dict.Children
	for i := 0; i+1 < len(kids); i += 2 {
		if kids[i].XMLName.Local != "key" {
			t.Fatalf("expected <key> at %d, got <%s>", i, kids[i].XMLName.Local)
		}
		top[kids[i].Content] = kids[i+1]
	}
	if got := top["Label"].Content; got != Label {
		t.Errorf("Label = %q", got)
	}
	var args []string
	for _, s := range top["ProgramArguments"].Children {
		args = append(args, s.Content)
	}
	wantArgs := append([]string{o.Executable}, o.Args...)
	if strings.Join(args, "\x00") != strings.Join(wantArgs, "\x00") {
		t.Errorf("ProgramArguments = %q, want %q", args, wantArgs)
	}
	env := map[string]string{}
	ek := top["EnvironmentVariables"].Children
	for i := 0; i+1 < len(ek); i += 2 {
		env[ek[i].Content] = ek[i+1].Content
	}
	if env["LATCHKEY_LISTEN"] != "127.0.0.1:7777" || env["A_NOTE"] != o.Env["A_NOTE"] || len(env) != 2 {
		t.Errorf("EnvironmentVariables = %q", env)
	}
	if top["RunAtLoad"].XMLName.Local != "true" {
		t.Errorf("RunAtLoad is <%s>, want <true/>", top["RunAtLoad"].XMLName.Local)
	}
	if got := top["StandardErrorPath"].Content; got != "/Users/alice/Library/Logs/latchkey/daemon.log" {
		t.Errorf("StandardErrorPath = %q", got)
	}
	if got := top["Umask"].Content; got != "63" { // 0077
		t.Errorf("Umask = %q", got)
	}
}

// splitWindows is CommandLineToArgvW's rule (the one Go's os.Args uses on
// Windows), to check windowsCommandLine round-trips.
func splitWindows(cmd string) []string {
	var args []string
	var cur strings.Builder
	inArg, quoted := false, false
	for i := 0; i < len(cmd); i++ {
		c := cmd[i]
		switch {
		case c == '\\':
			n := 0
			for i < len(cmd) && cmd[i] == '\\' {
				n++
				i++
			}
			if i < len(cmd) && cmd[i] == '"' {
				cur.WriteString(strings.Repeat(`\`, n/2))
				if n%2 == 1 {
					cur.WriteByte('"')
				} else {
					quoted = !quoted
				}
			} else {
				cur.WriteString(strings.Repeat(`\`, n))
				i--
			}
			inArg = true
		case c == '"':
			quoted = !quoted
			inArg = true
		case (c == ' ' || c == '\t') && !quoted:
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteByte(c)
			inArg = true
		}
	}
	if inArg {
		args = append(args, cur.String())
	}
	return args
}

func TestWindowsCommandLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{`C:\Program Files\latchkey\latchkey.exe`, "daemon"}, `"C:\Program Files\latchkey\latchkey.exe" daemon`},
		{[]string{`C:\bin\latchkey.exe`, "daemon", ""}, `C:\bin\latchkey.exe daemon ""`},
		{[]string{`C:\x.exe`, `a "quoted" arg`, `trail\`, `trail space\ `}, `C:\x.exe "a \"quoted\" arg" trail\ "trail space\ "`},
		{[]string{`C:\x.exe`, `dir with\ "q\\"`}, `C:\x.exe "dir with\ \"q\\\\\""`},
	}
	for _, tt := range tests {
		got := windowsCommandLine(tt.args)
		if got != tt.want {
			t.Errorf("windowsCommandLine(%q) = %s, want %s", tt.args, got, tt.want)
		}
		if back := splitWindows(got); strings.Join(back, "\x00") != strings.Join(tt.args, "\x00") {
			t.Errorf("%s splits back into %q, want %q", got, back, tt.args)
		}
	}
}
