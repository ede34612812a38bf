package daemon

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/latchkey/latchkey/client/apitype"
	"github.com/latchkey/latchkey/injector"
	"github.com/latchkey/latchkey/injector/auth"
	"github.com/latchkey/latchkey/internal/loopback"
	"github.com/latchkey/latchkey/vault/store"
)

// ErrAlreadyRunning: another daemon of this user holds the lock.
var ErrAlreadyRunning = errors.New("the latchkey daemon is already running")

// ErrRestartForDisplay is what Run returns when, run by systemd before the
// desktop session had a display, it saw one appear: the service manager
// restarts the daemon (the unit has Restart=on-failure), and the tray starts.
var ErrRestartForDisplay = errors.New("a desktop session started after the daemon: exiting so that systemd restarts it with the display (the tray was off)")

var errLocked = errors.New("locked")

// Local client JWTs: who issues them and for what.
const (
	localIssuer   = "latchkey"
	localAudience = "latchkey-injector"
	// clientTokenTTL is the default life of `latchkey token`'s token.
	clientTokenTTL = time.Hour
	jwtKeyName     = "local_jwt_signing_key"
)

// allIntegrations is the local-JWT scope that reaches every integration.
var allIntegrations = []string{"*"}

// runExtras are the parts of Run that depend on the desktop.
type runExtras struct {
	mu     sync.Mutex
	tray   string
	hotkey string
}

func (e *runExtras) set(tray, hotkey string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if tray != "" {
		e.tray = tray
	}
	if hotkey != "" {
		e.hotkey = hotkey
	}
}

func (e *runExtras) desktop() apitype.DesktopStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	ds := apitype.DesktopStatus{Tray: e.tray, Hotkey: e.hotkey}
	if ds.Tray == "" {
		ds.Tray = "off: the daemon is not running"
	}
	if ds.Hotkey == "" {
		ds.Hotkey = ds.Tray
	}
	return ds
}

// Run serves the injector on the configured loopback address and the
// control API on the unix socket until ctx ends, then shuts down
// gracefully: in-flight requests finish, the outbox stays on disk.
func (d *Daemon) Run(ctx context.Context) error {
	// The one-daemon lock is the state directory's (the database's); the
	// runtime directory's pid file is taken too, for its socket.
	unlockState, err := acquirePIDFile(d.paths.daemonLockFile(), false)
	if err != nil {
		return err
	}
	defer unlockState()
	unlock, err := acquirePIDFile(d.paths.PIDFile(), true)
	if err != nil {
		return err
	}
	defer unlock()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cfg := d.conf() // one snapshot for the listener and the injector

	if err := checkListen(cfg.Listen, cfg.AllowNonLoopback); err != nil {
		return err
	}
	issuer, err := d.localIssuer(ctx)
	if err != nil {
		return err
	}
	verifier, err := d.newVerifier(ctx, issuer)
	if err != nil {
		return err
	}
	apps, err := d.newApps(ctx, issuer)
	if err != nil {
		return err
	}
	tcp, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another program using it? choose another with --listen)", cfg.Listen, err)
	}
	d.listenAddr = cfg.Listen
	if _, port, _ := net.SplitHostPort(cfg.Listen); port == "0" {
		d.listenAddr = tcp.Addr().String()
	}
	inj, err := injector.New(injector.Config{
		Listen:           d.listenAddr,
		AllowNonLoopback: cfg.AllowNonLoopback,
		Backend:          d,
		Verifier:         verifier,
		Issuer:           issuer,
		SearchDeadline:   cfg.SearchDeadline.Duration,
		MenuCodeTTL:      cfg.MenuCodeTTL.Duration,
		AllowedOrigins:   cfg.AllowedOrigins,
		Menu:             menuHandler(),
		Apps:             apps,
		MCP:              d.mcpConfig(),
		Control:          d.controlRoutes(cancel),
		Logger:           d.log,
	})
	if err != nil {
		tcp.Close()
		return err
	}
	d.inj = inj
	d.apps = apps
	// Tokens of grants revoked before this start stay refused.
	inj.RevokeSubjects(apps.RevokedSubjects()...)
	if err := d.revokeClientTokens(ctx); err != nil {
		tcp.Close()
		return fmt.Errorf("personal clients: %w", err)
	}
	d.issuer = issuer

	sock := d.paths.SocketPath()
	_ = os.Remove(sock) // stale: we hold the lock, so no live daemon owns it
	ctl, err := net.Listen("unix", sock)
	if err != nil {
		tcp.Close()
		return fmt.Errorf("control socket %s: %w", sock, err)
	}
	if err := os.Chmod(sock, 0o600); err != nil {
		tcp.Close()
		ctl.Close()
		return err
	}
	defer os.Remove(sock)

	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Add(2)
	go func() { defer wg.Done(); errs <- inj.Serve(ctx, tcp) }()
	go func() { defer wg.Done(); errs <- inj.ServeControl(ctx, peerCheckedListener{ctl, d.log}) }()

	wg.Add(1)
	go func() { defer wg.Done(); d.watchSalt(ctx, d.saltCheckInterval) }()
	if err := d.startSync(ctx, &wg); err != nil {
		d.log.Error("remote store sync is off", "err", err)
	}
	d.startOrgPull(ctx, &wg)
	runTray := d.startDesktop(ctx, &wg, cancel)

	fmt.Fprintf(d.out, "latchkey daemon %s: listening on http://%s (control socket %s, state %s)\n",
		d.version, d.listenAddr, sock, d.paths.StateDir)
	d.log.Info("daemon started", "listen", d.listenAddr, "socket", sock, "state_dir", d.paths.StateDir, "key_id", d.vault.KeyID())

	stopped := make(chan error, 1)
	go func() {
		select {
		case <-ctx.Done():
			stopped <- nil
		case err := <-errs:
			cancel()
			stopped <- err
		}
	}()
	// The tray's event loop runs on Run's own goroutine: on macOS it must be
	// the main thread (cmd/latchkey locks main there), and Run is called
	// from main. It returns when ctx ends or the user picks Quit.
	if runTray != nil {
		runTray()
	}
	first := <-stopped
	wg.Wait()
	d.inj.Close() // flushes the audit entries still batched
	d.log.Info("daemon stopped")
	if first == nil && d.restartForDisplay.Load() {
		return ErrRestartForDisplay
	}
	return first
}

// checkListen refuses a non-loopback address unless explicitly allowed.
func checkListen(addr string, allowNonLoopback bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	if allowNonLoopback {
		return nil
	}
	if loopback.IsHost(host) {
		return nil
	}
	return fmt.Errorf("listen address %q is not loopback: latchkey serves tokens to this machine only (set allow_non_loopback = true to override)", addr)
}

// acquirePIDFile takes the single-instance lock of path and writes our
// pid in it; the returned function releases it, and removes the file when
// remove is set. The state directory's lock file is never removed: a
// process that opened it just before would lock a file nobody else sees.
func acquirePIDFile(path string, remove bool) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := lockFile(f); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, errLocked) {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil {
				return nil, fmt.Errorf("%w (pid %d)", ErrAlreadyRunning, pid)
			}
			return nil, ErrAlreadyRunning
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() {
		if remove {
			os.Remove(path)
		} else {
			_ = f.Truncate(0)
		}
		f.Close()
	}, nil
}

// RunningPID returns the pid of the running daemon, if any: the holder of
// the state directory's lock, or of the runtime directory's pid file.
func RunningPID(p Paths) (int, bool) {
	for _, path := range []string{p.daemonLockFile(), p.PIDFile()} {
		if pid, ok := lockHolder(path); ok {
			return pid, true
		}
	}
	return 0, false
}

// lockHolder returns the pid written in the lock file path while another
// process holds its lock.
func lockHolder(path string) (int, bool) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	if lockFile(f) == nil {
		return 0, false // we could lock it: nobody holds it
	}
	b, _ := os.ReadFile(path)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid, err == nil
}

// localIssuer loads the Ed25519 key that signs local client JWTs, sealed in
// the local store, or makes one.
func (d *Daemon) localIssuer(ctx context.Context) (*auth.Issuer, error) {
	seed, err := d.vault.GetSealedMeta(ctx, jwtKeyName)
	switch {
	case err == nil && len(seed) == ed25519.SeedSize:
		return auth.NewIssuer(ed25519.NewKeyFromSeed(seed), localIssuer, localAudience), nil
	case err == nil || !errors.Is(err, store.ErrNotFound):
		d.log.Warn("the local JWT signing key could not be opened; making a new one (earlier local tokens stop working)", "err", err)
	}
	seed = make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, err
	}
	if err := d.vault.SetSealedMeta(ctx, jwtKeyName, seed); err != nil {
		return nil, err
	}
	return auth.NewIssuer(ed25519.NewKeyFromSeed(seed), localIssuer, localAudience), nil
}

// MintToken mints a local client JWT (latchkey token).
func (d *Daemon) MintToken(req apitype.TokenRequest) (string, error) {
	if d.issuer == nil {
		return "", errors.New("the daemon is not serving")
	}
	ttl := req.TTL
	if ttl <= 0 {
		ttl = clientTokenTTL
	}
	if ttl > maxLocalTokenTTL {
		return "", fmt.Errorf("--ttl %s is longer than the %s maximum", ttl, maxLocalTokenTTL)
	}
	for _, n := range req.Integrations {
		if !d.registry.Has(n) {
			return "", fmt.Errorf("unknown integration %q (known: %s)", n, strings.Join(d.registry.Names(), ", "))
		}
	}
	sub := req.Subject
	if sub == "" {
		sub = d.vault.User()
	}
	scope := req.Integrations
	if len(scope) == 0 {
		scope = allIntegrations
	}
	return d.issuer.Mint(sub, scope, ttl)
}
