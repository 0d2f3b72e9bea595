-- How many installs each platform has in each status, kept by triggers as installs are added,
-- change status or go. The console shows these counts on every page and /metrics exports them;
-- counting 100,000 rows for each was most of a page's time (on PostgreSQL, which has no
-- index-only COUNT until a vacuum has run, all of it). A table rebuild of `installs` must create
-- these triggers again.
CREATE TABLE install_counts (
    provider TEXT    NOT NULL,
    status   TEXT    NOT NULL,
    n        INTEGER NOT NULL,
    PRIMARY KEY (provider, status)
);

INSERT INTO install_counts (provider, status, n)
SELECT provider, status, COUNT(*) FROM installs GROUP BY provider, status;

CREATE TRIGGER installs_counted_on_insert AFTER INSERT ON installs
BEGIN
    INSERT OR IGNORE INTO install_counts (provider, status, n) VALUES (new.provider, new.status, 0);
    UPDATE install_counts SET n = n + 1 WHERE provider = new.provider AND status = new.status;
END;

CREATE TRIGGER installs_counted_on_delete AFTER DELETE ON installs
BEGIN
    UPDATE install_counts SET n = n - 1 WHERE provider = old.provider AND status = old.status;
END;

CREATE TRIGGER installs_counted_on_update AFTER UPDATE OF provider, status ON installs
WHEN old.provider IS NOT new.provider OR old.status IS NOT new.status
BEGIN
    UPDATE install_counts SET n = n - 1 WHERE provider = old.provider AND status = old.status;
    INSERT OR IGNORE INTO install_counts (provider, status, n) VALUES (new.provider, new.status, 0);
    UPDATE install_counts SET n = n + 1 WHERE provider = new.provider AND status = new.status;
END;
