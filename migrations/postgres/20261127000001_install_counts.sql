-- How many installs each platform has in each status, kept by a trigger as installs are added,
-- change status or go (see the SQLite twin): the console's counts and /metrics read these rows
-- instead of counting every install (a sequential scan on PostgreSQL until a vacuum has set the
-- visibility map). Writers take storelink's write lock first, so the counts rows are not a point
-- of contention between instances.
CREATE TABLE install_counts (
    provider TEXT   NOT NULL,
    status   TEXT   NOT NULL,
    n        BIGINT NOT NULL,
    PRIMARY KEY (provider, status)
);

INSERT INTO install_counts (provider, status, n)
SELECT provider, status, COUNT(*) FROM installs GROUP BY provider, status;

CREATE FUNCTION installs_counted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE install_counts SET n = n - 1
        WHERE provider = OLD.provider AND status = OLD.status;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO install_counts (provider, status, n) VALUES (NEW.provider, NEW.status, 1)
        ON CONFLICT (provider, status) DO UPDATE SET n = install_counts.n + 1;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER installs_counted_on_insert_or_delete AFTER INSERT OR DELETE ON installs
FOR EACH ROW EXECUTE FUNCTION installs_counted();

CREATE TRIGGER installs_counted_on_update AFTER UPDATE OF provider, status ON installs
FOR EACH ROW WHEN (OLD.provider IS DISTINCT FROM NEW.provider OR OLD.status IS DISTINCT FROM NEW.status)
EXECUTE FUNCTION installs_counted();
