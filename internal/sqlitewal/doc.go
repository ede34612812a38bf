// Package sqlitewal owns one step of opening a SQLite database that several
// connections or processes may open for the first time at once: putting it
// in WAL mode without failing on the lock race that switch can lose.
package sqlitewal
