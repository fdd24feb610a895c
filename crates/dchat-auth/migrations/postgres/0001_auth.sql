-- Accounts and tokens, in the auth service's own schema. The same data as the SQLite
-- migrations 0001-0004 arrive at; see those for what each column is for.
CREATE TABLE users (
    user_id           TEXT PRIMARY KEY,
    -- Lowercased; NULL when the account was registered by username only.
    email             TEXT UNIQUE,
    -- Lowercased; unique; NULL only for accounts made before usernames were universal.
    username          TEXT UNIQUE,
    username_derived  BOOLEAN NOT NULL DEFAULT FALSE,
    display_name      TEXT NOT NULL,
    bot               BOOLEAN NOT NULL DEFAULT FALSE,
    -- A PHC string ($argon2id$...), or '!' for a bot no password opens.
    password_hash     TEXT NOT NULL,
    created_ms        BIGINT NOT NULL,
    totp_secret       BYTEA,
    totp_enabled      BOOLEAN NOT NULL DEFAULT FALSE,
    totp_last_step    BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE recovery_codes (
    user_id    TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    code_hash  BYTEA NOT NULL,
    used_ms    BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

-- Sessions, personal access tokens and webhooks, kept only as their SHA-256.
CREATE TABLE tokens (
    token_hash    BYTEA PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    kind          TEXT NOT NULL DEFAULT 'session' CHECK (kind IN ('session', 'personal', 'webhook')),
    -- The public id its owner lists and revokes it by.
    session_id    TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL DEFAULT '',
    user_agent    TEXT NOT NULL DEFAULT '',
    address       TEXT NOT NULL DEFAULT '',
    room_id       TEXT,
    created_by    TEXT,
    created_ms    BIGINT NOT NULL,
    expires_ms    BIGINT NOT NULL,
    last_used_ms  BIGINT NOT NULL,
    revoked_ms    BIGINT
);

CREATE INDEX tokens_by_user ON tokens (user_id, kind);
CREATE INDEX tokens_by_expiry ON tokens (expires_ms);
CREATE INDEX tokens_by_room ON tokens (room_id) WHERE room_id IS NOT NULL;
