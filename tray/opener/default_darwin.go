package opener

// Default is the command that opens URLs here: open.
func Default() []string { return []string{"open"} }
