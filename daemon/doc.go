// Package daemon owns latchkey's per-user process: where its state lives
// (XDG directories), its configuration (flags > LATCHKEY_* environment >
// TOML file), the vault it opens, the integrations it builds from the
// registry, OAuth connect flows and single-flight token refresh, the
// control socket the CLI talks to, the injector listener, the sync loop to a
// remote store, and the tray and hotkey when a display exists.
//
// The daemon is the only package that imports both the vault and the
// injector; the injector, the tray and the integrations see it through the
// small interfaces they declare.
package daemon
