-- Every kind of connection an operator adds (issue 12): a Maropost API key (with the staff
-- username of a user-based key), an OrderCloud marketplace (password or client-credentials
-- grant, at an API base chosen from OrderCloud's hosts) and a commercetools project (client
-- credentials at a region's auth host).
--
-- `auth_kind` gains 'password' (OrderCloud's password grant: a username and a sealed password
-- renew the token) and 'api_key' (a Maropost API key: no token at all, the key is sent on every
-- call). Its CHECK cannot be altered in place, so the table is rebuilt, the way SQLite documents
-- (https://sqlite.org/lang_altertable.html#otheralter): with foreign keys off (`db::migrate`
-- runs every migration so, and checks `foreign_key_check` after), a new table, rows copied with
-- their rowids, the old one dropped, the new one renamed, its indexes and triggers made again,
-- all in this migration's one transaction.
--
-- The rowid becomes an explicit `seq INTEGER PRIMARY KEY`: the FTS5 search index follows
-- installs by rowid, and only an INTEGER PRIMARY KEY keeps its rowids through a VACUUM.
--
-- New columns: `username` (OrderCloud's user, Maropost's NETOAPI_USERNAME; not secrets),
-- `api_url` (where API calls go: OrderCloud's base, commercetools' `{api}/{projectKey}`) and
-- `token_url` (where tokens come from), fixed when the connection is added so a later change of
-- settings never sends stored credentials somewhere else.

CREATE TABLE installs_rebuilt (
    seq                  INTEGER PRIMARY KEY,
    id                   TEXT NOT NULL UNIQUE,
    provider             TEXT NOT NULL,
    account_id           TEXT NOT NULL,
    store_domain         TEXT,
    store_name           TEXT,
    timezone             TEXT,
    scope                TEXT,
    user_id              TEXT,
    user_first_name      TEXT,
    user_last_name       TEXT,
    user_email           TEXT,
    billing_address      TEXT,
    status               TEXT NOT NULL DEFAULT 'active'
                         CHECK (status IN ('active', 'revoked', 'needs_attention')),
    initiated_by         TEXT NOT NULL CHECK (initiated_by IN ('storelink', 'panel')),
    installed_at         INTEGER NOT NULL,
    last_installed_at    INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    auth_kind            TEXT NOT NULL DEFAULT 'code'
                         CHECK (auth_kind IN ('code', 'client_credentials', 'password', 'api_key')),
    client_id            TEXT,
    token_expires_at     INTEGER,
    token_refreshed_at   INTEGER,
    token_version        INTEGER NOT NULL DEFAULT 0,
    refresh_lease_until  INTEGER,
    name_set_by_operator INTEGER NOT NULL DEFAULT 0,
    username             TEXT,
    api_url              TEXT,
    token_url            TEXT,
    UNIQUE (provider, account_id)
);

INSERT INTO installs_rebuilt (
    seq, id, provider, account_id, store_domain, store_name, timezone, scope, user_id,
    user_first_name, user_last_name, user_email, billing_address, status, initiated_by,
    installed_at, last_installed_at, updated_at, auth_kind, client_id, token_expires_at,
    token_refreshed_at, token_version, refresh_lease_until, name_set_by_operator)
SELECT
    rowid, id, provider, account_id, store_domain, store_name, timezone, scope, user_id,
    user_first_name, user_last_name, user_email, billing_address, status, initiated_by,
    installed_at, last_installed_at, updated_at, auth_kind, client_id, token_expires_at,
    token_refreshed_at, token_version, refresh_lease_until, name_set_by_operator
FROM installs;

DROP TABLE installs;
ALTER TABLE installs_rebuilt RENAME TO installs;

CREATE INDEX installs_by_change ON installs (updated_at DESC, id DESC);
CREATE INDEX installs_by_status ON installs (status, updated_at DESC, id DESC);
CREATE INDEX installs_by_provider ON installs (provider, status, updated_at DESC, id DESC);
CREATE INDEX installs_by_install_time ON installs (installed_at, provider);

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
