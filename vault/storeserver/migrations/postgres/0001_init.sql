-- Sealed records: ciphertext envelopes and metadata only.
CREATE TABLE records (
	user_id     TEXT        NOT NULL,
	device      TEXT        NOT NULL,
	integration TEXT        NOT NULL,
	key_id      TEXT        NOT NULL,
	envelope    TEXT        NOT NULL,
	version     BIGINT      NOT NULL CHECK (version > 0),
	updated_at  TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (user_id, device, integration)
);

-- Revocation markers left by an administrator's revoke.
CREATE TABLE revocations (
	user_id      TEXT        NOT NULL,
	device       TEXT        NOT NULL,
	integration  TEXT        NOT NULL,
	last_version BIGINT      NOT NULL,
	revoked_at   TIMESTAMPTZ NOT NULL,
	revoked_by   TEXT        NOT NULL,
	PRIMARY KEY (user_id, device, integration)
);
