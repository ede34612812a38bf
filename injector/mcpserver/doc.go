// Package mcpserver owns latchkey's Model Context Protocol server: the tools
// a desktop assistant calls to search the person's tools, list their
// courses, read a knowledge-base article and open a course signed in, built
// on the official Go SDK (github.com/modelcontextprotocol/go-sdk).
//
// The tools reach the integrations only through latchkey's own local API
// (an [API]: in the daemon for /mcp over streamable HTTP, over the control
// socket for `latchkey mcp` on stdio), so they see what the caller's scope
// allows and nothing else: results are the API's normalised items, errors
// its human messages, and a partial failure (one integration down) still
// returns what the others found. No tool result holds a provider token, a
// local JWT or a signed-in link: open_course opens its link on the desktop
// and answers only that it did.
package mcpserver
