package daemon

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/latchkey/latchkey/client/apitype"
	"github.com/latchkey/latchkey/integrations"
	"github.com/latchkey/latchkey/internal/secretname"
	"github.com/latchkey/latchkey/vault/keychain"
)

// Organisation-managed integrations: configured once by an administrator,
// either in latchkey-store (GET /v1/org/integrations, pulled by the daemon)
// or in a managed file (/etc/latchkey/managed.toml, for machines configured
// by MDM). A managed integration wins over the user's own configuration of
// the same name, and the store wins over the file. Its client secret is kept
// in the OS keychain, never in a file.

// DefaultManagedConfig is where the managed file is read from unless
// LATCHKEY_MANAGED_CONFIG names another.
const DefaultManagedConfig = "/etc/latchkey/managed.toml"

// DefaultOrgPullInterval is how often the daemon asks the store for the
// organisation's integrations (a conditional request).
const DefaultOrgPullInterval = 5 * time.Minute

// Where a managed integration comes from.
const (
	ManagedByStore = "store"
	ManagedByFile  = "file"
)

// ManagedIntegration is an integration the organisation manages: the
// non-secret configuration, how the menu and the tray show it, and where it
// comes from.
type ManagedIntegration struct {
	IntegrationConfig
	DisplayName string `json:"display_name,omitempty"`
	LogoURL     string `json:"logo_url,omitempty"`
	WidgetTitle string `json:"widget_title,omitempty"`
	Source      string `json:"source"`
}

// ManagedConfigPath is the managed file's path.
func ManagedConfigPath(getenv func(string) string) string {
	if p := getenv("LATCHKEY_MANAGED_CONFIG"); p != "" {
		return p
	}
	return DefaultManagedConfig
}

// managedEntry is one [integrations.NAME] table of the managed file.
type managedEntry struct {
	URL         string            `toml:"url"`
	ClientID    string            `toml:"client_id"`
	Grant       string            `toml:"grant"`
	Settings    map[string]string `toml:"settings"`
	DisplayName string            `toml:"display_name"`
	LogoURL     string            `toml:"logo_url"`
	WidgetTitle string            `toml:"widget_title"`
}

// LoadManagedFile reads the managed file (nil, nil when there is none). A
// key that looks like a secret is refused: secrets go through latchkey-store
// or `latchkey provision NAME`, into the keychain.
func LoadManagedFile(path string) (map[string]ManagedIntegration, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("managed config %s: %w", path, err)
	}
	var f struct {
		Integrations map[string]managedEntry `toml:"integrations"`
	}
	md, err := toml.Decode(string(b), &f)
	if err != nil {
		return nil, fmt.Errorf("managed config %s: %w", path, err)
	}
	var secretKeys, unknown []string
	for _, k := range md.Undecoded() {
		if secretname.Looks(k[len(k)-1]) {
			secretKeys = append(secretKeys, k.String())
		} else {
			unknown = append(unknown, k.String())
		}
	}
	for name, e := range f.Integrations {
		for k := range e.Settings {
			if secretname.Looks(k) {
				secretKeys = append(secretKeys, "integrations."+name+".settings."+k)
			}
		}
	}
	if len(secretKeys) > 0 {
		sort.Strings(secretKeys)
		return nil, fmt.Errorf("managed config %s holds secrets (%s): they are refused there; give client secrets through latchkey-store, or store them in each user's keychain with `latchkey provision NAME`", path, strings.Join(secretKeys, ", "))
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("managed config %s: unknown keys %s", path, strings.Join(unknown, ", "))
	}
	out := map[string]ManagedIntegration{}
	for name, e := range f.Integrations {
		if _, err := integrations.CheckBaseURL(e.URL); err != nil {
			return nil, fmt.Errorf("managed config %s: integrations.%s.url: %w", path, name, err)
		}
		out[name] = ManagedIntegration{
			IntegrationConfig: IntegrationConfig{URL: e.URL, ClientID: e.ClientID, Grant: e.Grant, Settings: e.Settings},
			DisplayName:       e.DisplayName, LogoURL: e.LogoURL, WidgetTitle: e.WidgetTitle, Source: ManagedByFile,
		}
	}
	return out, nil
}

// orgCopy is the last good answer of GET /v1/org/integrations, kept in the
// state directory (0600) so that an outage changes nothing. It holds no
// secret: client secrets are in the keychain.
type orgCopy struct {
	ETag         string                        `json:"etag"`
	Integrations map[string]ManagedIntegration `json:"integrations"`
	PulledAt     time.Time                     `json:"pulled_at"`
}

func orgCopyFile(p Paths) string { return filepath.Join(p.StateDir, "org-integrations.json") }

func loadOrgCopy(p Paths) (orgCopy, error) {
	var c orgCopy
	b, err := os.ReadFile(orgCopyFile(p))
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return orgCopy{}, fmt.Errorf("%s: %w", orgCopyFile(p), err)
	}
	return c, nil
}

func saveOrgCopy(p Paths, c orgCopy) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	tmp := orgCopyFile(p) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, orgCopyFile(p))
}

// ManagedIntegrations is what the organisation manages for this user: the
// managed file, then the last copy pulled from the store over it. The CLI
// reads it without a running daemon.
func ManagedIntegrations(p Paths, getenv func(string) string) (map[string]ManagedIntegration, error) {
	out, err := LoadManagedFile(ManagedConfigPath(getenv))
	if out == nil {
		out = map[string]ManagedIntegration{}
	}
	c, cerr := loadOrgCopy(p)
	for name, m := range c.Integrations {
		m.Source = ManagedByStore
		out[name] = m
	}
	return out, errors.Join(err, cerr)
}

// ErrManaged is returned when the user tries to change an integration the
// organisation manages.
var ErrManaged = errors.New("managed by the organisation")

// ManagedError says that name is managed and by what; it is ErrManaged.
func ManagedError(name string, m ManagedIntegration) error {
	by := "your organisation's latchkey-store"
	if m.Source == ManagedByFile {
		by = "your organisation's managed configuration"
	}
	return managedError{fmt.Sprintf("%s is managed by your organisation (%s): `latchkey configure` cannot change it; ask your administrator", name, by)}
}

type managedError struct{ msg string }

func (e managedError) Error() string        { return e.msg }
func (e managedError) Is(target error) bool { return target == ErrManaged }

// orgState is the daemon's view of the managed integrations.
type orgState struct {
	mu      sync.Mutex
	base    Config // the user's own configuration (file, environment)
	managed map[string]ManagedIntegration
	etag    string
	kick    chan struct{}
	// last pull, for the log and tests
	lastErr  error
	lastPull time.Time
}

// initOrg reads the managed file and the last copy pulled from the store
// and makes the running configuration base with them over it.
func (d *Daemon) initOrg(base Config) {
	d.org.kick = make(chan struct{}, 1)
	m, err := ManagedIntegrations(d.paths, os.Getenv)
	if err != nil {
		d.log.Error("organisation-managed integrations", "err", err)
	}
	c, _ := loadOrgCopy(d.paths)
	d.org.mu.Lock()
	d.org.managed, d.org.etag = m, c.ETag
	d.org.mu.Unlock()
	d.setBaseConfig(base)
}

// reloadManagedFile reads the managed file again (latchkey reload): its
// integrations, with the store's over them.
func (d *Daemon) reloadManagedFile() {
	file, err := LoadManagedFile(ManagedConfigPath(os.Getenv))
	if err != nil {
		d.log.Error("organisation-managed integrations", "err", err)
	}
	d.org.mu.Lock()
	defer d.org.mu.Unlock()
	merged := map[string]ManagedIntegration{}
	maps.Copy(merged, file)
	for name, m := range d.org.managed {
		if m.Source == ManagedByStore {
			merged[name] = m
		}
	}
	d.org.managed = merged
}

// setBaseConfig replaces the user's own configuration and rebuilds the
// running one: the managed integrations over it.
func (d *Daemon) setBaseConfig(base Config) {
	d.org.mu.Lock()
	defer d.org.mu.Unlock()
	d.org.base = base
	d.storeMerged()
}

// updateBaseConfig changes the user's own configuration in place.
func (d *Daemon) updateBaseConfig(mutate func(*Config)) {
	d.org.mu.Lock()
	defer d.org.mu.Unlock()
	c := d.org.base
	c.Integrations = maps.Clone(c.Integrations)
	if c.Integrations == nil {
		c.Integrations = map[string]IntegrationConfig{}
	}
	mutate(&c)
	d.org.base = c
	d.storeMerged()
}

// storeMerged (d.org.mu held) stores base with the managed integrations.
func (d *Daemon) storeMerged() {
	c := d.org.base
	if len(d.org.managed) > 0 {
		c.Integrations = maps.Clone(c.Integrations)
		if c.Integrations == nil {
			c.Integrations = map[string]IntegrationConfig{}
		}
		for name, m := range d.org.managed {
			c.Integrations[name] = m.IntegrationConfig
		}
	}
	d.cfgp.Store(&c)
}

// managedIntegration returns name's managed configuration, if managed.
func (d *Daemon) managedIntegration(name string) (ManagedIntegration, bool) {
	d.org.mu.Lock()
	defer d.org.mu.Unlock()
	m, ok := d.org.managed[name]
	return m, ok
}

// orgStatus fills the organisation's part of an integration's status.
func (d *Daemon) orgStatus(is *apitype.IntegrationStatus) {
	if m, ok := d.managedIntegration(is.Name); ok {
		is.Managed = true
		is.DisplayName, is.LogoURL, is.WidgetTitle = m.DisplayName, m.LogoURL, m.WidgetTitle
		if d.inj != nil { // the running daemon, not an offline status
			is.Logo = d.logoFor(m.LogoURL)
		}
	}
}

// kickOrgPull asks the pull loop to ask the store now (after a sign-in).
func (d *Daemon) kickOrgPull() {
	if d.org.kick == nil {
		return
	}
	select {
	case d.org.kick <- struct{}{}:
	default:
	}
}

// startOrgPull starts the loop that pulls the organisation's integrations
// from the store: at start, on every kick (a sign-in) and every
// OrgPullInterval, with a conditional request; while the store does not
// answer it retries with backoff (from 2 s, doubling, at most the interval)
// and keeps the last good copy.
func (d *Daemon) startOrgPull(ctx context.Context, wg *sync.WaitGroup) {
	if d.conf().Store == "" {
		return
	}
	interval := d.conf().OrgPullInterval.Duration
	if interval <= 0 {
		interval = DefaultOrgPullInterval
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		backoff := time.Duration(0)
		for {
			err := d.pullOrg(ctx)
			wait := interval
			switch {
			case err == nil, errors.Is(err, errOrgNotSignedIn):
				backoff = 0
			default:
				backoff = min(max(2*backoff, 2*time.Second), interval)
				wait = backoff
				d.log.Warn("could not pull the organisation's integrations from the store; keeping the last copy", "err", err, "retry_in", wait)
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-d.org.kick:
				t.Stop()
			case <-t.C:
			}
		}
	}()
}

var errOrgNotSignedIn = errors.New("not signed in to the organisation")

// maxOrgBody bounds the store's answer.
const maxOrgBody = 1 << 20

// storeOrgEntry is one integration of GET /v1/org/integrations.
type storeOrgEntry struct {
	Name         string            `json:"name"`
	URL          string            `json:"url"`
	ClientID     string            `json:"client_id"`
	ClientSecret string            `json:"client_secret"`
	Grant        string            `json:"grant"`
	DisplayName  string            `json:"display_name"`
	LogoURL      string            `json:"logo_url"`
	WidgetTitle  string            `json:"widget_title"`
	Settings     map[string]string `json:"settings"`
}

// pullOrg asks the store for the organisation's integrations once and
// applies a changed answer.
func (d *Daemon) pullOrg(ctx context.Context) error {
	storeURL := strings.TrimRight(d.conf().Store, "/")
	bearer, err := d.storeBearer(ctx)
	if err != nil {
		return errOrgNotSignedIn
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, "GET", storeURL+"/v1/org/integrations", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	d.org.mu.Lock()
	etag := d.org.etag
	d.org.mu.Unlock()
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := d.http.Do(req)
	if err != nil {
		return d.orgPulled(err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotModified:
		return d.orgPulled(nil)
	case http.StatusOK:
	default:
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxOrgBody))
		return d.orgPulled(fmt.Errorf("the store answered %s to GET /v1/org/integrations", resp.Status))
	}
	var body struct {
		Integrations []storeOrgEntry `json:"integrations"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxOrgBody)).Decode(&body); err != nil {
		return d.orgPulled(fmt.Errorf("the store's org integrations do not parse: %w", err))
	}
	next := map[string]ManagedIntegration{}
	secrets := map[string]string{}
	for _, e := range body.Integrations {
		if !d.registry.Has(e.Name) {
			d.log.Warn("the organisation enabled an integration this latchkey does not know; ignored", "integration", e.Name)
			continue
		}
		if _, err := integrations.CheckBaseURL(e.URL); err != nil {
			d.log.Warn("the organisation's integration has a URL latchkey refuses; ignored", "integration", e.Name, "err", err)
			continue
		}
		next[e.Name] = ManagedIntegration{
			IntegrationConfig: IntegrationConfig{URL: e.URL, ClientID: e.ClientID, Grant: e.Grant, Settings: e.Settings},
			DisplayName:       e.DisplayName, LogoURL: e.LogoURL, WidgetTitle: e.WidgetTitle, Source: ManagedByStore,
		}
		secrets[e.Name] = e.ClientSecret
	}
	if err := d.applyOrg(ctx, next, secrets, resp.Header.Get("ETag")); err != nil {
		return d.orgPulled(err)
	}
	return d.orgPulled(nil)
}

func (d *Daemon) orgPulled(err error) error {
	d.org.mu.Lock()
	d.org.lastErr, d.org.lastPull = err, time.Now()
	d.org.mu.Unlock()
	return err
}

// applyOrg makes next the store-managed integrations: client secrets to the
// keychain first, then the last good copy, then the running configuration.
// An integration the store managed before and no longer lists was disabled
// centrally: it is disconnected (its sealed tokens deleted here and in the
// store) and its client secret removed.
func (d *Daemon) applyOrg(ctx context.Context, next map[string]ManagedIntegration, secrets map[string]string, etag string) error {
	for name, s := range secrets {
		if s == "" {
			continue
		}
		if cur, err := d.vault.GetSecret(secretName(name)); err == nil && cur == s {
			continue
		}
		if err := d.vault.SetSecret(secretName(name), s); err != nil {
			return fmt.Errorf("store %s's client secret in the keychain: %w", name, err)
		}
	}
	if err := saveOrgCopy(d.paths, orgCopy{ETag: etag, Integrations: next, PulledAt: time.Now().UTC()}); err != nil {
		return fmt.Errorf("keep the organisation's integrations: %w", err)
	}
	file, ferr := LoadManagedFile(ManagedConfigPath(os.Getenv))
	if ferr != nil {
		d.log.Error("organisation-managed integrations", "err", ferr)
	}
	d.org.mu.Lock()
	var gone []string
	for name, m := range d.org.managed {
		if _, still := next[name]; m.Source == ManagedByStore && !still {
			gone = append(gone, name)
		}
	}
	merged := map[string]ManagedIntegration{}
	maps.Copy(merged, file)
	maps.Copy(merged, next)
	changed := !equalManaged(d.org.managed, merged)
	before := d.conf()
	d.org.managed, d.org.etag = merged, etag
	d.storeMerged()
	d.org.mu.Unlock()
	// An integration now pointed at another provider (URL or client) must
	// not send it the tokens, nor the client secret, the old one issued:
	// they are forgotten before the integration is rebuilt on the new URL.
	for _, name := range slices.Sorted(maps.Keys(next)) {
		old, had := before.Integrations[name]
		if !had || !repointed(old, next[name].IntegrationConfig) {
			continue
		}
		d.log.Warn("the organisation points an integration at another provider: forgetting its tokens", "integration", name)
		if err := d.vault.Disconnect(ctx, name, d.pushEnabled()); err != nil && !isNotFound(err) {
			return fmt.Errorf("forget %s's tokens from its former provider: %w", name, err)
		}
		if secrets[name] == "" {
			if err := d.vault.DeleteSecret(secretName(name)); err != nil && !errors.Is(err, keychain.ErrNotFound) {
				return fmt.Errorf("forget %s's client secret for its former provider: %w", name, err)
			}
		}
		changed = true
	}
	slices.Sort(gone)
	for _, name := range gone {
		d.log.Info("the organisation disabled an integration: disconnecting it", "integration", name)
		if err := d.vault.Disconnect(ctx, name, d.pushEnabled()); err != nil && !isNotFound(err) {
			d.log.Error("disconnect a centrally disabled integration", "integration", name, "err", err)
		}
		if _, still := merged[name]; !still {
			if err := d.vault.DeleteSecret(secretName(name)); err != nil && !errors.Is(err, keychain.ErrNotFound) {
				d.log.Error("remove a centrally disabled integration's client secret", "integration", name, "err", err)
			}
		}
	}
	if changed || len(gone) > 0 || len(secrets) > 0 {
		d.buildIntegrations()
		d.kickSync()
		d.changed()
	}
	if changed {
		names := slices.Sorted(maps.Keys(next))
		d.log.Info("organisation integrations applied", "integrations", strings.Join(names, ","))
	}
	return nil
}

// repointed reports whether next sends an integration's calls to another
// provider or client than cur did: its base URL (compared without its
// trailing slash, as CheckBaseURL returns it), its client id, or a setting
// that says where calls go (region, or any *_url such as Document360's
// identity_url and widget_token_url).
func repointed(cur, next IntegrationConfig) bool {
	if normalBaseURL(cur.URL) != normalBaseURL(next.URL) || cur.ClientID != next.ClientID {
		return true
	}
	for _, k := range slices.Concat(slices.Collect(maps.Keys(cur.Settings)), slices.Collect(maps.Keys(next.Settings))) {
		lk := strings.ToLower(k)
		if (lk == "region" || lk == "url" || strings.HasSuffix(lk, "_url")) &&
			normalBaseURL(strings.TrimSpace(cur.Settings[k])) != normalBaseURL(strings.TrimSpace(next.Settings[k])) {
			return true
		}
	}
	return false
}

func normalBaseURL(raw string) string {
	if u, err := integrations.CheckBaseURL(raw); err == nil {
		return u.String()
	}
	return raw
}

func equalManaged(a, b map[string]ManagedIntegration) bool {
	if len(a) != len(b) {
		return false
	}
	for k, x := range a {
		y, ok := b[k]
		if !ok || x.URL != y.URL || x.ClientID != y.ClientID || x.Grant != y.Grant || x.DisplayName != y.DisplayName ||
			x.LogoURL != y.LogoURL || x.WidgetTitle != y.WidgetTitle || x.Source != y.Source || !maps.Equal(x.Settings, y.Settings) {
			return false
		}
	}
	return true
}

// ProvisionSecret stores the client secret of an integration managed by the
// managed file in this user's keychain (the file itself never holds it).
func (d *Daemon) ProvisionSecret(name, secret string) error {
	m, ok := d.managedIntegration(name)
	if !ok {
		return fmt.Errorf("%s is not managed by the organisation: use `latchkey configure %s`", name, name)
	}
	if m.Source == ManagedByStore {
		return fmt.Errorf("%s is managed by your organisation's latchkey-store, which provides its client secret", name)
	}
	return d.SetClientSecret(name, secret)
}

// maxLogoBytes bounds an organisation's logo.
const maxLogoBytes = 64 << 10

// logoTypes are the image types a logo may be (an SVG in an <img> runs no
// script).
var logoTypes = []string{"image/png", "image/jpeg", "image/gif", "image/webp", "image/svg+xml"}

// logos are the managed integrations' logos as data: URLs, fetched by the
// daemon once per URL, so the menu (whose images come from its own origin
// or data: URLs) never fetches them.
type logoCache struct {
	mu    sync.Mutex
	byURL map[string]string // logo URL → data: URL ("" while failed)
}

// logoFor returns the data: URL of url's logo if fetched, and starts a fetch
// otherwise.
func (d *Daemon) logoFor(url string) string {
	if url == "" {
		return ""
	}
	d.logos.mu.Lock()
	defer d.logos.mu.Unlock()
	if d.logos.byURL == nil {
		d.logos.byURL = map[string]string{}
	}
	if v, ok := d.logos.byURL[url]; ok {
		return v
	}
	d.logos.byURL[url] = "" // one fetch at a time per URL
	go d.fetchLogo(url)
	return ""
}

func (d *Daemon) fetchLogo(url string) {
	data, err := d.downloadLogo(url)
	if err != nil {
		d.log.Warn("the organisation's logo could not be fetched; the menu shows an initial instead", "url", url, "err", err)
		return
	}
	d.logos.mu.Lock()
	d.logos.byURL[url] = data
	d.logos.mu.Unlock()
	d.changed()
}

func (d *Daemon) downloadLogo(url string) (string, error) {
	if _, err := integrations.CheckBaseURL(url); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return "", err
	}
	resp, err := d.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("answered %s", resp.Status)
	}
	ct, _, _ := strings.Cut(resp.Header.Get("Content-Type"), ";")
	ct = strings.ToLower(strings.TrimSpace(ct))
	if !slices.Contains(logoTypes, ct) {
		return "", fmt.Errorf("content type %q is not an image latchkey shows (png, jpeg, gif, webp, svg)", ct)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxLogoBytes+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxLogoBytes {
		return "", fmt.Errorf("larger than %d bytes", maxLogoBytes)
	}
	return "data:" + ct + ";base64," + base64.StdEncoding.EncodeToString(b), nil
}
