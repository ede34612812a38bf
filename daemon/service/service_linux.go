package service

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/latchkey/latchkey/internal/redact"
)

// unitPath is $XDG_CONFIG_HOME/systemd/user/latchkey.service.
func unitPath() (string, error) {
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" || !filepath.IsAbs(dir) {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("service: no XDG_CONFIG_HOME and no home directory: %w", err)
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "systemd", "user", Name+".service"), nil
}

// userManagerRunning reports whether `systemctl --user` has a manager to
// talk to: systemctl exists and the manager's private socket is in
// XDG_RUNTIME_DIR.
func userManagerRunning() bool {
	if _, err := exec.LookPath("systemctl"); err != nil {
		return false
	}
	rt := os.Getenv("XDG_RUNTIME_DIR")
	if rt == "" {
		return false
	}
	_, err := os.Stat(filepath.Join(rt, "systemd", "private"))
	return err == nil
}

func systemctl(args ...string) error {
	cmd := exec.Command("systemctl", append([]string{"--user"}, args...)...)
	cmd.Env = redact.ChildEnv()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(out.String())
		if msg != "" {
			return fmt.Errorf("systemctl --user %s: %v: %s", strings.Join(args, " "), err, msg)
		}
		return fmt.Errorf("systemctl --user %s: %v", strings.Join(args, " "), err)
	}
	return nil
}

// Install writes the systemd user unit and, when a user manager is
// running, enables and starts it (else Out says how). It returns the
// unit's path. Installing again replaces the unit and restarts it.
func Install(o Options) (string, error) {
	o, err := o.normalize()
	if err != nil {
		return "", err
	}
	path, err := unitPath()
	if err != nil {
		return "", err
	}
	unit, err := renderUnit(o)
	if err != nil {
		return "", err
	}
	if err := writeFile(path, unit); err != nil {
		return "", fmt.Errorf("install: writing %s: %w", path, err)
	}
	fmt.Fprintf(o.Out, "Wrote %s\n", path)
	if !userManagerRunning() {
		fmt.Fprintf(o.Out, "No systemd user manager is running in this session. In your login session run:\n"+
			"  systemctl --user daemon-reload && systemctl --user enable --now %s.service\n", Name)
		return path, nil
	}
	if err := systemctl("daemon-reload"); err != nil {
		return path, fmt.Errorf("install: %w", err)
	}
	if err := systemctl("enable", Name+".service"); err != nil {
		return path, fmt.Errorf("install: %w", err)
	}
	if err := systemctl("restart", Name+".service"); err != nil {
		return path, fmt.Errorf("install: %w (see: journalctl --user -u %s)", err, Name)
	}
	fmt.Fprintf(o.Out, "Enabled and started %s.service (logs: journalctl --user -u %s)\n", Name, Name)
	return path, nil
}

// Uninstall stops and disables the unit when a user manager is running,
// removes the unit file and reloads the manager. It returns ErrNotInstalled
// when there is no unit file.
func Uninstall() error {
	path, err := unitPath()
	if err != nil {
		return err
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return ErrNotInstalled
	}
	running := userManagerRunning()
	if running {
		if err := systemctl("disable", "--now", Name+".service"); err != nil {
			return fmt.Errorf("uninstall: %w", err)
		}
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("uninstall: %w", err)
	}
	if running {
		if err := systemctl("daemon-reload"); err != nil {
			return fmt.Errorf("uninstall: %w", err)
		}
	}
	return nil
}
