-- The service's users and the web app's sessions, shared by every instance on the database: a
-- token granted once works on each, and a session begun on one is valid on another.

-- The lines of users.jsonl (grants and revocations, each with who and when), in order.
CREATE TABLE finsam_users (
    seq  bigserial PRIMARY KEY,
    line text      NOT NULL
);

-- Each session's begin line (the SHA-256 of its id, never the id itself), and whether it ended.
CREATE TABLE finsam_sessions (
    id_sha256 text    PRIMARY KEY CHECK (length(id_sha256) = 64),
    line      text    NOT NULL,
    started   bigint  NOT NULL,
    ended     boolean NOT NULL DEFAULT false
);
