-- Sealed records: ciphertext envelopes and metadata only.
CREATE TABLE records (
	user_id     TEXT    NOT NULL,
	device      TEXT    NOT NULL,
	integration TEXT    NOT NULL,
	key_id      TEXT    NOT NULL,
	envelope    TEXT    NOT NULL,
	version     INTEGER NOT NULL CHECK (version > 0),
	updated_at  INTEGER NOT NULL, -- unix microseconds, UTC
	PRIMARY KEY (user_id, device, integration)
) WITHOUT ROWID;

-- Revocation markers left by an administrator's revoke.
CREATE TABLE revocations (
	user_id      TEXT    NOT NULL,
	device       TEXT    NOT NULL,
	integration  TEXT    NOT NULL,
	last_version INTEGER NOT NULL,
	revoked_at   INTEGER NOT NULL, -- unix microseconds, UTC
	revoked_by   TEXT    NOT NULL,
	PRIMARY KEY (user_id, device, integration)
) WITHOUT ROWID;
