package main

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/latchkey/latchkey/client/apitype"
	"github.com/latchkey/latchkey/daemon"
	"github.com/latchkey/latchkey/integrations"
)

// errDryRun ends a configuration update after its checks, before it is written.
var errDryRun = errors.New("dry run")

func newConfigureCmd(env *cliEnv) *cobra.Command {
	var (
		baseURL, clientID, grant, secretKind string
		issuer, authMethod, localAudience    string
		sets                                 []string
		named                                = map[string]*string{}
	)
	cmd := &cobra.Command{
		Use:   "configure NAME",
		Short: "Configure an integration (its secret is read from stdin or a no-echo prompt, never a flag)",
		Long: `Configure an integration. Non-secret settings go to the TOML config file.

The secret is read from stdin when stdin is not a terminal, else from a
no-echo prompt; it is never taken from a flag or written to the config file:
  - for an OAuth integration (docebo) it is the OAuth client secret, kept in
    the OS keychain;
  - for an API-token integration (document360) it is the API token, sealed in
    the vault like any token; use --secret client to give the widget client
    secret (kept in the keychain) instead.

Base URLs must be https://, except loopback hosts (127.0.0.1, [::1],
localhost), which may be http:// for sandboxes.

Examples:
  printf '%s' "$SECRET" | latchkey configure docebo --url https://acme.docebosaas.com --client-id latchkey
  latchkey configure docebo --url https://learn.acme.com --jwt-audience acme.docebosaas.com --secret none
  latchkey configure document360 --region eu --project PROJECT --version VERSION_ID`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeIntegration(true),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if name == "identity" {
				return configureIdentity(cmd, env, issuer, clientID, authMethod, localAudience)
			}
			if err := checkIntegration(name, true); err != nil {
				return err
			}
			reg := newRegistry()
			p, _, err := env.setup()
			if err != nil {
				return err
			}
			// What the organisation manages is not the user's to change; a
			// managed file that does not load refuses too (it says why).
			managed, err := daemon.ManagedIntegrations(p, env.getenv)
			if err != nil {
				return err
			}
			if m, ok := managed[name]; ok {
				return daemon.ManagedError(name, m)
			}
			settings := map[string]string{}
			for k, v := range named {
				if cmd.Flags().Changed(k) {
					settings[settingKey(k)] = *v
				}
			}
			for _, kv := range sets {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return usageError{fmt.Sprintf("--set %q: use key=value", kv)}
				}
				settings[k] = v
			}
			// Validate the merged configuration before saving it.
			var merged daemon.IntegrationConfig
			apply := func(c *daemon.Config) error {
				if c.Integrations == nil {
					c.Integrations = map[string]daemon.IntegrationConfig{}
				}
				ic := c.Integrations[name]
				if cmd.Flags().Changed("url") {
					ic.URL = baseURL
				}
				if cmd.Flags().Changed("client-id") {
					ic.ClientID = clientID
				}
				if cmd.Flags().Changed("grant") {
					ic.Grant = grant
				}
				if len(settings) > 0 && ic.Settings == nil {
					ic.Settings = map[string]string{}
				}
				for k, v := range settings {
					ic.Settings[k] = v
				}
				if _, err := reg.New(integrations.Config{Name: name, BaseURL: ic.URL, ClientID: ic.ClientID, Settings: ic.Settings}); err != nil {
					return err
				}
				c.Integrations[name] = ic
				merged = ic
				return nil
			}
			// Nothing is written before every step that can fail has been
			// tried: the configuration is checked (a dry run), then the
			// keychain is reached (the secret goes there), then it is saved.
			if err := daemon.SaveFileConfig(p.ConfigFile(), func(c *daemon.Config) error {
				if err := apply(c); err != nil {
					return err
				}
				return errDryRun
			}); !errors.Is(err, errDryRun) {
				return err
			}
			if d, err := env.openOffline(cmd.Context()); err != nil {
				return err
			} else {
				d.Close()
			}
			if err := daemon.SaveFileConfig(p.ConfigFile(), apply); err != nil {
				return err
			}
			d, err := env.openOffline(cmd.Context())
			if err != nil {
				return err
			}
			defer d.Close()
			kind, err := d.SecretKind(name, secretKind)
			if err != nil {
				return err
			}
			what := ""
			switch kind {
			case daemon.SecretClient:
				secret, err := env.readSecret(fmt.Sprintf("%s client secret: ", name))
				if err != nil {
					return err
				}
				if secret == "" {
					if !d.HasClientSecret(name) {
						return errors.New("no client secret given: pipe it on stdin or type it at the prompt")
					}
					what = "kept the client secret already in the keychain"
				} else {
					if err := d.SetClientSecret(name, secret); err != nil {
						return err
					}
					what = "client secret stored in the OS keychain"
				}
			case daemon.SecretToken:
				secret, err := env.readSecret(fmt.Sprintf("%s API token: ", name))
				if err != nil {
					return err
				}
				if secret == "" {
					return errors.New("no API token given: pipe it on stdin or type it at the prompt")
				}
				if err := d.ConnectWithGrant(cmd.Context(), name, apitype.GrantRequest{Grant: integrations.GrantAPIToken, Token: secret}); err != nil {
					return err
				}
				what = "API token sealed in the vault"
			}
			env.notifyReload(cmd.Context())
			if env.jsonOut {
				keys := make([]string, 0, len(merged.Settings))
				for k := range merged.Settings {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				return printJSON(env.stdout, map[string]any{"name": name, "url": merged.URL, "client_id": merged.ClientID, "grant": merged.Grant, "settings": keys, "config_file": p.ConfigFile()})
			}
			env.printf("Configured %s in %s; %s.\n", name, p.ConfigFile(), what)
			if kind == daemon.SecretClient {
				env.printf("Next: latchkey connect %s\n", name)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&baseURL, "url", "", "the platform's base URL (https://; http:// only for loopback sandboxes)")
	f.StringVar(&clientID, "client-id", "", "the OAuth client id")
	f.StringVar(&grant, "grant", "", "authorization_code (default), password, client_credentials, or urn:ietf:params:oauth:grant-type:jwt-bearer")
	f.StringVar(&secretKind, "secret", "auto", "what stdin carries: client (client secret), token (API token), none, or auto")
	f.StringArrayVar(&sets, "set", nil, "an integration setting key=value (repeatable)")
	for _, s := range []struct{ name, help string }{
		{"region", "document360: data centre eu, us or ca"},
		{"project", "document360: project id"},
		{"version", "document360: project version (workspace) id"},
		{"lang", "document360: language code, sent as written (default en; e.g. pt-BR)"},
		{"username", "the user name for the JWT-bearer grant"},
		{"signin", "docebo: signed-in links form: oauth2_response (default) or token_exchange (experimental: an endpoint no Docebo documentation describes)"},
		{"jwt-audience", "docebo: the \"aud\" of JWT-bearer assertions (default: the --url host; e.g. acme.docebosaas.com for a platform on a custom domain)"},
	} {
		named[s.name] = f.String(s.name, "", s.help)
	}
	f.StringVar(&issuer, "issuer", "", "identity: the OpenID Connect issuer (or its metadata URL)")
	f.StringVar(&authMethod, "auth-method", "", "identity: client_secret_basic (default) or client_secret_post")
	f.StringVar(&localAudience, "local-audience", "", "identity: the aud a provider JWT needs to be accepted by the local API (not the client id; unset: none is)")
	f.BoolVar(&env.jsonOut, "json", false, "print the result as JSON")
	return cmd
}

// settingKey is the settings key a named flag writes: the flag name, with
// dashes as underscores (--jwt-audience sets jwt_audience).
func settingKey(flag string) string { return strings.ReplaceAll(flag, "-", "_") }

// configureIdentity writes the [identity] section and keeps the client
// secret (from stdin or a prompt; empty = a public client) in the keychain.
func configureIdentity(cmd *cobra.Command, env *cliEnv, issuer, clientID, authMethod, localAudience string) error {
	p, _, err := env.setup()
	if err != nil {
		return err
	}
	err = daemon.SaveFileConfig(p.ConfigFile(), func(c *daemon.Config) error {
		if cmd.Flags().Changed("issuer") {
			if _, err := integrations.CheckBaseURL(issuer); err != nil {
				return fmt.Errorf("--issuer: %w", err)
			}
			c.Identity.Issuer = issuer
		}
		if cmd.Flags().Changed("client-id") {
			c.Identity.ClientID = clientID
		}
		if cmd.Flags().Changed("auth-method") {
			c.Identity.AuthMethod = authMethod
		}
		if cmd.Flags().Changed("local-audience") {
			c.Identity.LocalAudience = localAudience
		}
		if c.Identity.LocalAudience != "" && c.Identity.LocalAudience == c.Identity.ClientID {
			return usageError{"--local-audience must differ from --client-id (a token for the client id is the one latchkey presents to latchkey-store)"}
		}
		if c.Identity.Issuer == "" || c.Identity.ClientID == "" {
			return usageError{"configure identity needs --issuer and --client-id"}
		}
		return nil
	})
	if err != nil {
		return err
	}
	secret, err := env.readSecret("identity provider client secret (empty for a public client): ")
	if err != nil {
		return err
	}
	if secret != "" {
		d, err := env.openOffline(cmd.Context())
		if err != nil {
			return err
		}
		defer d.Close()
		if err := d.SetClientSecret("identity", secret); err != nil {
			return err
		}
	}
	env.notifyReload(cmd.Context())
	env.printf("Configured the identity provider in %s. Next: latchkey login\n", p.ConfigFile())
	return nil
}
