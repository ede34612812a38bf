// Package menu owns the menu web UI: search as you type, the "My Courses"
// widget and the integrations page, as plain HTML, CSS and ES modules
// embedded in the binary (no build step).
//
// The UI talks only to the same-origin JSON API of the injector (/v1/…) with
// the HttpOnly session cookie; it never holds a token. The injector serves
// [Handler] at /menu behind that cookie; this package neither checks the
// session nor knows about one-time codes.
package menu
