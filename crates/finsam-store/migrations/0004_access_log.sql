-- Each service instance's access log (who asked what, and the answer), the same lines as the
-- instance's access.jsonl: one hash chain per instance, in seq order. An instance copies its new
-- lines here about every second, so the record outlives the machine it ran on.
CREATE TABLE finsam_access (
    instance text   NOT NULL,
    seq      bigint NOT NULL CHECK (seq > 0),
    line     text   NOT NULL,
    PRIMARY KEY (instance, seq)
);
