package service

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/latchkey/latchkey/internal/atomicfile"
)

// Name is the service's name: latchkey.service, the Run value "latchkey".
const Name = "latchkey"

// Label is the launchd agent's label.
const Label = "com.github.latchkey.daemon"

// ErrNotInstalled is returned by Uninstall when there is nothing to remove.
var ErrNotInstalled = errors.New("the latchkey service is not installed")

// ErrUnsupported is returned on an OS without a per-user service here.
var ErrUnsupported = errors.New("no per-user service on this OS: start `latchkey daemon` from your session's autostart")

// Options describe the service to install.
type Options struct {
	// Executable is the absolute path of the latchkey binary; empty means
	// this process's executable.
	Executable string
	// Args are the arguments; nil means []string{"daemon"}.
	Args []string
	// Env is extra environment for the daemon (e.g. LATCHKEY_LISTEN). It
	// is written in the clear: never a secret.
	Env map[string]string
	// Out receives what Install did and, when it could not start the
	// service itself, the command to run; nil discards it.
	Out io.Writer
}

var envKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// normalize fills the defaults and rejects what no service file can hold.
func (o Options) normalize() (Options, error) {
	if o.Executable == "" {
		exe, err := os.Executable()
		if err != nil {
			return o, fmt.Errorf("install: cannot find the latchkey executable: %w (pass its path)", err)
		}
		o.Executable = exe
	}
	if !filepath.IsAbs(o.Executable) {
		return o, fmt.Errorf("install: the executable path %q is not absolute", o.Executable)
	}
	if resolved, err := filepath.EvalSymlinks(o.Executable); err == nil {
		o.Executable = resolved
	}
	if o.Args == nil {
		o.Args = []string{"daemon"}
	}
	for _, a := range append([]string{o.Executable}, o.Args...) {
		if strings.ContainsAny(a, "\x00\n\r") {
			return o, fmt.Errorf("install: argument %q contains a newline or NUL", a)
		}
	}
	for k, v := range o.Env {
		if !envKey.MatchString(k) {
			return o, fmt.Errorf("install: %q is not a valid environment variable name", k)
		}
		if strings.ContainsAny(v, "\x00\n\r") {
			return o, fmt.Errorf("install: the value of %s contains a newline or NUL", k)
		}
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	return o, nil
}

// envPair is one environment variable, for sorted rendering.
type envPair struct{ Key, Value string }

func sortedEnv(env map[string]string) []envPair {
	out := make([]envPair, 0, len(env))
	for k, v := range env {
		out = append(out, envPair{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// writeFile writes data to path (0600; the directory 0700 if created)
// atomically, so a failed install leaves the old file intact.
func writeFile(path string, data []byte) error { return atomicfile.WriteFile(path, data, 0o600) }
