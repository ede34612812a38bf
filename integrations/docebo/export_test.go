package docebo

import (
	"context"

	"github.com/latchkey/latchkey/integrations"
)

// GetForTest runs one GET of path through the API client (bearer token,
// 401 → refresh → retry), for tests of that loop on paths no public method
// calls.
func (d *Docebo) GetForTest(ctx context.Context, tokens integrations.Tokens, path string) error {
	return d.call(ctx, tokens, apiCall{method: "GET", path: path}, nil)
}
