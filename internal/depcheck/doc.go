// Package depcheck holds no code: its test keeps latchkey's import arrows
// one-way (cmd → daemon → injector/tray → integrations → vault → stores), as
// tailscale's deps tests do.
package depcheck
