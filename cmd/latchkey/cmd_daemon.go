package main

import (
	"errors"
	"log/slog"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/daemon"
)

func newDaemonCmd(env *cliEnv) *cobra.Command {
	var noTray bool
	var logFormat string
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Run the latchkey daemon (injector, tray, hotkey, sync) in the foreground",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, c, err := env.setup()
			if err != nil {
				return err
			}
			if noTray {
				c.NoTray = true
			}
			logger, err := newLogger(env, c.LogLevel, logFormat)
			if err != nil {
				return err
			}
			if n := *c.MaxProcs; n > 0 && env.getenv("GOMAXPROCS") == "" {
				runtime.GOMAXPROCS(n)
			}
			if pid, ok := daemon.RunningPID(p); ok {
				return errors.New(daemon.ErrAlreadyRunning.Error() + " (pid " + itoa(pid) + ")")
			}
			d, err := daemon.Open(cmd.Context(), daemon.Options{
				Paths: p, Config: c, Registry: newRegistry(), Logger: logger, Version: version, Out: env.stdout,
			})
			if err != nil {
				return err
			}
			defer d.Close()
			if rep := d.Report(); rep != nil && len(rep.Purged) > 0 {
				env.printf("latchkey: the vault key was lost or replaced; these integrations must be connected again: %s\n", strings.Join(rep.Purged, ", "))
			}
			return d.Run(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&env.listen, "listen", "", "injector address (default 127.0.0.1:7788; env LATCHKEY_LISTEN)")
	cmd.Flags().BoolVar(&noTray, "no-tray", false, "do not start the tray icon and hotkey (env LATCHKEY_NO_TRAY=1)")
	cmd.Flags().StringVar(&logFormat, "log-format", "", "text or json (default: text on a terminal, json otherwise)")
	return cmd
}

func newLogger(env *cliEnv, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, errors.New("log level " + level + ": use debug, info, warn or error")
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "":
		if isTerminal(env.stderr) {
			return slog.New(slog.NewTextHandler(env.stderr, opts)), nil
		}
		return slog.New(slog.NewJSONHandler(env.stderr, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(env.stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(env.stderr, opts)), nil
	}
	return nil, usageError{"--log-format must be text or json"}
}
