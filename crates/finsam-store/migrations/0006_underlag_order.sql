-- The underlag in the order they were kept, so that each instance fetches the ones it lacks
-- (kept through another instance) by a cursor instead of listing them all.
ALTER TABLE finsam_underlag ADD COLUMN seq bigserial;
CREATE UNIQUE INDEX finsam_underlag_seq ON finsam_underlag (seq);
