package service

import (
	"errors"
	"fmt"

	"golang.org/x/sys/windows/registry"
)

// Install sets HKCU\Software\Microsoft\Windows\CurrentVersion\Run\latchkey
// to the daemon's command line, so it starts at logon. The Run key cannot
// carry environment variables: use the config file instead of Env. It
// returns the value's registry path.
func Install(o Options) (string, error) {
	o, err := o.normalize()
	if err != nil {
		return "", err
	}
	if len(o.Env) > 0 {
		return "", errors.New("install: the Windows Run key cannot set environment variables; put the settings in the latchkey config file")
	}
	k, _, err := registry.CreateKey(registry.CURRENT_USER, RunKey, registry.SET_VALUE)
	if err != nil {
		return "", fmt.Errorf("install: opening HKCU\\%s: %w", RunKey, err)
	}
	defer k.Close()
	line := windowsCommandLine(append([]string{o.Executable}, o.Args...))
	if err := k.SetStringValue(Name, line); err != nil {
		return "", fmt.Errorf("install: writing HKCU\\%s\\%s: %w", RunKey, Name, err)
	}
	path := `HKCU\` + RunKey + `\` + Name
	fmt.Fprintf(o.Out, "Set %s; latchkey starts at your next logon (run `latchkey daemon` to start it now)\n", path)
	return path, nil
}

// Uninstall deletes the Run value; ErrNotInstalled when there is none.
func Uninstall() error {
	k, err := registry.OpenKey(registry.CURRENT_USER, RunKey, registry.SET_VALUE)
	if err != nil {
		if errors.Is(err, registry.ErrNotExist) {
			return ErrNotInstalled
		}
		return fmt.Errorf("uninstall: %w", err)
	}
	defer k.Close()
	if err := k.DeleteValue(Name); err != nil {
		if errors.Is(err, registry.ErrNotExist) {
			return ErrNotInstalled
		}
		return fmt.Errorf("uninstall: %w", err)
	}
	return nil
}
