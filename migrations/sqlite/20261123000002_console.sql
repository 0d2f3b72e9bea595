-- The operator console: operators, login throttling, and what the connected-stores page needs to
-- stay fast at 100,000 installs.

CREATE TABLE operators (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT NOT NULL UNIQUE,   -- stored lower-cased
    password_hash TEXT NOT NULL,          -- argon2id, PHC string
    created_at    INTEGER NOT NULL,
    last_login_at INTEGER
);

-- Failed logins, counted per account ("account:<email>", whether or not it exists, so a lockout
-- does not reveal which emails are operators) and per client address ("client:<ip>").
CREATE TABLE login_throttle (
    subject          TEXT PRIMARY KEY,
    failures         INTEGER NOT NULL,
    last_failure_at  INTEGER NOT NULL,
    locked_until     INTEGER NOT NULL DEFAULT 0
);

-- The stores list is ordered by last change, newest first, and filtered by provider and status;
-- each index serves one filter with the order, so the first page reads 50 rows, not 100,000.
CREATE INDEX installs_by_change ON installs (updated_at DESC, id DESC);
CREATE INDEX installs_by_status ON installs (status, updated_at DESC, id DESC);
CREATE INDEX installs_by_provider ON installs (provider, status, updated_at DESC, id DESC);

-- Search by any part of the domain or name: a trigram index, kept in step by triggers.
CREATE VIRTUAL TABLE installs_search USING fts5 (
    store_domain, store_name,
    content = 'installs', content_rowid = 'rowid', tokenize = 'trigram'
);
INSERT INTO installs_search (rowid, store_domain, store_name)
    SELECT rowid, store_domain, store_name FROM installs;
CREATE TRIGGER installs_search_insert AFTER INSERT ON installs BEGIN
    INSERT INTO installs_search (rowid, store_domain, store_name)
        VALUES (new.rowid, new.store_domain, new.store_name);
END;
CREATE TRIGGER installs_search_delete AFTER DELETE ON installs BEGIN
    INSERT INTO installs_search (installs_search, rowid, store_domain, store_name)
        VALUES ('delete', old.rowid, old.store_domain, old.store_name);
END;
CREATE TRIGGER installs_search_update AFTER UPDATE OF store_domain, store_name ON installs BEGIN
    INSERT INTO installs_search (installs_search, rowid, store_domain, store_name)
        VALUES ('delete', old.rowid, old.store_domain, old.store_name);
    INSERT INTO installs_search (rowid, store_domain, store_name)
        VALUES (new.rowid, new.store_domain, new.store_name);
END;

-- The audit page filters by action as well as by install.
CREATE INDEX audit_log_action ON audit_log (action, id);
