-- A row per proxied call cost the daemon about 3 µs of SQLite work per call,
-- a tenth of what proxying the call costs. The calls a transaction appends
-- are now kept together, up to 64 to a row of audit_chunk, as a JSON array of
-- [time, caller, integration, method, path, status, duration] arrays:
--  * seq is the sequence number of the chunk's first call, and its calls
--    number seq, seq+1, … seq+n-1; the next chunk starts at seq+n;
--  * first_time is the time of its oldest call (µs), for age pruning.
-- The view audit shows one row per call, with the columns the table had,
-- for anyone reading the trail with sqlite3.
CREATE TABLE audit_chunk (
	seq        INTEGER PRIMARY KEY,
	n          INTEGER NOT NULL,
	first_time INTEGER NOT NULL,
	calls      TEXT    NOT NULL
) STRICT;
INSERT INTO audit_chunk (seq, n, first_time, calls)
	SELECT id, 1, time, json_array(json_array(time, caller, integration, method, path, status, duration))
	FROM audit ORDER BY id;
DROP TABLE audit;
CREATE VIEW audit (seq, time, caller, integration, method, path, status, duration) AS
	SELECT c.seq + j.key, j.value ->> 0, j.value ->> 1, j.value ->> 2, j.value ->> 3,
		j.value ->> 4, j.value ->> 5, j.value ->> 6
	FROM audit_chunk AS c, json_each(c.calls) AS j;
