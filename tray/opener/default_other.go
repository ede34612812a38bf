//go:build !linux && !darwin && !windows

package opener

// Default is the command that opens URLs here: xdg-open.
func Default() []string { return []string{"xdg-open"} }

// appBrowsers are the Chromium-family browsers AppBrowser looks for, in order.
var appBrowsers = []string{"chromium", "chromium-browser", "google-chrome"}
