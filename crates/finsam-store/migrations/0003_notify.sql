-- A wake-up hint for the other instances: every commit that moves the head notifies the channel
-- finsam_log with the new head's seq (delivered at commit, never for a rolled-back write). An
-- instance that hears it looks at the log at once; it does not trust it otherwise — its copy's
-- head is its cursor, and it also looks every second.
CREATE FUNCTION finsam_notify_head() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('finsam_log', NEW.seq::text);
    RETURN NEW;
END;
$$;

CREATE TRIGGER finsam_head_moved AFTER UPDATE ON finsam_head
    FOR EACH ROW EXECUTE FUNCTION finsam_notify_head();
