package sqlitestore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/latchkey/latchkey/internal/sqlitewal"
	"github.com/latchkey/latchkey/vault/store"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Store is the local SQLite store. It is safe for concurrent use, also by
// several processes on the same file.
type Store struct {
	db   *sql.DB
	path string

	auditMaxRows int64
	auditMaxAge  time.Duration

	// The audit trail is written by one goroutine that commits every row
	// queued meanwhile in one transaction (group commit): one fsync for many
	// concurrent requests instead of one each.
	auditMu     sync.RWMutex // guards auditClosed against sends on a closed channel
	auditClosed bool
	auditCh     chan auditReq
	auditDone   chan struct{}

	records *recordCache // see GetRecordCached

	audit *auditStmts // prepared once
}

// Audit retention: the trail keeps at most this many calls, none older than
// this.
const (
	AuditMaxRows = 10000
	AuditMaxAge  = 90 * 24 * time.Hour
)

var (
	_ store.RecordStore = (*Store)(nil)
	_ store.Outbox      = (*Store)(nil)
)

// ErrDamaged: the database file failed SQLite's integrity check at open.
var ErrDamaged = errors.New("sqlitestore: the database is damaged")

// QuickCheckTimeout bounds the integrity check Open runs (PRAGMA
// quick_check). A check that does not finish in time is not a failure: the
// file opens as before.
var QuickCheckTimeout = 20 * time.Second

// Open opens (creating and migrating if needed) the database at path. The
// parent directory is created 0700 when missing; the database file and its
// -wal and -shm companions are 0600.
func Open(path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlitestore: empty database path")
	}
	path, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlitestore: state directory: %w", err)
	}
	// Create the files ourselves so that they never exist with the umask's
	// mode, even for an instant. SQLite gives -wal and -shm the main file's
	// mode, and an empty -wal is the same as none.
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := ensureFile0600(p); err != nil {
			return nil, fmt.Errorf("sqlitestore: %w", err)
		}
	}
	file := "file:" + (&url.URL{Path: path}).EscapedPath()
	if err := sqlitewal.Enable(file, nil); err != nil {
		return nil, fmt.Errorf("sqlitestore: switch %s to WAL mode: %w", path, err)
	}
	// The pragmas run in order on every new connection. The file is in WAL
	// mode already (it persists), so journal_mode(WAL) only checks it.
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", file+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: %w", err)
	}
	db.SetMaxOpenConns(8)
	if err := quickCheck(db, path); err != nil {
		db.Close()
		return nil, err
	}
	s := &Store{db: db, path: path, auditMaxRows: AuditMaxRows, auditMaxAge: AuditMaxAge,
		auditCh: make(chan auditReq, 256), auditDone: make(chan struct{}), records: newRecordCache(RecordCacheTTL, time.Now)}
	if err := s.migrate(context.Background()); err != nil {
		db.Close()
		return nil, err
	}
	if s.audit, err = prepareAudit(context.Background(), db); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlitestore: %w", err)
	}
	go s.auditWriter()
	return s, nil
}

// quickCheck runs PRAGMA quick_check (bounded by QuickCheckTimeout), so a
// damaged page is found at open rather than by whichever request reads it.
func quickCheck(db *sql.DB, path string) error {
	ctx, cancel := context.WithTimeout(context.Background(), QuickCheckTimeout)
	defer cancel()
	damaged := func(what string) error {
		return fmt.Errorf("%w: %s failed its integrity check (%s): restore it from a backup, or move it aside to start over (every integration will then need connecting again)", ErrDamaged, path, what)
	}
	rows, err := db.QueryContext(ctx, "PRAGMA quick_check(3)")
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		if isCorrupt(err) {
			return damaged(err.Error())
		}
		return fmt.Errorf("sqlitestore: integrity check of %s: %w", path, err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return fmt.Errorf("sqlitestore: integrity check of %s: %w", path, err)
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		if isCorrupt(err) {
			return damaged(err.Error())
		}
		return fmt.Errorf("sqlitestore: integrity check of %s: %w", path, err)
	}
	if len(problems) > 0 {
		return damaged(strings.Join(problems, "; "))
	}
	return nil
}

// isCorrupt reports whether err is SQLite's SQLITE_CORRUPT or SQLITE_NOTADB.
func isCorrupt(err error) bool {
	var se interface{ Code() int }
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case 11, 26: // SQLITE_CORRUPT, SQLITE_NOTADB
			return true
		}
	}
	return false
}

func ensureFile0600(p string) error {
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Mode().Perm() != 0o600 {
		return f.Chmod(0o600)
	}
	return nil
}

// Path returns the absolute path of the database file.
func (s *Store) Path() string { return s.path }

// Close writes the audit rows still queued and closes the database.
func (s *Store) Close() error {
	s.auditMu.Lock()
	if !s.auditClosed {
		s.auditClosed = true
		close(s.auditCh)
	}
	s.auditMu.Unlock()
	<-s.auditDone
	s.audit.close()
	return s.db.Close()
}

// migrate applies the embedded migrations not yet applied, each in its own
// transaction together with the schema_version bump.
func (s *Store) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("sqlitestore: %w", err)
	}
	sort.Strings(names)
	type mig struct {
		version int
		name    string
	}
	var migs []mig
	for _, n := range names {
		base := filepath.Base(n)
		num, _, _ := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if err != nil || v <= 0 {
			return fmt.Errorf("sqlitestore: migration %s: name must start with its version", base)
		}
		migs = append(migs, mig{v, n})
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
			return err
		}
		var cur int
		err := tx.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&cur)
		if errors.Is(err, sql.ErrNoRows) {
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (0)`); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		latest := 0
		if len(migs) > 0 {
			latest = migs[len(migs)-1].version
		}
		if cur > latest {
			return fmt.Errorf("database schema version %d is newer than this build knows (%d): upgrade latchkey", cur, latest)
		}
		for _, m := range migs {
			if m.version <= cur {
				continue
			}
			b, err := migrationFS.ReadFile(m.name)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, string(b)); err != nil {
				return fmt.Errorf("migration %s: %w", filepath.Base(m.name), err)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = ?`, m.version); err != nil {
				return err
			}
		}
		return nil
	})
}

// SchemaVersion returns the applied schema version.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.db.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v)
	return v, wrap(err)
}

// Check runs SQLite's integrity check and returns an error describing the
// first problems it finds.
func (s *Store) Check(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return wrap(err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return wrap(err)
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return wrap(err)
	}
	if len(problems) > 0 {
		if len(problems) > 3 {
			problems = problems[:3]
		}
		return fmt.Errorf("sqlitestore: %s is damaged: %s", s.path, strings.Join(problems, "; "))
	}
	return nil
}

// tx runs f in an immediate (write-locking) transaction.
func (s *Store) tx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrap(err)
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return wrap(err)
	}
	return wrap(tx.Commit())
}

// Lock runs f while holding the database's write lock, so that processes
// sharing this file run f one at a time. f must not write through s (it would
// wait for the lock it is holding).
func (s *Store) Lock(ctx context.Context, f func() error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrap(err)
	}
	defer tx.Rollback()
	return f()
}

// wrap prefixes errors with the package name and leaves sentinel errors
// comparable with errors.Is.
func wrap(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) ||
		strings.HasPrefix(err.Error(), "sqlitestore: ") {
		return err
	}
	return fmt.Errorf("sqlitestore: %w", err)
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.UnixMicro(n).UTC()
}
