-- Room ids are compared without regard to case when a room is created: `General` may not
-- be made beside `general`. An index rather than a unique constraint, so that a database
-- that already holds two such rooms (made before this rule) still opens; the insert
-- checks it in the same statement.
CREATE INDEX rooms_by_folded_id ON rooms (room_id COLLATE NOCASE);
