// Package opener opens a URL in the user's browser by running a
// configurable command (xdg-open, open, rundll32 url.dll,FileProtocolHandler
// by default) with the URL as its last argument — never through a shell —
// so tests can substitute a command they observe.
package opener
