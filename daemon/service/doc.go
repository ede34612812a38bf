// Package service installs and removes latchkey's per-user service, which
// runs `latchkey daemon` when the user logs in: a systemd user unit on
// Linux, a launchd agent on macOS, a Run key value on Windows. Each OS's
// code is in its own file; the unit and plist renderers are plain Go so
// they are tested everywhere.
//
// Never put a secret in Options: the arguments and environment are written
// to a file (or the registry) in the clear.
package service
