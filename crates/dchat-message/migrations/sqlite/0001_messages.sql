-- Durable messages. Owned by the message service alone.
-- The primary key makes a repeated (room, offset) impossible; the single writer makes
-- offsets in a room consecutive.
CREATE TABLE messages (
    room_id     TEXT NOT NULL,
    msg_offset  INTEGER NOT NULL,
    user_id     TEXT NOT NULL,
    body        TEXT NOT NULL,
    ts_ms       INTEGER NOT NULL,
    -- The sender's idempotency key; NULL when the append had none.
    idem_key    TEXT,
    PRIMARY KEY (room_id, msg_offset)
) STRICT, WITHOUT ROWID;

CREATE UNIQUE INDEX messages_by_idempotency_key
    ON messages (room_id, user_id, idem_key) WHERE idem_key IS NOT NULL;
