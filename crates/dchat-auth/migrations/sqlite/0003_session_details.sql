-- What a user sees of their sessions: a public id (never the token or its digest), the
-- browser or program that signed in, and from where.
ALTER TABLE tokens ADD COLUMN session_id TEXT;
ALTER TABLE tokens ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN address TEXT NOT NULL DEFAULT '';
UPDATE tokens SET session_id = lower(hex(randomblob(12))) WHERE session_id IS NULL;
CREATE UNIQUE INDEX tokens_by_session_id ON tokens (session_id);
CREATE INDEX tokens_by_user ON tokens (user_id);
