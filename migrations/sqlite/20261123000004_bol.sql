-- bol.com: how a connection authenticates, and the state of its short-lived access token.
--
-- Columns are added, not the table rebuilt: SQLite cannot alter the CHECK on initiated_by, and a
-- rebuild would have to recreate the FTS5 index and triggers of 20261123000002_console.sql (which
-- follow installs by rowid). A connection added by an operator with a retailer's own credentials
-- is told apart by auth_kind instead; the audit log records which operator added it.

-- 'code': the retailer approved storelink (intermediary code flow); storelink holds a refresh
-- token. 'client_credentials': a retailer's own client id (below) and secret (sealed, in
-- credentials, kind 'client_secret'); tokens come from the client-credentials grant.
ALTER TABLE installs ADD COLUMN auth_kind TEXT NOT NULL DEFAULT 'code'
    CHECK (auth_kind IN ('code', 'client_credentials'));
-- The retailer's own client id (not a secret) for 'client_credentials' connections.
ALTER TABLE installs ADD COLUMN client_id TEXT;
-- When the stored access token stops working, and when it was last obtained (Unix seconds).
ALTER TABLE installs ADD COLUMN token_expires_at INTEGER;
ALTER TABLE installs ADD COLUMN token_refreshed_at INTEGER;
-- Compare-and-swap version of the token state. A refresh first claims the row
-- (UPDATE ... SET token_version = v + 1, refresh_lease_until = ... WHERE token_version = v AND
-- no lease is running), then stores its result only if the version is still v + 1. So two
-- processes never both spend a (rotating) refresh token, and a revoke or re-install in between
-- (both bump the version) makes a refresh in flight discard what it got.
ALTER TABLE installs ADD COLUMN token_version INTEGER NOT NULL DEFAULT 0;
-- Until when the claim above holds; a process that died mid-refresh frees it by running out.
ALTER TABLE installs ADD COLUMN refresh_lease_until INTEGER;
