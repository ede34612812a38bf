package syncer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/latchkey/latchkey/internal/atomicfile"
	"github.com/latchkey/latchkey/vault/store"
	"github.com/latchkey/latchkey/vault/store/remotestore"
)

// Local is what the syncer needs of the local store: its outbox and its
// records. vault/store/sqlitestore.Store implements it.
type Local interface {
	store.Outbox
	GetRecord(ctx context.Context, k store.Key) (store.Record, error)
	ListRecords(ctx context.Context, user string) ([]store.Record, error)
}

// ErrNotNewer, wrapped in an error of Hooks.OnRemoteNewer, says the remote
// record is not newer than the local one after all (the daemon compares the
// sequences sealed inside both; a restored or compromised store serves an
// older record under a higher version). The local record is kept and pushed
// over the remote one.
var ErrNotNewer = errors.New("syncer: the remote record is not newer than the local one")

// Pinger is optional on the remote store (*remotestore.Client has it): a
// cheap request telling whether the store answers, used while it is down
// instead of retrying the outbox.
type Pinger interface {
	Ping(ctx context.Context) error
}

// metaStore is optional on Local: where to remember remote versions.
type metaStore interface {
	GetMeta(ctx context.Context, key string) (string, error)
	SetMeta(ctx context.Context, key, value string) error
}

// Hooks are the daemon's reactions. Each may be nil. They are called from
// the Run goroutine, one at a time.
type Hooks struct {
	// OnRevoked: the store says an administrator revoked this device's
	// record of integration. The daemon should disconnect it (mark it
	// reconnect-needed and delete the local record without queuing a remote
	// delete); a later connect creates a fresh record (If-None-Match: *),
	// which replaces the store's revocation marker.
	OnRevoked func(ctx context.Context, integration string)
	// OnRemoteNewer: the store holds a newer sealed record than the local
	// one; the daemon stores rec locally (without queuing it). An error
	// keeps the outbox item for a later retry, except one wrapping
	// ErrNotNewer: then the local record is kept and pushed over the remote
	// one. Nil: the remote record is kept remotely and the local one left
	// as is.
	OnRemoteNewer func(ctx context.Context, rec store.Record) error
	// OnStatus is called after every change of Status (tray, logs).
	OnStatus func(SyncStatus)
}

// Options configure a Syncer. Zero values take the defaults.
type Options struct {
	// User and Device name this device's records, which the syncer checks
	// against the store (revocations, newer remote records). Both empty:
	// no such checks, outbox pushes only.
	User, Device string
	Hooks
	// StatusFile, if set, receives the status as JSON (0600) after every
	// change, so `latchkey status` can show it while the daemon is down
	// (ReadStatus).
	StatusFile string
	// MinBackoff and MaxBackoff bound the retry delay of an item the store
	// refused (defaults 1s and 5m; doubled per failure, with jitter).
	MinBackoff, MaxBackoff time.Duration
	// MaxProbe caps the delay between two probes of a store that does not
	// answer (default 10s; from MinBackoff, doubled per failed probe, with
	// jitter). A probe is a GET /healthz when the remote is a Pinger, else a
	// push of the outbox; once it answers the outbox is flushed at once. A
	// Kick while down tries at once without lengthening the delay. A store
	// that answers the probe but still fails the pushes (it refuses the
	// token, say) is retried up to MaxBackoff apart instead.
	MaxProbe time.Duration
	// PollInterval: how often the outbox is looked at without a Kick
	// (default 30s). CheckInterval: how often this device's records are
	// checked against the store (default 5m; also at start, after the
	// store comes back and on Kick).
	PollInterval, CheckInterval time.Duration
	// BatchSize: outbox items read at a time (default 200).
	BatchSize int
	Logger    *slog.Logger
}

// SyncStatus is what `latchkey status` shows of the sync.
type SyncStatus struct {
	Pending     int       `json:"pending"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	// Down: the last attempt could not reach the store; NextRetry is when
	// the next one is due.
	Down      bool      `json:"down,omitempty"`
	NextRetry time.Time `json:"next_retry,omitzero"`
	// Refused is the last remote record refused because it was not newer
	// than the local one (ErrNotNewer), and when.
	Refused   string    `json:"refused,omitempty"`
	RefusedAt time.Time `json:"refused_at,omitzero"`
}

// Syncer drains the outbox into the remote store. Create it with New and
// run it with Run; Kick and Status are safe to call from any goroutine.
type Syncer struct {
	local  Local
	remote store.RecordStore
	meta   metaStore
	o      Options
	log    *slog.Logger
	kick   chan struct{}

	mu     sync.Mutex
	status SyncStatus
	known  map[store.Key]int64 // last remote version seen; 0: absent remotely
	fails  int                 // consecutive unreachable cycles
	// errDown: the last error recorded was the store not answering, so the
	// next success clears it from the status.
	errDown bool
}

// New builds a Syncer of local into remote (a *remotestore.Client).
func New(local Local, remote store.RecordStore, o Options) *Syncer {
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Minute
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	if o.MaxProbe <= 0 {
		o.MaxProbe = 10 * time.Second
	}
	if o.MaxProbe < o.MinBackoff {
		o.MaxProbe = o.MinBackoff
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 30 * time.Second
	}
	if o.CheckInterval <= 0 {
		o.CheckInterval = 5 * time.Minute
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 200
	}
	s := &Syncer{local: local, remote: remote, o: o, log: o.Logger, kick: make(chan struct{}, 1), known: map[store.Key]int64{}}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.meta, _ = local.(metaStore)
	if o.StatusFile != "" {
		if st, err := ReadStatus(o.StatusFile); err == nil {
			s.status = st
		}
	}
	return s
}

// SetUser changes the user this device's records are listed under (the
// vault re-binds them when the organisation identity signs in or out).
func (s *Syncer) SetUser(user string) {
	s.mu.Lock()
	s.o.User = user
	s.mu.Unlock()
}

func (s *Syncer) user() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.o.User
}

// Kick asks Run to push and check now (after a local write, a network
// change, or "retry now" in the tray). It never blocks.
func (s *Syncer) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Status returns the current sync state; Pending is counted now.
func (s *Syncer) Status() SyncStatus {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	n, err := s.local.Count(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		s.status.Pending = n
	}
	return s.status
}

// ReadStatus reads the status a Syncer wrote to its StatusFile.
func ReadStatus(path string) (SyncStatus, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return SyncStatus{}, err
	}
	var st SyncStatus
	if err := json.Unmarshal(b, &st); err != nil {
		return SyncStatus{}, fmt.Errorf("syncer: %s: %w", path, err)
	}
	return st, nil
}

// Run pushes until ctx is done (then it returns nil).
func (s *Syncer) Run(ctx context.Context) error {
	force, check := true, true
	kicked := true // this pass was asked for (start, Kick), not timed
	down := false
	lastCheck := time.Time{}
	for {
		var res cycleResult
		answered := false // the probe found the store answering
		if down && !force {
			// A timed wake while the store is down: probe it cheaply, and
			// flush everything as soon as it answers.
			if err := s.probe(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				s.fail(err, true)
				res.down = true
			} else {
				force, check, answered = true, true, true
			}
		}
		if !res.down {
			res = s.cycle(ctx, force, check)
		}
		if ctx.Err() != nil {
			return nil
		}
		if check && !res.down {
			lastCheck = time.Now()
		}
		wait := s.o.PollInterval
		if res.down {
			s.mu.Lock()
			// Only timed attempts lengthen the delay: a Kick that finds the
			// store still down does not push the next probe further away.
			if !kicked || s.fails == 0 {
				s.fails++
			}
			n := s.fails
			s.mu.Unlock()
			ceiling := s.o.MaxProbe
			if answered {
				// It answers its health check but not our pushes (it refuses
				// the token, or fails): no point in trying every few seconds.
				ceiling = s.o.MaxBackoff
			}
			wait = Backoff(n, s.o.MinBackoff, ceiling)
			s.setStatus(func(st *SyncStatus) { st.Down = true; st.NextRetry = time.Now().Add(wait).UTC() })
		} else {
			s.mu.Lock()
			wasDown := s.fails > 0
			s.fails = 0
			s.mu.Unlock()
			if wasDown {
				s.log.Info("remote store reachable again")
				s.setStatus(func(st *SyncStatus) { st.Down = false; st.NextRetry = time.Time{} })
			}
			if !res.nextItem.IsZero() {
				wait = min(wait, max(time.Until(res.nextItem), 0))
			}
			untilCheck := max(time.Until(lastCheck.Add(s.o.CheckInterval)), 0)
			wait = min(wait, untilCheck)
		}
		down = res.down
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-s.kick:
			t.Stop()
			force, check, kicked = true, true, true
		case <-t.C:
			// While down every timed wake is a probe; once up, only due
			// items, and the record check when it is due.
			force, kicked = false, false
			check = down || !time.Now().Before(lastCheck.Add(s.o.CheckInterval))
		}
	}
}

// probe asks the store whether it answers: Ping when the remote has it;
// otherwise nil, so that the caller's push of the outbox is the probe.
func (s *Syncer) probe(ctx context.Context) error {
	p, ok := s.remote.(Pinger)
	if !ok {
		return nil
	}
	return p.Ping(ctx)
}

// cycleResult is what one pass found.
type cycleResult struct {
	down     bool      // the store was unreachable
	nextItem time.Time // earliest retry time given to an item
}

// cycle flushes the outbox (every item when force, due ones otherwise) and,
// when check, compares this device's records with the store.
func (s *Syncer) cycle(ctx context.Context, force, check bool) cycleResult {
	var res cycleResult
	seen := map[int64]bool{}
	for {
		now := time.Now()
		if force {
			now = now.Add(100 * 365 * 24 * time.Hour)
		}
		items, err := s.local.Pending(ctx, now, s.o.BatchSize)
		if err != nil {
			s.fail(fmt.Errorf("reading the outbox: %w", err), false)
			return res
		}
		fresh := 0
		for _, it := range items {
			if seen[it.ID] {
				continue
			}
			seen[it.ID] = true
			fresh++
			err := s.push(ctx, it)
			if ctx.Err() != nil {
				return res
			}
			if err == nil {
				if e := s.local.Ack(ctx, it.ID); e != nil {
					s.fail(fmt.Errorf("acking outbox item: %w", e), false)
				}
				s.succeed()
				continue
			}
			unreachable := errors.Is(err, store.ErrUnavailable) || errors.Is(err, remotestore.ErrUnauthorized)
			var next time.Time
			if unreachable {
				s.mu.Lock()
				n := s.fails + 1
				s.mu.Unlock()
				next = time.Now().Add(Backoff(n, s.o.MinBackoff, s.o.MaxBackoff))
			} else {
				next = time.Now().Add(Backoff(it.Attempts+1, s.o.MinBackoff, s.o.MaxBackoff))
			}
			if e := s.local.Retry(ctx, it.ID, err.Error(), next); e != nil {
				s.log.Warn("sync: recording a retry failed", "err", e)
			}
			if res.nextItem.IsZero() || next.Before(res.nextItem) {
				res.nextItem = next
			}
			s.fail(err, unreachable)
			if unreachable {
				// The store is down (or refuses us): no point trying the rest now.
				res.down = true
				return res
			}
		}
		if fresh == 0 || len(items) < s.o.BatchSize {
			break
		}
	}
	if check && s.user() != "" && s.o.Device != "" {
		if err := s.check(ctx); err != nil && ctx.Err() == nil {
			unreachable := errors.Is(err, store.ErrUnavailable) || errors.Is(err, remotestore.ErrUnauthorized)
			s.fail(err, unreachable)
			res.down = res.down || unreachable
		}
	}
	return res
}

// push sends one outbox item; nil means it can leave the outbox.
func (s *Syncer) push(ctx context.Context, it store.OutboxItem) error {
	k := it.Record.Key
	switch it.Op {
	case store.OpDelete:
		err := s.remote.DeleteRecord(ctx, k)
		if err == nil || errors.Is(err, store.ErrNotFound) { // ErrRevoked is also ErrNotFound: gone either way
			s.remember(ctx, k, 0)
			return nil
		}
		return err
	case store.OpPut:
		return s.put(ctx, it.Record)
	default:
		return fmt.Errorf("unknown outbox op %q", it.Op)
	}
}

// put writes local record l, resolving conflicts by re-reading.
func (s *Syncer) put(ctx context.Context, l store.Record) error {
	expect, ok := s.knownVersion(ctx, l.Key)
	if !ok {
		// Unknown: assume the store followed every local version.
		expect = max(l.Version-1, 0)
	}
	for round := 0; round < 4; round++ {
		got, err := s.remote.PutRecord(ctx, l, expect)
		switch {
		case err == nil:
			s.remember(ctx, l.Key, got.Version)
			return nil
		case errors.Is(err, remotestore.ErrRevoked):
			s.revoked(ctx, l.Key)
			return nil
		case !errors.Is(err, store.ErrConflict):
			return err
		}
		// 412: read what the store has and decide by version.
		r, err := s.remote.GetRecord(ctx, l.Key)
		switch {
		case errors.Is(err, remotestore.ErrRevoked):
			s.revoked(ctx, l.Key)
			return nil
		case errors.Is(err, store.ErrNotFound):
			expect = store.CreateOnly
			continue
		case err != nil:
			return err
		}
		if r.Envelope == l.Envelope {
			// An earlier push of this very record landed; its answer was lost.
			s.remember(ctx, l.Key, r.Version)
			return nil
		}
		if r.Version >= expect+1 {
			// The store's record claims to be at least as new as ours would
			// be; the daemon checks the sequence sealed inside it.
			if err := s.adopt(ctx, r); !errors.Is(err, ErrNotNewer) {
				return err
			}
		}
		expect = r.Version
	}
	return fmt.Errorf("%w: the record kept changing while it was being pushed", store.ErrConflict)
}

// adopt hands a newer remote record to the daemon.
func (s *Syncer) adopt(ctx context.Context, r store.Record) error {
	if s.o.OnRemoteNewer != nil {
		if err := s.o.OnRemoteNewer(ctx, r); errors.Is(err, ErrNotNewer) {
			msg := fmt.Sprintf("the remote store served an older record of %s (version %d) than this device holds; kept the local one and pushed it again", r.Integration, r.Version)
			s.log.Warn("sync: "+msg, "integration", r.Integration, "remote_version", r.Version, "err", err)
			s.setStatus(func(st *SyncStatus) { st.Refused, st.RefusedAt = msg, time.Now().UTC() })
			return err
		} else if err != nil {
			return fmt.Errorf("storing the newer remote record locally: %w", err)
		}
	}
	s.log.Info("sync: the remote store holds a newer record; kept it", "integration", r.Integration, "remote_version", r.Version)
	s.remember(ctx, r.Key, r.Version)
	return nil
}

func (s *Syncer) revoked(ctx context.Context, k store.Key) {
	s.log.Warn("sync: record revoked by an administrator; disconnecting", "integration", k.Integration)
	s.remember(ctx, k, 0)
	if s.o.OnRevoked != nil {
		s.o.OnRevoked(ctx, k.Integration)
	}
}

// check compares this device's local records (those with nothing pending)
// with the store: revoked ones are reported, newer remote ones adopted,
// missing or older remote ones pushed.
func (s *Syncer) check(ctx context.Context) error {
	pending := map[store.Key]bool{}
	items, err := s.local.Pending(ctx, time.Now().Add(100*365*24*time.Hour), 10000)
	if err != nil {
		return fmt.Errorf("reading the outbox: %w", err)
	}
	for _, it := range items {
		pending[it.Record.Key] = true
	}
	recs, err := s.local.ListRecords(ctx, s.user())
	if err != nil {
		return fmt.Errorf("listing local records: %w", err)
	}
	for _, l := range recs {
		if l.Device != s.o.Device || pending[l.Key] {
			continue
		}
		r, err := s.remote.GetRecord(ctx, l.Key)
		switch {
		case errors.Is(err, remotestore.ErrRevoked):
			s.revoked(ctx, l.Key)
			continue
		case errors.Is(err, store.ErrNotFound):
			s.remember(ctx, l.Key, 0)
			if err := s.put(ctx, l); err != nil {
				return err
			}
			continue
		case err != nil:
			return err
		}
		if r.Envelope == l.Envelope {
			s.remember(ctx, l.Key, r.Version)
			continue
		}
		known, ok := s.knownVersion(ctx, l.Key)
		if !ok {
			known = l.Version // assume lockstep, as put does
		}
		if r.Version > known {
			err := s.adopt(ctx, r)
			if err == nil {
				continue
			}
			if !errors.Is(err, ErrNotNewer) {
				return err
			}
			// Not newer after all: the local record goes over it.
		}
		s.remember(ctx, l.Key, r.Version)
		if err := s.put(ctx, l); err != nil {
			return err
		}
	}
	s.succeed()
	return nil
}

func metaKey(k store.Key) string {
	return "sync.remote_version/" + k.Device + "/" + k.Integration
}

// knownVersion is the last remote version seen for k (0: absent remotely).
func (s *Syncer) knownVersion(ctx context.Context, k store.Key) (int64, bool) {
	s.mu.Lock()
	v, ok := s.known[k]
	s.mu.Unlock()
	if ok || s.meta == nil {
		return v, ok
	}
	str, err := s.meta.GetMeta(ctx, metaKey(k))
	if err != nil {
		return 0, false
	}
	v, err = strconv.ParseInt(str, 10, 64)
	if err != nil || v < 0 {
		return 0, false
	}
	s.mu.Lock()
	s.known[k] = v
	s.mu.Unlock()
	return v, true
}

func (s *Syncer) remember(ctx context.Context, k store.Key, v int64) {
	s.mu.Lock()
	s.known[k] = v
	s.mu.Unlock()
	if s.meta != nil {
		if err := s.meta.SetMeta(ctx, metaKey(k), strconv.FormatInt(v, 10)); err != nil {
			s.log.Warn("sync: remembering the remote version failed", "err", err)
		}
	}
}

func (s *Syncer) succeed() {
	s.setStatus(func(st *SyncStatus) {
		st.LastSuccess = time.Now().UTC()
		st.Down = false
		st.NextRetry = time.Time{}
		if s.errDown {
			// The store answers again: its not answering is over.
			st.LastError, st.LastErrorAt, s.errDown = "", time.Time{}, false
		}
	})
}

func (s *Syncer) fail(err error, unreachable bool) {
	if unreachable {
		s.log.Debug("sync: remote store unreachable", "err", err)
	} else {
		s.log.Warn("sync: push failed", "err", err)
	}
	s.setStatus(func(st *SyncStatus) {
		st.LastErrorAt = time.Now().UTC()
		st.LastError = err.Error()
		s.errDown = unreachable
	})
}

func (s *Syncer) setStatus(f func(*SyncStatus)) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	n, cerr := s.local.Count(ctx)
	s.mu.Lock()
	f(&s.status)
	if cerr == nil {
		s.status.Pending = n
	}
	st := s.status
	s.mu.Unlock()
	if s.o.StatusFile != "" {
		if err := writeStatus(s.o.StatusFile, st); err != nil {
			s.log.Warn("sync: writing the status file failed", "err", err)
		}
	}
	if s.o.OnStatus != nil {
		s.o.OnStatus(st)
	}
}

// writeStatus replaces path atomically with st (0600, directory 0700).
func writeStatus(path string, st SyncStatus) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, b, 0o600)
}

// Backoff is the delay before retry n (1, 2, …): min·2^(n-1) capped at max,
// with "equal jitter" (between half and all of it) so that many devices do
// not retry in step.
func Backoff(n int, minD, maxD time.Duration) time.Duration {
	if n < 1 {
		n = 1
	}
	d := maxD
	if n < 40 {
		if e := minD << (n - 1); e > 0 && e < maxD {
			d = e
		}
	}
	half := d / 2
	return half + rand.N(d-half+1)
}
