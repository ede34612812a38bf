package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/latchkey/latchkey/client"
	"github.com/spf13/cobra"
)

func newVersionCmd(env *cliEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := map[string]string{"version": version, "go": runtime.Version(), "os": runtime.GOOS, "arch": runtime.GOARCH}
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, s := range bi.Settings {
					switch s.Key {
					case "vcs.revision":
						v["commit"] = s.Value
					case "CGO_ENABLED":
						v["cgo"] = s.Value
					}
				}
			}
			if commit != "" {
				v["commit"] = commit
			}
			if env.jsonOut {
				return printJSON(env.stdout, v)
			}
			if commit != "" {
				env.printf("latchkey %s (commit %s, %s, %s/%s)\n", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
				return nil
			}
			env.printf("latchkey %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
	cmd.Flags().BoolVar(&env.jsonOut, "json", false, "print as JSON")
	return cmd
}

func newRotateKeyCmd(env *cliEnv) *cobra.Command {
	return &cobra.Command{
		Use:   "rotate-key",
		Short: "Make a new salt and re-seal every record under it (crash-safe)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			keyID, err := env.ctl.RotateKey(cmd.Context())
			if errors.Is(err, client.ErrNotRunning) {
				d, oerr := env.openOffline(cmd.Context())
				if oerr != nil {
					return oerr
				}
				defer d.Close()
				if err = d.RotateKey(cmd.Context()); err == nil {
					st, serr := d.StatusDoc(cmd.Context())
					if serr != nil {
						return serr
					}
					keyID = st.KeyID
				}
			}
			if err != nil {
				return err
			}
			env.printf("Every record is re-sealed under the new key %s; the old salt is removed.\n", keyID)
			return nil
		},
	}
}

func newKeysCmd(env *cliEnv) *cobra.Command {
	keys := &cobra.Command{Use: "keys", Short: "Manage signing keys for the JWT-bearer grant"}
	var force bool
	gen := &cobra.Command{
		Use:               "generate NAME",
		Short:             "Make an RSA key pair for NAME's JWT-bearer grant: the private key is sealed in the vault, the public key printed (PEM) to upload",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeIntegration(false),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := env.openOffline(cmd.Context())
			if err != nil {
				return err
			}
			defer d.Close()
			if !force && d.HasSigningKey(cmd.Context(), args[0]) {
				return fmt.Errorf("%s has a signing key already (its public key is uploaded to %s): add --force to replace it, then upload the new one", args[0], args[0])
			}
			key, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				return err
			}
			if err := d.StoreSigningKey(cmd.Context(), args[0], key); err != nil {
				return err
			}
			der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
			if err != nil {
				return err
			}
			_, err = env.stdout.Write(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
			if err == nil {
				fmt.Fprintf(env.stderr, "Upload this public key to %s's OAuth app (JWT Bearer), then: latchkey connect %s --grant jwt-bearer --username USER\n", args[0], args[0])
			}
			return err
		},
	}
	gen.Flags().BoolVar(&force, "force", false, "replace an existing signing key")
	keys.AddCommand(gen)
	return keys
}

func newMenuCmd(env *cliEnv) *cobra.Command {
	var printURL bool
	cmd := &cobra.Command{
		Use:   "menu",
		Short: "Open the menu (search, My Courses, integrations) in the browser",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			u, err := env.ctl.MenuURL(cmd.Context())
			if err != nil {
				return err
			}
			if printURL {
				fmt.Fprintln(env.stdout, u)
				return nil
			}
			return openOrPrint(cmd.Context(), env, u, "menu link (valid once, for a short time)")
		},
	}
	cmd.Flags().BoolVar(&printURL, "print-url", false, "print the one-time menu URL instead of opening it")
	return cmd
}
