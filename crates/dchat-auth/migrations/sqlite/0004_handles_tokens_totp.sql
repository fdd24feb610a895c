-- Handles: every account gets a username. Accounts registered by email alone get one
-- derived from the address at start (see `AuthService::new`) and may change it once;
-- `username_derived` says they still may.
ALTER TABLE users ADD COLUMN username_derived INTEGER NOT NULL DEFAULT 0;
-- Bots: shown with a badge. A webhook's bot has no password (`password_hash` '!', which no
-- password verifies against) and is never signed in to.
ALTER TABLE users ADD COLUMN bot INTEGER NOT NULL DEFAULT 0;

-- Two-factor sign-in (RFC 6238). `totp_secret` is set at enrolment and only checked once
-- `totp_enabled`; `totp_last_step` refuses a code's second use within its 30 s window.
ALTER TABLE users ADD COLUMN totp_secret BLOB;
ALTER TABLE users ADD COLUMN totp_enabled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0;

-- One-time recovery codes for a lost authenticator, kept as SHA-256 like tokens.
CREATE TABLE recovery_codes (
    user_id    TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    code_hash  BLOB NOT NULL,
    used_ms    INTEGER,
    PRIMARY KEY (user_id, code_hash)
) STRICT, WITHOUT ROWID;

-- Three kinds of bearer secret share the tokens table: sign-in sessions, personal access
-- tokens (named, with the expiry their owner chose, never ended by idleness) and incoming
-- webhooks (a bot's token that posts into one room and opens nothing else).
ALTER TABLE tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'session'
    CHECK (kind IN ('session', 'personal', 'webhook'));
ALTER TABLE tokens ADD COLUMN name TEXT NOT NULL DEFAULT '';
-- Webhooks only: the room they post into and the member who made them.
ALTER TABLE tokens ADD COLUMN room_id TEXT;
ALTER TABLE tokens ADD COLUMN created_by TEXT;
CREATE INDEX tokens_by_room ON tokens (room_id) WHERE room_id IS NOT NULL;
