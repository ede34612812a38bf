package opener

// Default is the command that opens URLs here: open.
func Default() []string { return []string{"open"} }

// appBrowsers: none is looked for on macOS (its browsers are not on PATH); open uses the default browser.
var appBrowsers []string
