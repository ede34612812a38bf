// Package apitype owns the JSON documents of latchkey's control socket:
// what the CLI and the tray send to the daemon and what it answers (the
// status document, connect flows, local tokens, personal clients, the
// audit trail, errors). The daemon produces them, the client package
// decodes them; neither side declares a copy of its own.
package apitype
