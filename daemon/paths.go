package daemon

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/latchkey/latchkey/internal/userdirs"
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
	d, err := userdirs.Default()
	return Paths{StateDir: d.State, ConfigDir: d.Config, DataDir: d.Data, RuntimeDir: d.Runtime}, err
}

// IsDefaultState reports whether the state directory is the default one,
// ~/.local/state/latchkey, however it was named (XDG_STATE_HOME unset, or set
// to ~/.local/state).
func (p Paths) IsDefaultState() bool {
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return false
	}
	return filepath.Clean(p.StateDir) == filepath.Join(home, ".local", "state", "latchkey")
}

// keychainAccount is the keychain account of a setup's salt (and the prefix
// of its client secrets' accounts). The default setup keeps the OS user name
// ("alice"), as it always had; a setup with another state directory adds a
// stable id derived from its device id ("alice@3f9a0c41d2b7"), so isolated
// setups of one user never share or overwrite each other's items. The id is
// a hash of a value already in the database, not a secret, and it moves
// with the state directory.
func keychainAccount(user string, p Paths, device string) string {
	if p.IsDefaultState() {
		return user
	}
	sum := sha256.Sum256([]byte("latchkey keychain account\x00" + device))
	return user + "@" + hex.EncodeToString(sum[:6])
}

// DBPath is the local SQLite store.
func (p Paths) DBPath() string { return filepath.Join(p.StateDir, "latchkey.db") }

// ConfigFile is the TOML configuration.
func (p Paths) ConfigFile() string { return filepath.Join(p.ConfigDir, "config.toml") }

// SocketPath is the control socket the CLI reaches the daemon on.
func (p Paths) SocketPath() string { return filepath.Join(p.RuntimeDir, userdirs.SocketFile) }

// PIDFile holds the running daemon's pid and is locked while it runs.
func (p Paths) PIDFile() string { return filepath.Join(p.RuntimeDir, "latchkey.pid") }

// FileKeychainPath is the opt-in passphrase-sealed keychain file.
func (p Paths) FileKeychainPath() string { return filepath.Join(p.DataDir, "keychain.sealed") }

// ensureDir creates dir (mode 0700) when it is missing and then checks that
// it is a private directory of this user (see checkDir). env names the
// variable that moves it, for the error line.
func ensureDir(dir, env string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(dir), err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	return checkDir(dir, env)
}

// checkDir accepts dir only as a real directory (not a symbolic link) owned
// by the current user, and tightens its mode to 0700 when it is more open:
// it is ours, so that is safe. Anything else is refused with one line naming
// the path and what to do, since another user could have created it to
// read or impersonate what latchkey keeps there.
func checkDir(dir, env string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("check %s: %w", dir, err)
	}
	what := ""
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		what = "is a symbolic link"
	case !fi.IsDir():
		what = "is not a directory"
	default:
		if uid, ok := userdirs.OwnerUID(fi); ok && uid != os.Getuid() {
			what = fmt.Sprintf("belongs to uid %d, not to you (uid %d)", uid, os.Getuid())
		}
	}
	if what != "" {
		return fmt.Errorf("%s %s: latchkey refuses to use it (another user may have created it to intercept latchkey); remove it, or set %s to a private directory of yours", dir, what, env)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("make %s private (mode 0700): %w", dir, err)
		}
	}
	return nil
}
