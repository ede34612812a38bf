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

func plistPath() (string, string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", "", fmt.Errorf("service: no home directory: %w", err)
	}
	return filepath.Join(home, "Library", "LaunchAgents", Label+".plist"),
		filepath.Join(home, "Library", "Logs", "latchkey"), nil
}

func launchctl(args ...string) error {
	cmd := exec.Command("launchctl", args...)
	cmd.Env = redact.ChildEnv()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("launchctl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

func domain() string { return fmt.Sprintf("gui/%d", os.Getuid()) }

// Install writes the launchd agent to ~/Library/LaunchAgents and loads it
// (it runs now and at every login). It returns the plist's path.
func Install(o Options) (string, error) {
	o, err := o.normalize()
	if err != nil {
		return "", err
	}
	path, logDir, err := plistPath()
	if err != nil {
		return "", err
	}
	data, err := renderPlist(o, logDir)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(logDir, 0o700); err != nil {
		return "", fmt.Errorf("install: %w", err)
	}
	if err := writeFile(path, data); err != nil {
		return "", fmt.Errorf("install: writing %s: %w", path, err)
	}
	fmt.Fprintf(o.Out, "Wrote %s\n", path)
	_ = launchctl("bootout", domain()+"/"+Label) // an older copy, if loaded
	if err := launchctl("bootstrap", domain(), path); err != nil {
		if err2 := launchctl("load", "-w", path); err2 != nil {
			return path, fmt.Errorf("install: %w", err)
		}
	}
	fmt.Fprintf(o.Out, "Loaded %s (logs: %s)\n", Label, filepath.Join(logDir, "daemon.log"))
	return path, nil
}

// Uninstall unloads the agent and removes its plist; ErrNotInstalled when
// there is none.
func Uninstall() error {
	path, _, err := plistPath()
	if err != nil {
		return err
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return ErrNotInstalled
	}
	if err := launchctl("bootout", domain()+"/"+Label); err != nil {
		_ = launchctl("unload", "-w", path)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("uninstall: %w", err)
	}
	return nil
}
