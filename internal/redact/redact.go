// Package redact makes secrets impossible to log by construction: a Secret
// holds a token, a client secret or a passphrase, and every way of printing
// it (fmt verbs, slog, JSON) prints a placeholder instead.
package redact

import "log/slog"

// Placeholder is what a Secret prints as.
const Placeholder = "[redacted]"

// Secret is a string that never prints. Get the value with Reveal, at the one
// place that must send it.
type Secret struct{ v string }

// New wraps v.
func New(v string) Secret { return Secret{v} }

// Reveal returns the secret value.
func (s Secret) Reveal() string { return s.v }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.v == "" }

func (Secret) String() string               { return Placeholder }
func (Secret) GoString() string             { return Placeholder }
func (Secret) LogValue() slog.Value         { return slog.StringValue(Placeholder) }
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + Placeholder + `"`), nil }
func (Secret) MarshalText() ([]byte, error) { return []byte(Placeholder), nil }
