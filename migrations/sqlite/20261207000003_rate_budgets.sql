-- Rate budgets shared by every instance on one database (issue 23). On PostgreSQL each budget
-- (an install's API, per endpoint group; a client id's token requests) is one row, updated under
-- its row lock by whichever instance makes a call. On SQLite (one instance) budgets live in
-- memory and this table stays empty: it exists so the two schemas stay the same.
--
-- Times are microseconds since the Unix epoch: `tat` is when the next call may go (GCRA's
-- theoretical arrival time), `blocked_until` until when the platform said to stop, `turns` a JSON
-- array of the moments held for callers who were refused (and told to come back then).
-- `slowed_at` (Unix seconds) and `slowed_status` say when and how the platform last said to slow
-- down, for the install's page.
CREATE TABLE rate_budgets (
    key           TEXT    PRIMARY KEY NOT NULL,
    tat           INTEGER NOT NULL DEFAULT 0,
    blocked_until INTEGER NOT NULL DEFAULT 0,
    turns         TEXT    NOT NULL DEFAULT '[]',
    slowed_at     INTEGER,
    slowed_status INTEGER
);
