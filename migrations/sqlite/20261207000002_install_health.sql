-- Install health (the checker, issue 22): why an install needs attention, a refresh whose answer
-- was never read, and one row of check state per install.
--
-- `attention_reason` says why a `needs_attention` install is so (refresh_rejected,
-- credentials_rejected, rotation_lost, client_rejected); NULL otherwise.
-- `refresh_in_flight` holds the SHA-256 of a refresh token sent to the platform whose answer
-- never arrived (a timeout after sending): if the platform then refuses that same refresh token,
-- it had rotated it (rotation_lost), rather than the merchant having revoked access.
ALTER TABLE installs ADD COLUMN attention_reason TEXT;
ALTER TABLE installs ADD COLUMN refresh_in_flight TEXT;

-- Kept apart from `installs`, so a check (every install, every few hours) rewrites a small row and
-- never touches `updated_at`, the console's order or the search triggers. `next_check_at` is NULL
-- until the checker schedules the install (a random moment within the interval, so checks spread
-- evenly); `claim_until` is a lease: the instance that claimed a check holds it until then, and
-- if it dies mid-check another instance checks the install once the lease has run out.
-- `parked` is 1 for an install that is no longer checked (revoked, or needing attention for a
-- reason that does not heal) until it is installed again: the checker passes over it without
-- reading it each round.
CREATE TABLE install_health (
    install_id           TEXT    PRIMARY KEY NOT NULL REFERENCES installs (id) ON DELETE CASCADE,
    state                TEXT    NOT NULL DEFAULT 'unknown',
    checked_at           INTEGER,
    last_ok_at           INTEGER,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    last_error           TEXT,
    next_check_at        INTEGER,
    claim_until          INTEGER,
    parked               INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX install_health_due ON install_health (next_check_at);
CREATE INDEX install_health_unscheduled ON install_health (install_id)
    WHERE next_check_at IS NULL AND parked = 0;
CREATE INDEX install_health_by_state ON install_health (state);

-- Installs that are not active are not checked until installed again (those needing attention
-- before reasons were kept have none that heals).
INSERT INTO install_health (install_id, parked)
    SELECT id, CASE WHEN status = 'active' THEN 0 ELSE 1 END FROM installs;
