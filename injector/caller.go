package injector

import (
	"context"

	"github.com/latchkey/latchkey/injector/auth"
)

type callerClaimsKey struct{}

// withCallerClaims returns ctx carrying the verified claims of the caller
// the request is served for.
func withCallerClaims(ctx context.Context, c auth.Claims) context.Context {
	return context.WithValue(ctx, callerClaimsKey{}, c)
}

// CallerClaims returns the verified claims of the caller a Backend call is
// made for (set for Backend.Status, so the status document can be cut to
// the caller's scope); ok is false when the call is not made for a caller.
// The control socket's callers have full scope ("*").
func CallerClaims(ctx context.Context) (auth.Claims, bool) {
	c, ok := ctx.Value(callerClaimsKey{}).(auth.Claims)
	return c, ok
}
