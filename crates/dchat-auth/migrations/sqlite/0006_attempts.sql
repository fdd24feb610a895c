-- Failed logins and registrations per key (an address, an account, an account from an
-- address): the theoretical arrival time of the next attempt under the key's rate (GCRA),
-- kept where every gateway's attempts meet.
CREATE TABLE attempts (
    key     TEXT PRIMARY KEY NOT NULL,
    tat_ms  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
