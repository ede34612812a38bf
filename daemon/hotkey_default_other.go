//go:build !darwin

package daemon

const defaultHotkey = "ctrl+shift+e"
