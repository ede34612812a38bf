package daemon

import "github.com/latchkey/latchkey/integrations"

// rateBudget is the provider request budget of the integration name, for
// the status document, when the integration tracks one. Only the running
// daemon knows it: a status computed offline has none.
func (d *Daemon) rateBudget(name string) *integrations.RateBudget {
	if d.inj == nil {
		return nil
	}
	in, ok := d.integration(name)
	if !ok {
		return nil
	}
	rb, ok := in.(integrations.RateBudgets)
	if !ok {
		return nil
	}
	b, ok := rb.RateBudget()
	if !ok {
		return nil
	}
	return &b
}
