-- Order events announce themselves from the `events` table (see the SQLite migration of the same
-- number and migrations/README.md): each endpoint remembers the last event id it has had
-- messages made for.
ALTER TABLE notify_endpoints ADD COLUMN events_cursor BIGINT NOT NULL DEFAULT 0;
UPDATE notify_endpoints SET events_cursor = (SELECT COALESCE(MAX(id), 0) FROM events);
