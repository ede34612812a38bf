package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/latchkey/latchkey/vault/store"
)

type auditReq struct {
	rows []store.AuditRow
	done chan error
}

// auditBatch is the number of rows past which the writer stops gathering
// more appends into one transaction.
const auditBatch = 512

// auditChunkRows is the most calls one row of audit_chunk holds (migration
// 0003): the trail is written a chunk, not a call, at a time, and pruned a
// chunk at a time.
const auditChunkRows = 64

// auditAgeProbe is how many of the oldest chunks one age-pruning statement
// looks at.
const auditAgeProbe = 256

// AppendAudit adds rows (a zero Time is the time of the append) and prunes
// the trail to its retention bound: at most AuditMaxRows calls, none older
// than AuditMaxAge (whole chunks of the oldest calls go, so a little less
// may be kept). It returns once the rows are committed; the rows of one
// call, and of calls made concurrently, share one transaction.
func (s *Store) AppendAudit(ctx context.Context, rows ...store.AuditRow) error {
	if len(rows) == 0 {
		return nil
	}
	now := time.Now()
	own := make([]store.AuditRow, len(rows))
	for i, r := range rows {
		if r.Time.IsZero() {
			r.Time = now
		}
		own[i] = r
	}
	req := auditReq{rows: own, done: make(chan error, 1)}
	s.auditMu.RLock()
	if s.auditClosed {
		s.auditMu.RUnlock()
		return errors.New("sqlitestore: store is closed")
	}
	select {
	case s.auditCh <- req:
	case <-ctx.Done():
		s.auditMu.RUnlock()
		return ctx.Err()
	}
	s.auditMu.RUnlock()
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err() // the row is still written
	}
}

// auditWriter commits queued audit rows, as many per transaction as are
// waiting, until Close.
func (s *Store) auditWriter() {
	defer close(s.auditDone)
	for req := range s.auditCh {
		batch := []auditReq{req}
		n := len(req.rows)
	more:
		for n < auditBatch {
			select {
			case r, ok := <-s.auditCh:
				if !ok {
					break more
				}
				batch = append(batch, r)
				n += len(r.rows)
			default:
				break more
			}
		}
		err := s.writeAudit(batch)
		for _, r := range batch {
			r.done <- err
		}
	}
}

// auditStmts are the audit trail's prepared statements.
type auditStmts struct {
	next, insert, pruneRows, pruneAge *sql.Stmt
}

func prepareAudit(ctx context.Context, db *sql.DB) (*auditStmts, error) {
	st := &auditStmts{}
	for _, p := range []struct {
		stmt **sql.Stmt
		q    string
	}{
		{&st.next, `SELECT seq + n FROM audit_chunk ORDER BY seq DESC LIMIT 1`},
		{&st.insert, `INSERT INTO audit_chunk (seq, n, first_time, calls) VALUES (?, ?, ?, ?)`},
		{&st.pruneRows, `DELETE FROM audit_chunk WHERE seq <= ?`},
		// Age: chunks are appended in time order (but for clock changes),
		// so the too old ones are the oldest by seq; look at auditAgeProbe
		// of those at a time.
		{&st.pruneAge, `DELETE FROM audit_chunk WHERE seq IN (SELECT seq FROM audit_chunk ORDER BY seq LIMIT ?) AND first_time < ?`},
	} {
		var err error
		if *p.stmt, err = db.PrepareContext(ctx, p.q); err != nil {
			st.close()
			return nil, err
		}
	}
	return st, nil
}

func (st *auditStmts) close() {
	for _, p := range []*sql.Stmt{st.next, st.insert, st.pruneRows, st.pruneAge} {
		if p != nil {
			p.Close()
		}
	}
}

func (s *Store) writeAudit(batch []auditReq) error {
	ctx := context.Background()
	var rows []store.AuditRow
	for _, req := range batch {
		rows = append(rows, req.rows...)
	}
	var buf []byte
	return s.tx(ctx, func(tx *sql.Tx) error {
		seq := int64(1)
		if err := tx.StmtContext(ctx, s.audit.next).QueryRowContext(ctx).Scan(&seq); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		insert := tx.StmtContext(ctx, s.audit.insert)
		for len(rows) > 0 {
			chunk := rows[:min(len(rows), auditChunkRows)]
			rows = rows[len(chunk):]
			buf = appendAuditChunk(buf[:0], chunk)
			if _, err := insert.ExecContext(ctx, seq, len(chunk), micros(oldestCall(chunk)), string(buf)); err != nil {
				return err
			}
			seq += int64(len(chunk))
		}
		// seq is now one past the last call: keep the newest auditMaxRows
		// calls at most, dropping every chunk that starts before them.
		if _, err := tx.StmtContext(ctx, s.audit.pruneRows).ExecContext(ctx, seq-1-s.auditMaxRows); err != nil {
			return err
		}
		cutoff := micros(time.Now().Add(-s.auditMaxAge))
		age := tx.StmtContext(ctx, s.audit.pruneAge)
		for {
			res, err := age.ExecContext(ctx, auditAgeProbe, cutoff)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n < auditAgeProbe {
				return err
			}
		}
	})
}

// oldestCall is the earliest time in rows: calls queued together are in
// the order they ended, not started.
func oldestCall(rows []store.AuditRow) time.Time {
	t := rows[0].Time
	for _, r := range rows[1:] {
		if r.Time.Before(t) {
			t = r.Time
		}
	}
	return t
}

// appendAuditChunk appends rows to b as the JSON array audit_chunk.calls
// holds: one [time, caller, integration, method, path, status, duration]
// array per call, time in µs since the epoch and duration in ns.
func appendAuditChunk(b []byte, rows []store.AuditRow) []byte {
	b = append(b, '[')
	for i, r := range rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = strconv.AppendInt(b, micros(r.Time), 10)
		for _, s := range [...]string{r.Caller, r.Integration, r.Method, r.Path} {
			b = append(b, ',')
			b = appendJSONString(b, s)
		}
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(r.Status), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(r.Duration), 10)
		b = append(b, ']')
	}
	return append(b, ']')
}

// appendJSONString appends s as a JSON string, as encoding/json writes it
// but for HTML characters, which it leaves alone: invalid UTF-8 becomes
// U+FFFD, control characters and U+2028/U+2029 are escaped.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// ListAudit returns up to limit rows, newest first.
func (s *Store) ListAudit(ctx context.Context, limit int) ([]store.AuditRow, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT calls FROM audit_chunk ORDER BY seq DESC`)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var out []store.AuditRow
	for len(out) < limit && rows.Next() {
		var calls string
		if err := rows.Scan(&calls); err != nil {
			return nil, wrap(err)
		}
		chunk, err := parseAuditChunk(calls)
		if err != nil {
			return nil, err
		}
		for i := len(chunk) - 1; i >= 0 && len(out) < limit; i-- {
			out = append(out, chunk[i])
		}
	}
	return out, wrap(rows.Err())
}

// parseAuditChunk reads what appendAuditChunk wrote.
func parseAuditChunk(calls string) ([]store.AuditRow, error) {
	var arr [][7]json.RawMessage
	if err := json.Unmarshal([]byte(calls), &arr); err != nil {
		return nil, fmt.Errorf("sqlitestore: an audit chunk does not decode: %w", err)
	}
	out := make([]store.AuditRow, len(arr))
	for i, a := range arr {
		var t, d int64
		r := &out[i]
		for j, dst := range []any{&t, &r.Caller, &r.Integration, &r.Method, &r.Path, &r.Status, &d} {
			if err := json.Unmarshal(a[j], dst); err != nil {
				return nil, fmt.Errorf("sqlitestore: an audit chunk does not decode: %w", err)
			}
		}
		r.Time, r.Duration = fromMicros(t), time.Duration(d)
	}
	return out, nil
}
