-- Every revoked token's digest, numbered for the processes that close revoked tokens'
-- connections: they read the revocations after the last one they applied. Numbers come
-- from one counter row, updated in the transaction of the revocation and so locked until
-- it commits: consecutive, and committed in order, whichever replica made them.
CREATE TABLE revocation_counter (
    only_row  BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
    seq       BIGINT NOT NULL
);
INSERT INTO revocation_counter (only_row, seq) VALUES (TRUE, 0);

CREATE TABLE revocations (
    seq         BIGINT PRIMARY KEY,
    token_hash  BYTEA NOT NULL
);
