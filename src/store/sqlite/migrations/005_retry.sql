-- Version 5 of the SQLite schema: an import started again from the kept upload of one that did
-- not complete names the import it retries (its session id).

ALTER TABLE imports ADD COLUMN retry_of TEXT;
