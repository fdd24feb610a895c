-- Every join and leave, numbered for the processes that follow membership: they read the
-- changes after the last one they applied. Numbers come from one counter row, updated in
-- the transaction of the change and so locked until it commits: consecutive, and
-- committed in order, whichever replica made them (a sequence would be neither).
CREATE TABLE membership_counter (
    only_row  BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
    seq       BIGINT NOT NULL
);
INSERT INTO membership_counter (only_row, seq) VALUES (TRUE, 0);

CREATE TABLE membership_changes (
    seq      BIGINT PRIMARY KEY,
    room_id  TEXT NOT NULL,
    user_id  TEXT NOT NULL,
    member   BOOLEAN NOT NULL,
    at_ms    BIGINT NOT NULL
);
