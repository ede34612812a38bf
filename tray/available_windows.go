package tray

// Available reports whether a tray can start here: always, on Windows.
func Available() (bool, string) { return true, "" }
