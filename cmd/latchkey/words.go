package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// identityName is the sign-in integration: configured with `configure
// identity`, signed in with `login`, never connected with `connect`.
const identityName = "identity"

// checkIntegration is a usage error unless name is an integration this build
// knows (identity too when withIdentity): a typo is the same mistake, with
// the same exit code, in every verb.
func checkIntegration(name string, withIdentity bool) error {
	reg := newRegistry()
	if reg.Has(name) || (withIdentity && name == identityName) {
		return nil
	}
	if name == identityName {
		return usageError{`"identity" is the sign-in, not an integration to connect: use latchkey login`}
	}
	return usageError{fmt.Sprintf("unknown integration %q (this build knows %s)", name, strings.Join(reg.Names(), ", "))}
}

// checkIntegrations checks every name of a --integrations list.
func checkIntegrations(names []string) error {
	for _, n := range names {
		if err := checkIntegration(n, false); err != nil {
			return err
		}
	}
	return nil
}

// completeIntegration completes the first argument with the integration
// names this build knows.
func completeIntegration(withIdentity bool) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		names := newRegistry().Names()
		if withIdentity {
			names = append(slices.Clone(names), identityName)
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

var statusWords = map[string]string{
	"not_started": "not started", "in_progress": "in progress", "completed": "completed",
	"enrolled": "enrolled", "suspended": "suspended", "reconnect_needed": "reconnect needed",
	"not_configured": "not configured",
}

// prefixed is msg after "name: ", once: a message that names its
// integration already is not prefixed again ("document360: document360: …").
func prefixed(name, msg string) string {
	for strings.HasPrefix(msg, name+": ") {
		msg = strings.TrimPrefix(msg, name+": ")
	}
	return name + ": " + msg
}

// statusWord is a status for people: "in progress", not "in_progress".
func statusWord(s string) string {
	if w, ok := statusWords[s]; ok {
		return w
	}
	return strings.ReplaceAll(s, "_", " ")
}

// relTime is t relative to now for people ("3 min ago", "in 2 h"); --json
// keeps the ISO time.
func relTime(t, now time.Time) string {
	d := now.Sub(t)
	future := d < 0
	if future {
		d = -d
	}
	var s string
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		s = fmt.Sprintf("%d min", int(d/time.Minute))
	case d < 48*time.Hour:
		s = fmt.Sprintf("%d h", int(d/time.Hour))
	default:
		s = fmt.Sprintf("%d days", int(d/(24*time.Hour)))
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

// checkCourse refuses a course id that is not among the user's courses of
// integration name, so that `open` never signs a link to a page that does
// not exist. When the feed cannot say (the integration's courses failed),
// the daemon decides.
func (e *cliEnv) checkCourse(ctx context.Context, name, id string) error {
	doc, err := e.ctl.Courses(ctx)
	if err != nil {
		return err
	}
	for _, fe := range doc.Errors {
		if fe.Integration == name {
			return nil
		}
	}
	for _, c := range doc.Items {
		if c.Integration == name && c.ID == id {
			return nil
		}
	}
	return fmt.Errorf("no course %q among your %s courses (latchkey courses lists them, with their IDs)", id, name)
}

// completeCourse completes a course id of integration name from the
// user's courses (the title as the description).
func completeCourse(ctx context.Context, env *cliEnv, name string) ([]string, cobra.ShellCompDirective) {
	doc, err := env.ctl.Courses(ctx)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
	}
	var out []string
	for _, c := range doc.Items {
		if c.Integration == name {
			out = append(out, c.ID+"\t"+c.Title)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}
