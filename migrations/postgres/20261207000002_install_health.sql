-- Install health (the checker, issue 22): why an install needs attention, a refresh whose answer
-- was never read, and one row of check state per install. See the SQLite twin for the columns.
ALTER TABLE installs ADD COLUMN attention_reason TEXT;
ALTER TABLE installs ADD COLUMN refresh_in_flight TEXT;

CREATE TABLE install_health (
    install_id           TEXT   PRIMARY KEY NOT NULL REFERENCES installs (id) ON DELETE CASCADE,
    state                TEXT   NOT NULL DEFAULT 'unknown',
    checked_at           BIGINT,
    last_ok_at           BIGINT,
    consecutive_failures BIGINT NOT NULL DEFAULT 0,
    last_error           TEXT,
    next_check_at        BIGINT,
    claim_until          BIGINT,
    parked               BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX install_health_due ON install_health (next_check_at);
CREATE INDEX install_health_unscheduled ON install_health (install_id)
    WHERE next_check_at IS NULL AND parked = 0;
CREATE INDEX install_health_by_state ON install_health (state);

-- Installs that are not active are not checked until installed again (those needing attention
-- before reasons were kept have none that heals).
INSERT INTO install_health (install_id, parked)
    SELECT id, CASE WHEN status = 'active' THEN 0 ELSE 1 END FROM installs;
