//go:build !linux && !darwin && !windows

package service

// Install returns ErrUnsupported: this OS has no per-user service here.
func Install(o Options) (string, error) { return "", ErrUnsupported }

// Uninstall returns ErrUnsupported.
func Uninstall() error { return ErrUnsupported }
