//go:build !windows

package tray

const iconFormat = "png"
