-- A wake-up hint that a user was added or revoked: each instance brings its copy of the users up
-- to date at once instead of at its next look (every half second), so a revocation counts on
-- every instance within milliseconds.
CREATE FUNCTION finsam_notify_users() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('finsam_users', NEW.seq::text);
    RETURN NEW;
END;
$$;

CREATE TRIGGER finsam_users_changed AFTER INSERT ON finsam_users
    FOR EACH ROW EXECUTE FUNCTION finsam_notify_users();
