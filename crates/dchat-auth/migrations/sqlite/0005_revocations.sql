-- Every revoked token's digest, numbered in commit order (one writer per file;
-- AUTOINCREMENT never reuses a number, even after the oldest rows are trimmed), for the
-- processes that close revoked tokens' connections: they read the revocations after the
-- last one they applied.
CREATE TABLE revocations (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash  BLOB NOT NULL
) STRICT;
