//go:build !linux && !darwin && !windows

package opener

// Default is the command that opens URLs here: xdg-open.
func Default() []string { return []string{"xdg-open"} }
