package sqlitewal

import (
	"database/sql"
	"errors"
	"time"

	"modernc.org/sqlite" // also registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"
)

// Wait bounds how long Enable retries the switch.
const Wait = 5 * time.Second

// Enable puts the database named by the "file:" URI file (without query) in
// WAL mode, which then persists in the file. Set journal_mode(WAL) in a DSN
// for the connections opened after it, and it only checks. Where SQLite
// cannot use WAL (a file system without shared memory), it keeps the file's
// mode, Enable returns nil and the database works in that mode, with less
// concurrency.
//
// Switching a new file from its rollback journal to WAL needs an exclusive
// lock. When two processes (or two connections of one pool) open the same
// new file at once, each can hold the shared lock the other waits on, and
// SQLite then answers one of them SQLITE_BUSY at once, without its busy
// handler. Enable steps back (its connection is closed, so its shared lock
// goes) and tries again, for up to Wait. onBusy, when set, is called at each
// such step back.
func Enable(file string, onBusy func()) error {
	db, err := sql.Open("sqlite", file+"?_pragma=busy_timeout(5000)")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxIdleConns(0) // every try starts from a fresh connection
	deadline := time.Now().Add(Wait)
	for pause := time.Millisecond; ; pause = min(2*pause, 50*time.Millisecond) {
		var mode string
		err := db.QueryRow("PRAGMA journal_mode=WAL").Scan(&mode)
		if err == nil || !IsBusy(err) || time.Now().After(deadline) {
			return err
		}
		if onBusy != nil {
			onBusy()
		}
		time.Sleep(pause)
	}
}

// IsBusy reports whether err is SQLite's SQLITE_BUSY (any extended code).
func IsBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}
