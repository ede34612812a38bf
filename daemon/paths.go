package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// Paths are the directories and files latchkey uses for one user. Every one
// lives under an XDG base directory in a folder named "latchkey", so a second
// user (or a test) is isolated by setting XDG_STATE_HOME, XDG_DATA_HOME,
// XDG_CONFIG_HOME and XDG_RUNTIME_DIR.
type Paths struct {
	StateDir   string // sealed records, metadata, audit: $XDG_STATE_HOME/latchkey
	ConfigDir  string // config.toml: $XDG_CONFIG_HOME/latchkey
	DataDir    string // opt-in file keychain: $XDG_DATA_HOME/latchkey
	RuntimeDir string // control socket, pid file, client JWT: $XDG_RUNTIME_DIR/latchkey
}

// DefaultPaths resolves the XDG directories from the environment, with the
// usual fallbacks.
func DefaultPaths() (Paths, error) {
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
	var p Paths
	var err error
	if p.StateDir, err = base("XDG_STATE_HOME", ".local/state"); err != nil {
		return p, err
	}
	if p.ConfigDir, err = base("XDG_CONFIG_HOME", ".config"); err != nil {
		return p, err
	}
	if p.DataDir, err = base("XDG_DATA_HOME", ".local/share"); err != nil {
		return p, err
	}
	if v := os.Getenv("XDG_RUNTIME_DIR"); v != "" && filepath.IsAbs(v) {
		p.RuntimeDir = filepath.Join(v, "latchkey")
	} else {
		p.RuntimeDir = filepath.Join(os.TempDir(), "latchkey-"+strconv.Itoa(os.Getuid()))
	}
	return p, nil
}

// DBPath is the local SQLite store.
func (p Paths) DBPath() string { return filepath.Join(p.StateDir, "latchkey.db") }

// ConfigFile is the TOML configuration.
func (p Paths) ConfigFile() string { return filepath.Join(p.ConfigDir, "config.toml") }

// SocketPath is the control socket the CLI reaches the daemon on.
func (p Paths) SocketPath() string { return filepath.Join(p.RuntimeDir, "latchkey.sock") }

// PIDFile holds the running daemon's pid and is locked while it runs.
func (p Paths) PIDFile() string { return filepath.Join(p.RuntimeDir, "latchkey.pid") }

// ClientTokenFile is where the daemon writes a fresh local client JWT for
// the user's own processes.
func (p Paths) ClientTokenFile() string { return filepath.Join(p.RuntimeDir, "client.jwt") }

// FileKeychainPath is the opt-in passphrase-sealed keychain file.
func (p Paths) FileKeychainPath() string { return filepath.Join(p.DataDir, "keychain.sealed") }

// ensureDir creates dir with mode 0700 and tightens it when it exists.
func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	return os.Chmod(dir, 0o700)
}
