-- Version 1 of the SQLite schema.

-- One row per import, whatever its outcome: the history and the "what changed" record.
CREATE TABLE imports (
    id            INTEGER PRIMARY KEY,
    session_id    TEXT    NOT NULL UNIQUE,
    file_name     TEXT    NOT NULL,
    file_size     INTEGER NOT NULL,
    scan_date     TEXT    NOT NULL,
    scope         TEXT    NOT NULL,
    started_by    TEXT    NOT NULL,
    started_at    TEXT    NOT NULL,
    finished_at   TEXT,
    outcome       TEXT    NOT NULL,   -- running | completed | failed | cancelled | interrupted
    error         TEXT,
    format        TEXT,
    encoding      TEXT,
    backfill      INTEGER NOT NULL DEFAULT 0,
    rows          INTEGER NOT NULL DEFAULT 0,
    records       INTEGER NOT NULL DEFAULT 0,
    rejected      INTEGER NOT NULL DEFAULT 0,
    duplicates    INTEGER NOT NULL DEFAULT 0,
    new           INTEGER NOT NULL DEFAULT 0,
    updated       INTEGER NOT NULL DEFAULT 0,
    reopened      INTEGER NOT NULL DEFAULT 0,
    resolved      INTEGER NOT NULL DEFAULT 0,
    warnings      INTEGER NOT NULL DEFAULT 0,
    timings       TEXT    NOT NULL DEFAULT '{}',  -- JSON: milliseconds per phase
    problems      TEXT    NOT NULL DEFAULT '{}',  -- JSON: first rejected rows and warnings, with lines
    added_from_id INTEGER,                        -- findings this import added: ids in
    added_to_id   INTEGER                         -- added_from_id..=added_to_id
);
CREATE INDEX imports_outcome_scan_date ON imports (outcome, scan_date);

-- The descriptive text of a vulnerability definition, stored once per distinct content.
CREATE TABLE definitions (
    hash        BLOB PRIMARY KEY,
    plugin_id   TEXT,
    title       TEXT,
    description TEXT,
    solution    TEXT,
    family      TEXT,
    published   TEXT
) WITHOUT ROWID;

-- One vulnerability on one asset, with its lifecycle.
CREATE TABLE findings (
    id             INTEGER PRIMARY KEY,
    key_hash       BLOB    NOT NULL UNIQUE,  -- xxh3-128 of the deduplication key
    tier           INTEGER NOT NULL,         -- the key's rule (import-semantics §2)
    asset_id       TEXT,
    hostname       TEXT,
    ip             TEXT,
    cve            TEXT,
    plugin_id      TEXT,
    definition     BLOB    NOT NULL REFERENCES definitions (hash),
    severity       TEXT    NOT NULL,
    vpr            REAL,
    cvss           REAL,
    port           INTEGER,
    protocol       TEXT,
    os             TEXT,
    state          TEXT    NOT NULL,  -- active | resolved | reopened
    first_seen     TEXT    NOT NULL,
    last_seen      TEXT    NOT NULL,
    resolved_date  TEXT,
    last_import_id INTEGER NOT NULL,  -- the newest regular import that contained it
    -- The key's host: asset id, else IP, else hostname. Computed, not stored.
    host           TEXT GENERATED ALWAYS AS (coalesce(asset_id, ip, hostname)) VIRTUAL
);

-- State transitions caused by an import (additions are the id range on `imports`).
CREATE TABLE import_changes (
    import_id  INTEGER NOT NULL REFERENCES imports (id),
    change     TEXT    NOT NULL,  -- resolved | reopened
    finding_id INTEGER NOT NULL REFERENCES findings (id),
    PRIMARY KEY (import_id, change, finding_id)
) WITHOUT ROWID;

-- Resolved findings only: finds the ones an import reopens without a lookup per staged record
-- into the whole table.
CREATE INDEX findings_resolved ON findings (key_hash) WHERE state = 'resolved';
