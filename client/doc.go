// Package client owns the way to talk to a running latchkey daemon: its
// control socket, found in the user's runtime directory, checked to be
// served by the current user before a byte is sent (CheckPeer, which the
// daemon also applies to its callers), and one typed method per control
// route, answering the documents of package apitype. Failures are typed:
// ErrNotRunning when nothing answers, *PeerError when another user serves
// the socket, *APIError with the daemon's error code otherwise.
//
// The zero Client is ready to use:
//
//	var c client.Client
//	st, err := c.Status(ctx)
package client
