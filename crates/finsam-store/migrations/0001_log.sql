-- finsam's log in PostgreSQL: the same canonical lines as log.jsonl, one row per line, and the
-- head they lead to. Appends lock the head's row until they commit, so seqs are gapless and
-- committed in order: no reader can see seq N+1 before seq N.

CREATE TABLE finsam_log (
    seq     bigint PRIMARY KEY CHECK (seq >= 1),
    -- The line exactly as log.jsonl holds it, without its newline.
    line    text   NOT NULL,
    hash    text   NOT NULL CHECK (length(hash) = 64),
    forbund text   NOT NULL
);

-- One row: the last seq and its hash (0 and the genesis hash while the log is empty).
CREATE TABLE finsam_head (
    one  boolean PRIMARY KEY DEFAULT true CHECK (one),
    seq  bigint  NOT NULL,
    hash text    NOT NULL CHECK (length(hash) = 64)
);
INSERT INTO finsam_head (one, seq, hash)
VALUES (true, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Each förbund's idempotency keys: a key stands for one event, whichever instance recorded it.
CREATE TABLE finsam_keys (
    forbund text   NOT NULL,
    key     text   NOT NULL,
    seq     bigint NOT NULL REFERENCES finsam_log (seq),
    PRIMARY KEY (forbund, key)
);

-- The underlag (receipts, invoices, minutes) the log's UnderlagAttached events name, by SHA-256.
CREATE TABLE finsam_underlag (
    sha256 text   PRIMARY KEY CHECK (length(sha256) = 64),
    size   bigint NOT NULL,
    bytes  bytea  NOT NULL
);
