package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/latchkey/latchkey/client/apitype"
	"github.com/spf13/cobra"
)

func newAppsCmd(env *cliEnv) *cobra.Command {
	apps := &cobra.Command{Use: "apps", Short: "Apps (MCP assistants included) you allowed to use your tools"}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the apps' grants: app, integrations, created, last used, state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			grants, err := env.ctl.Apps(cmd.Context())
			if err != nil {
				return err
			}
			out := apitype.AppGrantList{Apps: grants}
			if out.Apps == nil {
				out.Apps = []apitype.AppGrant{}
			}
			if env.jsonOut {
				return printJSON(env.stdout, out)
			}
			if len(out.Apps) == 0 {
				env.printf("No app has asked for access yet.\n")
				return nil
			}
			tw := tabwriter.NewWriter(env.stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "ID\tAPP\tSTATE\tINTEGRATIONS\tRESOURCE\tCREATED\tLAST USED\n")
			for _, g := range out.Apps {
				res := g.Resource
				if res == "" {
					res = "all"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", g.ID, g.AppName, g.State, strings.Join(g.Integrations, ","), res,
					g.CreatedAt.Local().Format(time.RFC3339), g.LastUsedAt.Local().Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&env.jsonOut, "json", false, "print as JSON")
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an app's grant now: its tokens stop at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := env.ctl.RevokeApp(cmd.Context(), args[0]); err != nil {
				return err
			}
			env.printf("Revoked %s: its tokens no longer work.\n", args[0])
			return nil
		},
	}
	apps.AddCommand(list, revoke)
	return apps
}
