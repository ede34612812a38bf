// Package menu owns the menu web UI, a launcher: search as you type (one
// ranked list over the page), the "My Courses" home widget and Settings →
// Integrations, as plain HTML, CSS and ES modules embedded in the binary (no
// build step). The daemon's own result pages use its stylesheet too.
//
// The UI talks only to the same-origin JSON API of the injector (/v1/…). It
// opens its session itself: the menu URL carries a one-time code in its
// fragment (#code=…, never sent to a server; #launch=… from the daemon's
// launcher file), which the page removes from the address bar and
// exchanges (POST /menu/session) for a session secret
// kept in the tab's sessionStorage and sent in the X-Latchkey-Session
// header. No cookie is used, and the page never holds an integration token
// (a Document360 widget token stays in a closure). An open page keeps a
// long poll on /v1/menu/focus, so that the hotkey brings it back instead of
// opening another. The injector serves
// [Handler] at /menu without a session: the assets are public.
package menu
