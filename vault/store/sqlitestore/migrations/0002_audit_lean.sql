-- The audit table gets one row per proxied request, so each row should cost
-- as little as it can. Two b-tree writes per row go:
--  * AUTOINCREMENT (a sqlite_sequence update per row): ids only order the
--    rows, and a plain rowid is still one more than the largest kept, so a
--    new row always sorts after every kept one;
--  * the index on time: age pruning now walks the oldest rows by id.
CREATE TABLE audit_lean (
	id          INTEGER PRIMARY KEY,
	time        INTEGER NOT NULL,
	caller      TEXT    NOT NULL,
	integration TEXT    NOT NULL,
	method      TEXT    NOT NULL,
	path        TEXT    NOT NULL,
	status      INTEGER NOT NULL,
	duration    INTEGER NOT NULL
) STRICT;
INSERT INTO audit_lean (id, time, caller, integration, method, path, status, duration)
	SELECT id, time, caller, integration, method, path, status, duration FROM audit;
DROP TABLE audit;
ALTER TABLE audit_lean RENAME TO audit;
