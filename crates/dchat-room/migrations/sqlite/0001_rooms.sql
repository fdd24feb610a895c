-- Rooms and who is in them. Owned by the room service alone.
CREATE TABLE rooms (
    room_id     TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    created_by  TEXT,
    created_ms  INTEGER NOT NULL
) STRICT;

CREATE TABLE members (
    room_id    TEXT NOT NULL REFERENCES rooms (room_id),
    user_id    TEXT NOT NULL,
    joined_ms  INTEGER NOT NULL,
    PRIMARY KEY (room_id, user_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX members_by_user ON members (user_id, room_id);

-- Every user joins this room at registration, so it exists from the first start.
INSERT INTO rooms (room_id, name, created_by, created_ms)
VALUES ('general', 'General Chat', NULL, CAST(unixepoch('subsec') * 1000 AS INTEGER));
