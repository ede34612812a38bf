// Package depcheck holds no code: its tests keep latchkey's import arrows
// one-way (cmd → daemon → {injector, tray, client} → integrations → vault
// → stores), as tailscale's deps tests do, and fail naming every library
// package that has no package doc comment.
package depcheck
