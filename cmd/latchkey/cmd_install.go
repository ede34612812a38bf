package main

import (
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/daemon/service"
)

func newInstallCmd(env *cliEnv) *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Run the daemon at login as a per-user service (systemd user unit, launchd agent, or Run key)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			if exe, err = filepath.EvalSymlinks(exe); err != nil {
				return err
			}
			args := []string{"daemon"}
			if listen != "" {
				args = append(args, "--listen", listen)
			}
			path, err := service.Install(service.Options{Executable: exe, Args: args, Out: env.stdout})
			if err != nil {
				return err
			}
			env.printf("Installed the latchkey service: %s\n", path)
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "", "injector address for the service (default 127.0.0.1:7788)")
	return cmd
}

func newUninstallCmd(env *cliEnv) *cobra.Command {
	return &cobra.Command{
		Use:   "uninstall",
		Short: "Remove the per-user service (the vault and its tokens stay)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := service.Uninstall(); err != nil {
				return err
			}
			env.printf("Removed the latchkey service.\n")
			return nil
		},
	}
}
