-- Order notifications received from Maropost (POST /webhooks/maropost/{install_id}).
--
-- One row per (install, EventID): Maropost retries a notification it thinks undelivered, and a
-- retry carries the same EventID, so the unique constraint makes a repeat a no-op
-- (INSERT ... ON CONFLICT DO NOTHING) instead of a second row.
--
-- `id` only grows, so it orders rows by arrival and serves as the keyset cursor of the console's
-- lists (newest first). Each list filter has an index that ends in `id`, so a filtered page is
-- read straight from its index in order.
CREATE TABLE events (
    id           INTEGER PRIMARY KEY,
    install_id   TEXT NOT NULL REFERENCES installs (id) ON DELETE CASCADE,
    event_id     TEXT NOT NULL,    -- <EventID>, digits
    event_type   TEXT NOT NULL,    -- <EventType>, e.g. Order
    sent_time    TEXT,             -- <CurrentTime> as Maropost wrote it (store time, no zone)
    order_id     TEXT,             -- <Order><OrderID>
    order_status TEXT,             -- <Order><OrderStatus>, one of the documented statuses
    received_at  INTEGER NOT NULL, -- Unix seconds
    raw_body     TEXT NOT NULL,    -- the document as received (UTF-8, at most 256 KiB)
    UNIQUE (install_id, event_id)
);
CREATE INDEX events_install ON events (install_id, id);
CREATE INDEX events_order ON events (order_id, id);
CREATE INDEX events_status ON events (order_status, id);
CREATE INDEX events_received ON events (received_at);
