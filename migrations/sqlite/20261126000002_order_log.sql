-- Order events announce themselves from the `events` table: it is the log the delivery worker
-- reads. Each endpoint remembers the last event id it has had messages made for; the worker makes
-- the messages of the events past it (in its own transaction, together with moving the cursor),
-- so the webhook writer's group commit writes only the events themselves.
--
-- Existing endpoints already had a message queued with every event stored so far (the writer used
-- to queue them in the event's transaction): they start past the last event.
ALTER TABLE notify_endpoints ADD COLUMN events_cursor INTEGER NOT NULL DEFAULT 0;
UPDATE notify_endpoints SET events_cursor = (SELECT COALESCE(MAX(id), 0) FROM events);
