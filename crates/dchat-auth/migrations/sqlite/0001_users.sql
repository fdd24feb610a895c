-- Accounts and tokens. Owned by the auth service alone.
CREATE TABLE users (
    user_id        TEXT PRIMARY KEY NOT NULL,
    -- Lowercased; NULL when the account was registered by username only.
    email          TEXT UNIQUE,
    -- Lowercased; NULL when the account was registered by email only.
    username       TEXT UNIQUE,
    display_name   TEXT NOT NULL,
    -- A PHC string ($argon2id$...): never the password itself.
    password_hash  TEXT NOT NULL,
    created_ms     INTEGER NOT NULL
) STRICT;

-- Only a SHA-256 of each token is kept, so a copy of this file grants no sessions.
CREATE TABLE tokens (
    token_hash  BLOB PRIMARY KEY NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    created_ms  INTEGER NOT NULL,
    expires_ms  INTEGER NOT NULL,
    revoked_ms  INTEGER
) STRICT, WITHOUT ROWID;

CREATE INDEX tokens_by_expiry ON tokens (expires_ms);
