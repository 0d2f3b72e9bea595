-- Deliveries the vendor's backend controls (issue 24): per-endpoint limits and a pause.
--
-- `rate_limit`: at most this many messages a second to the endpoint (NULL: no limit of its own).
-- `max_in_flight`: at most this many messages in flight to it at once, so one slow endpoint
-- cannot take every delivery slot from the others.
-- `paused_until`: Unix seconds before which nothing is sent to it: the endpoint answered `429`
-- or `503` with `Retry-After` (capped at the retry schedule's longest wait). NULL: not paused.
ALTER TABLE notify_endpoints ADD COLUMN rate_limit BIGINT;
ALTER TABLE notify_endpoints ADD COLUMN max_in_flight BIGINT NOT NULL DEFAULT 16;
ALTER TABLE notify_endpoints ADD COLUMN paused_until BIGINT;

-- The worker claims each endpoint's due messages apart (up to that endpoint's room), and
-- recover finds an endpoint's failed messages since a time.
CREATE INDEX notify_messages_due_by_endpoint ON notify_messages (endpoint_id, next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX notify_messages_failed_by_endpoint ON notify_messages (endpoint_id, created_at)
    WHERE status = 'failed';
