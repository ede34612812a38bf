package integrations

import "time"

// RateBudget is what is known of an integration's request budget at the
// provider: how many requests are left in the current window, from the
// provider's rate-limit headers when it sent them recently, else from the
// integration's own count of the requests it sent.
type RateBudget struct {
	// Limit is the number of requests allowed per window (0: unknown).
	Limit int `json:"limit"`
	// Remaining is the number of requests left in the current window.
	Remaining int `json:"remaining"`
	// WindowSeconds is the length of the window.
	WindowSeconds int `json:"window_seconds"`
	// Source is "provider" when Remaining comes from the provider's headers,
	// "local" when it is this process's own count.
	Source string `json:"source"`
	// ObservedAt is when the provider last reported Remaining (Source
	// "provider" only).
	ObservedAt *time.Time `json:"observed_at,omitempty"`
	// BlockedUntil is when requests may be sent again, while the budget is
	// used up.
	BlockedUntil *time.Time `json:"blocked_until,omitempty"`
}

// RateBudgets is implemented by integrations that track their provider's
// rate budget; `latchkey status` shows it.
type RateBudgets interface {
	RateBudget() (RateBudget, bool)
}
