package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"os/user"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkey/latchkey/injector"
	"github.com/latchkey/latchkey/injector/auth"
	"github.com/latchkey/latchkey/injector/oauthserver"
	"github.com/latchkey/latchkey/integrations"
	"github.com/latchkey/latchkey/vault"
	"github.com/latchkey/latchkey/vault/keychain"
	"github.com/latchkey/latchkey/vault/store"
	"github.com/latchkey/latchkey/vault/syncer"
)

// localStore is what the daemon reads and writes of the local store beside
// the vault: connection metadata, meta and the outbox it reports on (and
// the sync loop drains), personal clients, the audit trail. Sealed records
// are only read here (by the sync loop); the vault writes them.
type localStore interface {
	syncer.Local
	GetConnection(ctx context.Context, integration string) (store.Connection, error)
	ListConnections(ctx context.Context) ([]store.Connection, error)
	GetMeta(ctx context.Context, key string) (string, error)
	PutClient(ctx context.Context, c store.Client) error
	GetClient(ctx context.Context, id string) (store.Client, error)
	ListClients(ctx context.Context) ([]store.Client, error)
	RevokeClient(ctx context.Context, id string, at time.Time) error
	AppendAudit(ctx context.Context, rows ...store.AuditRow) error
	ListAudit(ctx context.Context, limit int) ([]store.AuditRow, error)
	Close() error
}

// Options configure a Daemon.
type Options struct {
	Paths    Paths
	Config   Config
	Registry *integrations.Registry
	Logger   *slog.Logger
	// Keychain overrides the one chosen by Config.Keychain (tests).
	Keychain keychain.Keychain
	// User overrides the OS user name the vault binds records to.
	User    string
	Version string
	// Out receives the daemon's human-facing lines (listening on…); nil = discard.
	Out io.Writer
	// ReadOnly opens the vault for reading only (status without a running
	// daemon): a lost salt is reported, never purged (vault.Options.ReadOnly).
	ReadOnly bool
	// SaltCheckInterval: how often Run checks that the vault salt is still
	// in the keychain (default DefaultSaltCheckInterval).
	SaltCheckInterval time.Duration
}

// Daemon is one user's latchkey. Open it, then Run it; or Open it for one
// offline operation (status, rotate-key) and Close it.
type Daemon struct {
	paths    Paths
	cfgp     atomic.Pointer[Config] // replaced whole on reload; read with conf()
	registry *integrations.Registry
	log      *slog.Logger
	version  string
	out      io.Writer

	kc     keychain.Keychain
	store  localStore
	vault  *vault.Vault
	report *vault.Report
	http   *http.Client

	mu       sync.Mutex
	integ    map[string]integrations.Integration
	integErr map[string]error
	tok      map[string]*tokenManager
	trayCh   chan struct{} // buffered(1): the tray's change signal

	closing   chan struct{} // closed by Close: background writes stop
	closeOnce sync.Once

	flows *flowTable
	oidc  oidcCache
	// org holds the integrations the organisation manages, logos their
	// logos (org.go).
	org   orgState
	logos logoCache
	// signedInSub is the identity provider's sub of the signed-in user (a
	// string; "" when nobody is), read by the injector on every request.
	signedInSub atomic.Value
	// testLogoutStep, set only by tests, is called after each step of
	// Logout; an error stops Logout there, as a crash would.
	testLogoutStep func(step string) error

	// set by Run
	listenAddr string
	inj        *injector.Server
	issuer     *auth.Issuer
	apps       *oauthserver.Server
	syncer     *syncer.Syncer
	extras     runExtras

	// displayPoll is how often a systemd service without a display looks
	// for one (display_linux.go); restartForDisplay is set when it found
	// one and stopped Run for systemd to restart it.
	displayPoll       time.Duration
	restartForDisplay atomic.Bool

	salt              saltWatch
	saltCheckInterval time.Duration
}

// Open opens the vault and the local store and builds the configured
// integrations. A keychain that does not answer is an error with one clear
// line; an integration whose configuration is wrong is reported in status,
// not fatal.
func Open(ctx context.Context, o Options) (*Daemon, error) {
	if err := o.Config.Validate(); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.User == "" {
		u, err := currentUser()
		if err != nil {
			return nil, err
		}
		o.User = u
	}
	if err := ensureDir(o.Paths.StateDir, "XDG_STATE_HOME"); err != nil {
		return nil, err
	}
	if err := ensureDir(o.Paths.RuntimeDir, "XDG_RUNTIME_DIR"); err != nil {
		return nil, err
	}
	kc := o.Keychain
	if kc == nil {
		var err error
		if kc, err = openKeychain(o.Paths, o.Config); err != nil {
			return nil, err
		}
	}
	// A database that already exists may predate per-setup keychain
	// accounts: its items are then adopted from the OS user's account.
	legacy := ""
	if _, err := os.Lstat(o.Paths.DBPath()); err == nil {
		legacy = o.User
	}
	st, err := vault.OpenLocalStore(o.Paths.DBPath())
	if err != nil {
		return nil, err
	}
	device, err := vault.DeviceID(ctx, st)
	if err != nil {
		st.Close()
		return nil, err
	}
	secrets := []string{identitySecret}
	for _, name := range o.Config.IntegrationNames() {
		secrets = append(secrets, secretName(name))
	}
	v, rep, err := vault.Open(ctx, vault.Options{
		Keychain: kc, Store: st, User: o.User, Device: device,
		Account: keychainAccount(o.User, o.Paths, device), LegacyAccount: legacy, Secrets: secrets, ReadOnly: o.ReadOnly,
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	d := &Daemon{
		paths: o.Paths, registry: o.Registry, log: o.Logger, version: o.Version, out: o.Out,
		kc: kc, store: st, vault: v, report: rep, http: newHTTPClient(),
		tok: map[string]*tokenManager{}, trayCh: make(chan struct{}, 1), flows: newFlowTable(),
		saltCheckInterval: o.SaltCheckInterval,
		closing:           make(chan struct{}),
	}
	d.initOrg(o.Config)
	if rep != nil && len(rep.Purged) > 0 {
		d.log.Warn("the vault key changed: sealed tokens could not be opened and were deleted; connect these again",
			"integrations", strings.Join(rep.Purged, ", "))
	}
	d.buildIntegrations()
	return d, nil
}

// Close releases the store, after a last attempt to store any refreshed
// token still kept in memory.
func (d *Daemon) Close() error {
	d.closeOnce.Do(func() { close(d.closing) })
	d.mu.Lock()
	toks := make([]*tokenManager, 0, len(d.tok))
	for _, t := range d.tok {
		toks = append(toks, t)
	}
	d.mu.Unlock()
	for _, t := range toks {
		if !t.savePending() {
			d.log.Error("a refreshed token could not be stored before closing: connect again if the next refresh is refused", "integration", t.name)
			t.abandonPending()
		}
	}
	return d.store.Close()
}

// Report is what opening the vault found (new salt, purged integrations).
func (d *Daemon) Report() *vault.Report { return d.report }

func currentUser() (string, error) {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username, nil
	}
	for _, env := range []string{"USER", "LOGNAME", "USERNAME"} {
		if v := os.Getenv(env); v != "" {
			return v, nil
		}
	}
	return "", errors.New("cannot tell the OS user name (set USER)")
}

func openKeychain(p Paths, c Config) (keychain.Keychain, error) {
	switch c.Keychain {
	case "file":
		pass := os.Getenv("LATCHKEY_KEYCHAIN_PASSPHRASE")
		if pass == "" {
			return nil, errors.New("keychain = \"file\" needs LATCHKEY_KEYCHAIN_PASSPHRASE (the passphrase that seals the keychain file)")
		}
		if err := ensureDir(p.DataDir, "XDG_DATA_HOME"); err != nil {
			return nil, err
		}
		return keychain.File(p.FileKeychainPath(), []byte(pass))
	default:
		return keychain.System(), nil
	}
}

// buildIntegrations (re)builds every configured integration from the config
// and the client secrets in the keychain.
func (d *Daemon) buildIntegrations() {
	integ := map[string]integrations.Integration{}
	integErr := map[string]error{}
	cfg := d.conf()
	for _, name := range cfg.IntegrationNames() {
		ic := cfg.Integrations[name]
		if !d.registry.Has(name) {
			integErr[name] = fmt.Errorf("unknown integration %q", name)
			continue
		}
		secret, err := d.vault.GetSecret(secretName(name))
		if err != nil && !errors.Is(err, keychain.ErrNotFound) {
			integErr[name] = fmt.Errorf("read the client secret from the keychain: %w", err)
			continue
		}
		settings := map[string]string{}
		for k, v := range ic.Settings {
			settings[k] = v
		}
		if ic.Grant != "" {
			settings["grant"] = ic.Grant
		}
		in, err := d.registry.New(integrations.Config{Name: name, BaseURL: ic.URL, ClientID: ic.ClientID, Secret: secret, Settings: settings})
		if err != nil {
			integErr[name] = err
			continue
		}
		integ[name] = in
	}
	d.mu.Lock()
	d.integ, d.integErr = integ, integErr
	d.mu.Unlock()
}

// secretName is the keychain item of an integration's client secret.
func secretName(integration string) string { return integration + ".client_secret" }

func (d *Daemon) integration(name string) (integrations.Integration, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	in, ok := d.integ[name]
	return in, ok
}

// rememberGrant records name's grant (and the username it signs in as, if
// any) in the config file and in the running configuration.
func (d *Daemon) rememberGrant(name string, grant integrations.Grant, username string) error {
	update := func(ic IntegrationConfig) IntegrationConfig {
		ic.Grant = string(grant)
		if username != "" {
			ic.Settings = maps.Clone(ic.Settings)
			if ic.Settings == nil {
				ic.Settings = map[string]string{}
			}
			ic.Settings["username"] = username
		}
		return ic
	}
	if _, managed := d.managedIntegration(name); managed {
		// The organisation's configuration is not the user's to write.
		return nil
	}
	err := SaveFileConfig(d.paths.ConfigFile(), func(c *Config) error {
		if c.Integrations == nil {
			c.Integrations = map[string]IntegrationConfig{}
		}
		c.Integrations[name] = update(c.Integrations[name])
		return nil
	})
	if err != nil {
		return err
	}
	d.updateBaseConfig(func(c *Config) { c.Integrations[name] = update(c.Integrations[name]) })
	return nil
}

// conf is the current configuration; treat it as read-only (Reload and
// rememberGrant replace it whole).
func (d *Daemon) conf() *Config { return d.cfgp.Load() }

// tokens returns the single Tokens of name (one per integration, so the
// refresh lock is shared by every caller).
func (d *Daemon) tokens(name string) *tokenManager {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.tok[name]
	if !ok {
		t = &tokenManager{d: d, name: name}
		d.tok[name] = t
	}
	return t
}

// ErrNotConfigured: the integration is unknown, not configured, or
// misconfigured; the message says which and what to do.
var ErrNotConfigured = errors.New("not configured")

type notConfiguredError struct{ msg string }

func (e notConfiguredError) Error() string        { return e.msg }
func (e notConfiguredError) Is(target error) bool { return target == ErrNotConfigured }

func (d *Daemon) notConfigured(name string) error {
	d.mu.Lock()
	err := d.integErr[name]
	d.mu.Unlock()
	if err != nil {
		return notConfiguredError{fmt.Sprintf("%s is misconfigured: %v (fix it with `latchkey configure %s`)", name, err, name)}
	}
	if !d.registry.Has(name) {
		return notConfiguredError{fmt.Sprintf("unknown integration %q (known: %s)", name, strings.Join(d.registry.Names(), ", "))}
	}
	return notConfiguredError{fmt.Sprintf("%s is not configured: run `latchkey configure %s` first", name, name)}
}

func isNotFound(err error) bool {
	return errors.Is(err, store.ErrNotFound) || errors.Is(err, vault.ErrNoToken)
}

// changed tells the tray that the daemon's state changed (without
// blocking: one pending signal is enough).
func (d *Daemon) changed() {
	select {
	case d.trayCh <- struct{}{}:
	default:
	}
}

// redirectURL is the loopback OAuth redirect of an integration (RFC 8252).
func (d *Daemon) redirectURL(name string) string {
	addr := d.listenAddr
	if addr == "" {
		addr = d.conf().Listen
	}
	return "http://" + addr + "/" + name + "/connected"
}

// ---- injector.Backend ----

var _ injector.Backend = (*Daemon)(nil)

// Connected lists the integrations that hold a token, sorted by name, and
// those that need the user before they can be used again: reconnect needed,
// or configured with a configuration that does not work (Unavailable says
// what to do). An integration the user disconnected, or never connected, is
// not listed.
func (d *Daemon) Connected(ctx context.Context) ([]injector.ConnectedIntegration, error) {
	conns, err := d.store.ListConnections(ctx)
	if err != nil {
		return nil, err
	}
	sort.Slice(conns, func(i, j int) bool { return conns[i].Integration < conns[j].Integration })
	var out []injector.ConnectedIntegration
	listed := map[string]bool{}
	for _, c := range conns {
		if c.State != store.StateConnected && c.State != store.StateReconnectNeeded {
			continue
		}
		in, ok := d.integration(c.Integration)
		if !ok {
			continue
		}
		listed[c.Integration] = true
		ci := injector.ConnectedIntegration{Integration: in, Tokens: d.tokens(c.Integration)}
		if c.State == store.StateReconnectNeeded {
			ci.Unavailable = reconnectError(c.Integration, c.Reason)
		}
		out = append(out, ci)
	}
	d.mu.Lock()
	integErr := d.integErr
	d.mu.Unlock()
	for _, name := range d.conf().IntegrationNames() {
		if e := integErr[name]; e != nil && !listed[name] {
			out = append(out, injector.ConnectedIntegration{Name: name, Unavailable: needsUserError{
				msg: fmt.Sprintf("%s is misconfigured: %v; fix it with `latchkey configure %s`", name, e, name), is: injector.ErrMisconfigured}})
		}
	}
	return out, nil
}

// reconnectError says that name needs reconnecting, why, and how.
func reconnectError(name, reason string) error {
	if reason == "" {
		reason = "its token no longer works"
	}
	return needsUserError{msg: fmt.Sprintf("%s needs reconnecting (%s): %s", name, reason, connectAdvice(name)), is: integrations.ErrReconnectNeeded}
}

// connectAdvice is how the user connects name again: `latchkey login` for
// the sign-in (which connect refuses), `latchkey connect NAME` otherwise.
func connectAdvice(name string) string {
	if name == identityName {
		return "run `latchkey login`"
	}
	return "run `latchkey connect " + name + "`"
}

// needsUserError is a message for the user that is the sentinel is.
type needsUserError struct {
	msg string
	is  error
}

func (e needsUserError) Error() string { return e.msg }
func (e needsUserError) Unwrap() error { return e.is }

// Lookup returns a configured integration and its Tokens.
func (d *Daemon) Lookup(name string) (injector.ConnectedIntegration, bool) {
	in, ok := d.lookupIntegration(name)
	if !ok {
		return injector.ConnectedIntegration{}, false
	}
	return injector.ConnectedIntegration{Integration: in, Tokens: d.tokens(name)}, true
}

// Audit appends injected calls to the local audit trail, a batch in one
// transaction.
func (d *Daemon) Audit(ctx context.Context, entries []injector.AuditEntry) {
	rows := make([]store.AuditRow, len(entries))
	for i, e := range entries {
		rows[i] = store.AuditRow{
			Time: e.Time, Caller: d.auditCaller(e.Caller), Integration: e.Integration, Method: e.Method,
			Path: e.Path, Status: e.Status, Duration: e.Duration,
		}
	}
	if err := d.store.AppendAudit(context.WithoutCancel(ctx), rows...); err != nil {
		d.log.Error("audit append failed", "err", err)
	}
}

// Reader is the signed-in person for widget tokens: the organisation
// identity when there is one, else the first connected account, else the OS
// user.
func (d *Daemon) Reader(ctx context.Context) integrations.Reader {
	if r, ok := d.identityReader(ctx); ok {
		return r
	}
	r := integrations.Reader{Username: d.vault.User()}
	conns, _ := d.store.ListConnections(ctx)
	for _, c := range conns {
		if c.State == store.StateConnected && c.Email != "" {
			r.Email = c.Email
			if c.Username != "" {
				r.Username = c.Username
			}
			r.FirstName, r.LastName = splitName(c.DisplayName)
			break
		}
	}
	return r
}

// AuditRows returns the newest audit rows, the calls still queued by the
// injector included.
func (d *Daemon) AuditRows(ctx context.Context, limit int) ([]store.AuditRow, error) {
	if d.inj != nil {
		d.inj.FlushAudit()
	}
	return d.store.ListAudit(ctx, limit)
}

// RotateKey re-seals every record under a new salt.
func (d *Daemon) RotateKey(ctx context.Context) error {
	if err := d.vault.RotateKey(ctx); err != nil {
		return err
	}
	d.changed()
	return nil
}
