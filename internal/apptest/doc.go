// Package apptest owns the test helper that gets an app a real grant from a
// running daemon the way an app and the person do: registration,
// authorization with PKCE, the consent view the daemon opened on the
// desktop answered from a menu session (what consent.js does), and the code
// exchanged for tokens. Tests of the daemon and the end-to-end tests share it.
package apptest
