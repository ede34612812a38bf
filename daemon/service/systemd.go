package service

import (
	"bytes"
	"strings"
	"text/template"
)

var unitTemplate = template.Must(template.New("unit").Funcs(template.FuncMap{
	"exec": systemdExecLine,
	"env":  func(p envPair) string { return systemdQuote(p.Key+"="+p.Value, false) },
}).Parse(`# Written by "latchkey install"; remove it with "latchkey uninstall".
[Unit]
Description=latchkey credential daemon
Documentation=https://github.com/latchkey/latchkey

[Service]
Type=exec
ExecStart={{exec .Executable .Args}}
{{- range .Env}}
Environment={{env .}}
{{- end}}
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
`))

// renderUnit renders the systemd user unit for normalized options.
func renderUnit(o Options) ([]byte, error) {
	var b bytes.Buffer
	err := unitTemplate.Execute(&b, struct {
		Executable string
		Args       []string
		Env        []envPair
	}{o.Executable, o.Args, sortedEnv(o.Env)})
	return b.Bytes(), err
}

func systemdExecLine(exe string, args []string) string {
	parts := []string{systemdQuote(exe, true)}
	for _, a := range args {
		parts = append(parts, systemdQuote(a, true))
	}
	return strings.Join(parts, " ")
}

// systemdQuote double-quotes s for a unit file: backslash and quote are
// escaped, "%" (specifiers) doubled, and in a command line "$" (variable
// expansion) doubled too.
func systemdQuote(s string, command bool) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '\\', '"':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '%':
			b.WriteString("%%")
		case '$':
			if command {
				b.WriteString("$$")
			} else {
				b.WriteRune(r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
