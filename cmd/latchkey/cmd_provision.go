package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

// newProvisionCmd is `latchkey provision NAME`: the administrator's way to
// put the client secret of an integration the managed file configures into
// a user's keychain (the file never holds secrets).
func newProvisionCmd(env *cliEnv) *cobra.Command {
	return &cobra.Command{
		Use:   "provision NAME",
		Short: "Store the client secret of an integration the organisation's managed file configures (stdin)",
		Long: `Store the client secret of an integration that the managed file
(/etc/latchkey/managed.toml, or LATCHKEY_MANAGED_CONFIG) configures, in this
user's OS keychain. The secret is read from stdin (a no-echo prompt on a
terminal); the managed file itself refuses secrets. Run it as the user, e.g.
from the MDM's per-user login script:

  printf '%s' "$DOCEBO_CLIENT_SECRET" | latchkey provision docebo

Integrations enabled in latchkey-store need no provisioning: the daemon
receives their secret from the store.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			d, err := env.openOffline(cmd.Context())
			if err != nil {
				return err
			}
			defer d.Close()
			secret, err := env.readSecret(fmt.Sprintf("%s client secret: ", name))
			if err != nil {
				return err
			}
			if secret == "" {
				return errors.New("no client secret given: pipe it on stdin or type it at the prompt")
			}
			if err := d.ProvisionSecret(name, secret); err != nil {
				return err
			}
			env.notifyReload(cmd.Context())
			env.printf("Stored %s's client secret in the OS keychain.\n", name)
			return nil
		},
	}
}
