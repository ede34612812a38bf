package keychain

import (
	"os"
	"path/filepath"
	"strconv"
)

// precheck refuses before go-keyring runs when no session bus is known:
// godbus would otherwise autolaunch one (dbus-launch) together with a keyring
// daemon, both outliving this process, and the secret would land in a
// keychain nobody unlocks again.
func precheck() error {
	if a := os.Getenv("DBUS_SESSION_BUS_ADDRESS"); a != "" && a != "autolaunch:" {
		return nil
	}
	// The same discovery godbus does before autolaunching: the systemd user
	// bus socket, or the address file some sessions leave beside it.
	dir := filepath.Join("/run/user", strconv.Itoa(os.Getuid()))
	for _, name := range []string{"bus", "dbus-session"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return nil
		}
	}
	return unavailable("no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is unset): run inside a desktop session, or under dbus-run-session with gnome-keyring unlocked, or opt in to the file keychain (LATCHKEY_KEYCHAIN=file)")
}
