-- Rooms and who is in them, in the room service's own schema.
CREATE TABLE rooms (
    room_id     TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_by  TEXT,
    created_ms  BIGINT NOT NULL
);

-- Room ids are compared without regard to case when a room is created: `General` may not
-- be made beside `general`, whichever replica is asked.
CREATE UNIQUE INDEX rooms_by_folded_id ON rooms (lower(room_id));

CREATE TABLE members (
    room_id    TEXT NOT NULL REFERENCES rooms (room_id),
    user_id    TEXT NOT NULL,
    joined_ms  BIGINT NOT NULL,
    PRIMARY KEY (room_id, user_id)
);

CREATE INDEX members_by_user ON members (user_id, room_id);

-- Every user joins this room at registration, so it exists from the first start.
INSERT INTO rooms (room_id, name, created_by, created_ms)
VALUES ('general', 'General Chat', NULL, (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT);
