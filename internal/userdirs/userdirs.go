package userdirs

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// SocketFile is the control socket's file name in the runtime directory.
const SocketFile = "latchkey.sock"

// maxSocketPath is the longest control-socket path every supported OS
// accepts (sun_path is 104 bytes on macOS, 108 on Linux, with the NUL).
const maxSocketPath = 100

// Dirs are latchkey's directories for one user. Every one lives under an
// XDG base directory in a folder named "latchkey", so a second user (or a
// test) is isolated by setting XDG_STATE_HOME, XDG_DATA_HOME,
// XDG_CONFIG_HOME and XDG_RUNTIME_DIR.
type Dirs struct {
	State   string // $XDG_STATE_HOME/latchkey
	Config  string // $XDG_CONFIG_HOME/latchkey
	Data    string // $XDG_DATA_HOME/latchkey
	Runtime string // $XDG_RUNTIME_DIR/latchkey, or a fallback (see runtimeDir)
}

// Default resolves the directories from the environment, with the usual
// fallbacks under the home directory.
func Default() (Dirs, error) {
	home, _ := os.UserHomeDir()
	base := func(env, fallback string) (string, error) {
		if v := os.Getenv(env); v != "" && filepath.IsAbs(v) {
			return filepath.Join(v, "latchkey"), nil
		}
		if home == "" {
			return "", fmt.Errorf("cannot find the home directory and %s is not set", env)
		}
		return filepath.Join(home, fallback, "latchkey"), nil
	}
	var d Dirs
	var err error
	if d.State, err = base("XDG_STATE_HOME", ".local/state"); err != nil {
		return d, err
	}
	if d.Config, err = base("XDG_CONFIG_HOME", ".config"); err != nil {
		return d, err
	}
	if d.Data, err = base("XDG_DATA_HOME", ".local/share"); err != nil {
		return d, err
	}
	d.Runtime = runtimeDir(d.State)
	return d, nil
}

// Socket is the control socket's path.
func (d Dirs) Socket() string { return filepath.Join(d.Runtime, SocketFile) }

// runtimeDir picks the directory of the control socket: $XDG_RUNTIME_DIR,
// else the per-user /run/user/UID that the login manager creates (checked
// to be this user's own), else a "run" folder inside the state directory,
// which no other user can create first. Only when that path is too long for
// a unix socket does it fall back to the temporary directory; the daemon
// verifies that one, like every other, before use.
func runtimeDir(stateDir string) string {
	if v := os.Getenv("XDG_RUNTIME_DIR"); v != "" && filepath.IsAbs(v) {
		return filepath.Join(v, "latchkey")
	}
	if d := LoginRuntimeDir(); d != "" {
		return filepath.Join(d, "latchkey")
	}
	if d := filepath.Join(stateDir, "run"); len(filepath.Join(d, SocketFile)) <= maxSocketPath {
		return d
	}
	return filepath.Join(os.TempDir(), "latchkey-"+strconv.Itoa(os.Getuid()))
}
