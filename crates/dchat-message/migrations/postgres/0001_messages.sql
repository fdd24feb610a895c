-- Durable messages, in the message service's own schema, shared by its replicas.
-- The primary key makes a repeated (room, offset) impossible; the head row of each room,
-- locked from the read of the head to the commit, makes offsets consecutive and commit
-- order offset order, whichever replica appends.
CREATE TABLE messages (
    room_id     TEXT NOT NULL,
    msg_offset  BIGINT NOT NULL,
    user_id     TEXT NOT NULL,
    body        TEXT NOT NULL,
    ts_ms       BIGINT NOT NULL,
    -- The sender's idempotency key; NULL when the append had none.
    idem_key    TEXT,
    PRIMARY KEY (room_id, msg_offset)
);

CREATE UNIQUE INDEX messages_by_idempotency_key
    ON messages (room_id, user_id, idem_key) WHERE idem_key IS NOT NULL;

-- The highest offset committed in each room. Updated in place on every batch: room for
-- the new row version on the same page keeps those updates HOT.
CREATE TABLE room_heads (
    room_id  TEXT PRIMARY KEY,
    head     BIGINT NOT NULL
) WITH (fillfactor = 50);
