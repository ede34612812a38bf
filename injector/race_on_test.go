//go:build race

package injector

// raceEnabled: the race detector slows every call several times over, so
// timing budgets are not checked under it.
const raceEnabled = true
