-- Failed logins and registrations per key (an address, an account, an account from an
-- address): the theoretical arrival time of the next attempt under the key's rate (GCRA),
-- kept where every gateway's and every auth replica's attempts meet.
CREATE TABLE attempts (
    key     TEXT PRIMARY KEY,
    tat_ms  BIGINT NOT NULL
);
