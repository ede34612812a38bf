package service

import (
	"bytes"
	"encoding/xml"
	"path/filepath"
	"text/template"
)

var plistTemplate = template.Must(template.New("plist").Funcs(template.FuncMap{
	"x": xmlText,
}).Parse(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<!-- Written by "latchkey install"; remove it with "latchkey uninstall". -->
<plist version="1.0">
<dict>
	<key>Label</key>
	<string>{{x .Label}}</string>
	<key>ProgramArguments</key>
	<array>
		<string>{{x .Executable}}</string>
{{- range .Args}}
		<string>{{x .}}</string>
{{- end}}
	</array>
{{- if .Env}}
	<key>EnvironmentVariables</key>
	<dict>
{{- range .Env}}
		<key>{{x .Key}}</key>
		<string>{{x .Value}}</string>
{{- end}}
	</dict>
{{- end}}
	<key>RunAtLoad</key>
	<true/>
	<key>KeepAlive</key>
	<dict>
		<key>SuccessfulExit</key>
		<false/>
	</dict>
	<key>ProcessType</key>
	<string>Interactive</string>
	<key>Umask</key>
	<integer>63</integer>
	<key>StandardOutPath</key>
	<string>{{x .Log}}</string>
	<key>StandardErrorPath</key>
	<string>{{x .Log}}</string>
</dict>
</plist>
`))

// renderPlist renders the launchd agent for normalized options; logDir is
// where the daemon's output goes (~/Library/Logs/latchkey).
func renderPlist(o Options, logDir string) ([]byte, error) {
	var b bytes.Buffer
	err := plistTemplate.Execute(&b, struct {
		Label, Executable, Log string
		Args                   []string
		Env                    []envPair
	}{Label, o.Executable, filepath.Join(logDir, "daemon.log"), o.Args, sortedEnv(o.Env)})
	return b.Bytes(), err
}

func xmlText(s string) (string, error) {
	var b bytes.Buffer
	err := xml.EscapeText(&b, []byte(s))
	return b.String(), err
}
