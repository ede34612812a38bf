-- Times are Unix microseconds (UTC); 0 means "not set"; durations are nanoseconds.

CREATE TABLE records (
	user        TEXT    NOT NULL,
	device      TEXT    NOT NULL,
	integration TEXT    NOT NULL,
	key_id      TEXT    NOT NULL,
	envelope    TEXT    NOT NULL,
	version     INTEGER NOT NULL CHECK (version > 0),
	updated_at  INTEGER NOT NULL,
	PRIMARY KEY (user, device, integration)
) STRICT;

CREATE TABLE outbox (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	op           TEXT    NOT NULL CHECK (op IN ('put', 'delete')),
	user         TEXT    NOT NULL,
	device       TEXT    NOT NULL,
	integration  TEXT    NOT NULL,
	key_id       TEXT    NOT NULL DEFAULT '',
	envelope     TEXT    NOT NULL DEFAULT '',
	version      INTEGER NOT NULL DEFAULT 0,
	updated_at   INTEGER NOT NULL DEFAULT 0,
	attempts     INTEGER NOT NULL DEFAULT 0,
	next_attempt INTEGER NOT NULL,
	last_error   TEXT    NOT NULL DEFAULT '',
	created_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX outbox_key ON outbox (user, device, integration);
CREATE INDEX outbox_next ON outbox (next_attempt, id);

CREATE TABLE connections (
	integration  TEXT    PRIMARY KEY,
	state        TEXT    NOT NULL CHECK (state IN ('connected', 'reconnect_needed', 'disconnected')),
	account_id   TEXT    NOT NULL DEFAULT '',
	username     TEXT    NOT NULL DEFAULT '',
	display_name TEXT    NOT NULL DEFAULT '',
	email        TEXT    NOT NULL DEFAULT '',
	expiry       INTEGER NOT NULL DEFAULT 0,
	reason       TEXT    NOT NULL DEFAULT '',
	updated_at   INTEGER NOT NULL
) STRICT;

CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) STRICT;

CREATE TABLE audit (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	time        INTEGER NOT NULL,
	caller      TEXT    NOT NULL,
	integration TEXT    NOT NULL,
	method      TEXT    NOT NULL,
	path        TEXT    NOT NULL,
	status      INTEGER NOT NULL,
	duration    INTEGER NOT NULL
) STRICT;
CREATE INDEX audit_time ON audit (time);

CREATE TABLE clients (
	id           TEXT    PRIMARY KEY,
	name         TEXT    NOT NULL,
	secret_hash  BLOB    NOT NULL,
	integrations TEXT    NOT NULL, -- JSON array of names
	created_at   INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL DEFAULT 0,
	revoked_at   INTEGER NOT NULL DEFAULT 0
) STRICT;
