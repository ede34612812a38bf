package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/latchkey/latchkey/internal/atomicfile"
	"github.com/latchkey/latchkey/tray/hotkey"
)

// DefaultListen is the injector's default loopback address.
const DefaultListen = "127.0.0.1:7788"

// Config is latchkey's non-secret configuration. Secrets (client secrets,
// API tokens, the salt) never live here: they are in the keychain or sealed
// in the vault.
type Config struct {
	// Listen is the injector's TCP address (loopback unless AllowNonLoopback).
	Listen           string `toml:"listen"`
	AllowNonLoopback bool   `toml:"allow_non_loopback,omitempty"`
	// AllowedOrigins opens CORS on the API to these origins (closed by default).
	AllowedOrigins []string `toml:"allowed_origins,omitempty"`
	// Store is the remote latchkey-store base URL; empty = local only.
	Store string `toml:"store,omitempty"`
	// OpenCommand opens a URL in the user's browser (argv; the URL is appended).
	OpenCommand []string `toml:"open_command,omitempty"`
	// Hotkey opens the menu ("ctrl+shift+e"; "cmd+shift+e" on macOS).
	Hotkey string `toml:"hotkey,omitempty"`
	// SearchDeadline bounds each integration's share of a search.
	SearchDeadline Duration `toml:"search_deadline,omitempty"`
	// MenuCodeTTL is how long a one-time menu code is valid (default 30s).
	MenuCodeTTL Duration `toml:"menu_code_ttl,omitempty"`
	// OrgPullInterval is how often the organisation's integrations are
	// pulled from the store (default DefaultOrgPullInterval).
	OrgPullInterval Duration `toml:"org_pull_interval,omitempty"`
	// Keychain is "system" (default: the OS keychain) or "file" (explicit
	// opt-in: a passphrase-sealed file, passphrase in LATCHKEY_KEYCHAIN_PASSPHRASE).
	Keychain string `toml:"keychain,omitempty"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `toml:"log_level,omitempty"`
	// NoTray disables the tray and the hotkey even when a display exists.
	NoTray bool `toml:"no_tray,omitempty"`
	// MaxProcs is how many CPUs the daemon runs Go code on at once; 0 (the
	// default) means Go's default, every CPU. Measured with
	// injector/loadtest on 2 CPUs, the injector has more throughput and no
	// worse latency on both than on one. A GOMAXPROCS environment variable
	// wins over both.
	MaxProcs *int `toml:"max_procs,omitempty"`

	Identity     IdentityConfig               `toml:"identity,omitempty"`
	Integrations map[string]IntegrationConfig `toml:"integrations,omitempty"`
}

// IdentityConfig is the organisation's OpenID Connect provider.
type IdentityConfig struct {
	Issuer     string   `toml:"issuer,omitempty"`
	ClientID   string   `toml:"client_id,omitempty"`
	AuthMethod string   `toml:"auth_method,omitempty"` // client_secret_basic | client_secret_post
	Scopes     []string `toml:"scopes,omitempty"`
	// LocalAudience is the aud a provider JWT must carry to be accepted
	// at the injector (the local API). Unset, the injector accepts no
	// provider JWT. It must differ from ClientID: a token whose aud names
	// ClientID (the ID token latchkey itself gets at login and presents to
	// latchkey-store) is always refused there, so a credential for the
	// store never opens the local API.
	LocalAudience string `toml:"local_audience,omitempty"`
}

// IntegrationConfig is one integration's non-secret settings.
type IntegrationConfig struct {
	URL      string            `toml:"url,omitempty"`
	ClientID string            `toml:"client_id,omitempty"`
	Grant    string            `toml:"grant,omitempty"`
	Settings map[string]string `toml:"settings,omitempty"`
}

// Duration is a time.Duration written as "2s" in TOML.
type Duration struct{ time.Duration }

func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("bad duration %q (use e.g. 2s, 500ms)", b)
	}
	d.Duration = v
	return nil
}

// LoadConfig reads the TOML file (a missing file is an empty config), then
// applies LATCHKEY_* environment variables over it, then defaults. Flags
// are applied by the caller afterwards (flags > environment > file).
func LoadConfig(path string, getenv func(string) string) (Config, error) {
	var c Config
	// A configuration directory another user could write to could point an
	// integration at their own server: refuse it as the other directories.
	if _, err := os.Lstat(filepath.Dir(path)); err == nil {
		if err := checkDir(filepath.Dir(path), "XDG_CONFIG_HOME"); err != nil {
			return c, err
		}
	}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return c, fmt.Errorf("read config: %w", err)
	default:
		md, err := toml.Decode(string(b), &c)
		if err != nil {
			return c, fmt.Errorf("config %s: %w", path, err)
		}
		if und := md.Undecoded(); len(und) > 0 {
			keys := make([]string, len(und))
			for i, k := range und {
				keys[i] = k.String()
			}
			return c, fmt.Errorf("config %s: unknown keys %s", path, strings.Join(keys, ", "))
		}
		if err := c.Identity.check(); err != nil {
			return c, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := c.applyEnv(getenv); err != nil {
		return c, err
	}
	c.applyDefaults()
	return c, nil
}

func (c *Config) applyEnv(getenv func(string) string) error {
	if v := getenv("LATCHKEY_LISTEN"); v != "" {
		c.Listen = v
	}
	if v := getenv("LATCHKEY_STORE"); v != "" {
		c.Store = v
	}
	if v := getenv("LATCHKEY_OPEN_COMMAND"); v != "" {
		c.OpenCommand = strings.Fields(v)
	}
	if v := getenv("LATCHKEY_HOTKEY"); v != "" {
		c.Hotkey = v
	}
	if v := getenv("LATCHKEY_KEYCHAIN"); v != "" {
		c.Keychain = v
	}
	if v := getenv("LATCHKEY_LOG_LEVEL"); v != "" {
		c.LogLevel = v
	}
	if v := getenv("LATCHKEY_NO_TRAY"); v == "1" || v == "true" {
		c.NoTray = true
	}
	if v := getenv("LATCHKEY_MAX_PROCS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("LATCHKEY_MAX_PROCS=%q: use a whole number (0 = Go's default)", v)
		}
		c.MaxProcs = &n
	}
	for env, d := range map[string]*Duration{"LATCHKEY_SEARCH_DEADLINE": &c.SearchDeadline, "LATCHKEY_MENU_CODE_TTL": &c.MenuCodeTTL, "LATCHKEY_ORG_PULL_INTERVAL": &c.OrgPullInterval} {
		if v := getenv(env); v != "" {
			if err := d.UnmarshalText([]byte(v)); err != nil {
				return fmt.Errorf("%s: %w", env, err)
			}
		}
	}
	return nil
}

func (c *Config) applyDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.SearchDeadline.Duration <= 0 {
		c.SearchDeadline.Duration = 2 * time.Second
	}
	if c.MenuCodeTTL.Duration <= 0 {
		c.MenuCodeTTL.Duration = 30 * time.Second
	}
	if c.Keychain == "" {
		c.Keychain = "system"
	}
	if c.Hotkey == "" {
		c.Hotkey = hotkey.Default(runtime.GOOS)
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if c.MaxProcs == nil {
		goDefault := 0
		c.MaxProcs = &goDefault
	}
}

// Validate reports the first configuration error in plain words.
func (c Config) Validate() error {
	switch c.Keychain {
	case "system", "file":
	default:
		return fmt.Errorf("keychain = %q: use \"system\" or \"file\"", c.Keychain)
	}
	return nil
}

// IntegrationNames lists the configured integrations, sorted.
func (c Config) IntegrationNames() []string {
	names := make([]string, 0, len(c.Integrations))
	for n := range c.Integrations {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// SaveFileConfig rewrites the TOML file atomically (0600) after mutate has
// changed what is in it. Only the file's own content is rewritten: values
// from the environment or flags are never persisted.
func SaveFileConfig(path string, mutate func(*Config) error) error {
	var c Config
	if b, err := os.ReadFile(path); err == nil {
		if _, err := toml.Decode(string(b), &c); err != nil {
			return fmt.Errorf("config %s: %w", path, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := mutate(&c); err != nil {
		return err
	}
	var buf bytes.Buffer
	buf.WriteString("# latchkey configuration. Secrets are never stored here: client secrets\n# live in the OS keychain and tokens are sealed in the vault.\n")
	if err := toml.NewEncoder(&buf).Encode(c); err != nil {
		return err
	}
	if err := ensureDir(filepath.Dir(path), "XDG_CONFIG_HOME"); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, buf.Bytes(), 0o600)
}
