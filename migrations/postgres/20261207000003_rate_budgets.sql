-- Rate budgets shared by every instance on one database (issue 23). See the SQLite twin for the
-- columns; here every instance's calls update the rows (microseconds since the Unix epoch).
CREATE TABLE rate_budgets (
    key           TEXT   PRIMARY KEY NOT NULL,
    tat           BIGINT NOT NULL DEFAULT 0,
    blocked_until BIGINT NOT NULL DEFAULT 0,
    turns         TEXT   NOT NULL DEFAULT '[]',
    slowed_at     BIGINT,
    slowed_status BIGINT
);
