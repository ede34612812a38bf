// Package menu owns the menu web UI: search as you type, the "My Courses"
// widget and the integrations page, as plain HTML, CSS and ES modules
// embedded in the binary (no build step).
//
// The UI talks only to the same-origin JSON API of the injector (/v1/…). It
// opens its session itself: the menu URL carries a one-time code in its
// fragment (#code=…, never sent to a server), which the page removes from
// the address bar and exchanges (POST /menu/session) for a session secret
// kept in the tab's sessionStorage and sent in the X-Latchkey-Session
// header. No cookie is used, and the page never holds an integration token
// (a Document360 widget token stays in a closure). The injector serves
// [Handler] at /menu without a session: the assets are public.
package menu
