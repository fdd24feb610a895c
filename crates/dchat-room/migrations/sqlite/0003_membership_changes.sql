-- Every join and leave, numbered in commit order (one writer per file; AUTOINCREMENT never
-- reuses a number, even after the oldest rows are trimmed), for the processes that follow
-- membership: they read the changes after the last one they applied.
CREATE TABLE membership_changes (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id  TEXT NOT NULL,
    user_id  TEXT NOT NULL,
    member   INTEGER NOT NULL,
    at_ms    INTEGER NOT NULL
) STRICT;
