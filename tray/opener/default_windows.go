package opener

// Default is the command that opens URLs here: rundll32
// url.dll,FileProtocolHandler (no cmd.exe, so no shell parsing of the URL).
func Default() []string { return []string{"rundll32", "url.dll,FileProtocolHandler"} }

// appBrowsers: none is looked for on Windows (its browsers are not on PATH); the default browser is used.
var appBrowsers []string
