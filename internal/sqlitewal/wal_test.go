package sqlitewal

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
)

// Switching a new database to WAL mode while another process holds its
// write lock (a second first start, half-way through its migration) makes
// SQLite answer SQLITE_BUSY at once, without waiting: Enable steps back and
// tries again instead of failing (CI once failed so).
func TestEnableRetriesADeadlock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latchkey.db")
	file := "file:" + path
	other, err := sql.Open("sqlite", file+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ctx := context.Background()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range []string{"CREATE TABLE t (x)", "BEGIN IMMEDIATE", "INSERT INTO t VALUES (1)"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	busy := 0
	err = Enable(file, func() {
		if busy++; busy == 1 {
			if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
				t.Error(err)
			}
		}
	})
	if err != nil {
		t.Fatalf("enableWAL: %v", err)
	}
	if busy == 0 {
		t.Fatal("the switch never met the other process's lock: the test proves nothing")
	}
	fresh, err := sql.Open("sqlite", file)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	var mode string
	if err := fresh.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal mode %q %v", mode, err)
	}
}

// A database that cannot use WAL keeps its mode, and Enable lets it: the
// store then works with its rollback journal, as it did before Enable.
func TestEnableKeepsAModeItCannotChange(t *testing.T) {
	if err := Enable("file::memory:", nil); err != nil {
		t.Fatalf("an in-memory database (no WAL possible): %v", err)
	}
}
