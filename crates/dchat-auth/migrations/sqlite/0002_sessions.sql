-- Sessions slide: a token also ends after a stretch without use. `expires_ms` stays the
-- hard end (sign-in plus the longest a session may last); `last_used_ms` moves with use.
ALTER TABLE tokens ADD COLUMN last_used_ms INTEGER NOT NULL DEFAULT 0;
UPDATE tokens SET last_used_ms = created_ms;
