// Package daemon owns latchkey's per-user process: where its state lives
// (XDG directories), its configuration (flags > LATCHKEY_* environment >
// TOML file), the vault it opens, the integrations it builds from the
// registry and the organisation identity beside them (an integration that
// differs only by the integrations interfaces it implements), OAuth connect
// flows and single-flight token refresh, the control API (its own route
// table, controlRoutes, served on the control socket to callers of this
// user; package client is its client and client/apitype its documents),
// the injector listener, the sync loop to a remote store, and the tray and
// hotkey when a display exists.
//
// The daemon is the only package that imports both the vault and the
// injector; the injector, the tray and the integrations see it through the
// small interfaces they declare.
package daemon
