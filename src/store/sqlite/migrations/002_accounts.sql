-- Version 2: accounts, their API tokens and web sessions; who cancelled an import.

-- Ids are never reused (AUTOINCREMENT): a new account must not inherit a removed one's imports.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    role          TEXT    NOT NULL,   -- admin | analyst | viewer
    password_hash TEXT    NOT NULL,   -- argon2id, PHC string
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT    NOT NULL
);

-- Secrets are never stored: a token's secret and a session id are kept as the SHA-256 of their
-- random value.
CREATE TABLE api_tokens (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       INTEGER NOT NULL REFERENCES users (id),
    name          TEXT    NOT NULL,
    secret_digest BLOB    NOT NULL,
    created_at    TEXT    NOT NULL,
    last_used_at  TEXT,
    expires_at    TEXT
);

CREATE TABLE web_sessions (
    id_digest    BLOB    PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id),
    created_at   TEXT    NOT NULL,
    last_seen_at TEXT    NOT NULL
) WITHOUT ROWID;
CREATE INDEX web_sessions_user ON web_sessions (user_id);

-- `started_by` names the account (or `cli` for a local command-line import).
ALTER TABLE imports ADD COLUMN cancelled_by TEXT;
