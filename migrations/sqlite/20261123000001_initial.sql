-- storelink's first schema. Timestamps are integer Unix seconds (UTC) and placeholders stay
-- portable, so the PostgreSQL migrations can mirror this file closely.

-- One row per (provider, account): a Maropost store_id, a bol.com account claim. The id is public
-- (it appears in webhook URLs) and random, so it cannot be guessed from another one.
CREATE TABLE installs (
    id                TEXT PRIMARY KEY,
    provider          TEXT NOT NULL,
    account_id        TEXT NOT NULL,
    store_domain      TEXT,
    store_name        TEXT,
    timezone          TEXT,
    scope             TEXT,
    user_id           TEXT,
    user_first_name   TEXT,
    user_last_name    TEXT,
    user_email        TEXT,
    billing_address   TEXT,            -- JSON object as the platform sent it (known fields only)
    status            TEXT NOT NULL DEFAULT 'active'
                      CHECK (status IN ('active', 'revoked', 'needs_attention')),
    initiated_by      TEXT NOT NULL CHECK (initiated_by IN ('storelink', 'panel')),
    installed_at      INTEGER NOT NULL, -- first install
    last_installed_at INTEGER NOT NULL, -- latest install or re-install
    updated_at        INTEGER NOT NULL,
    UNIQUE (provider, account_id)
);

-- Credentials are only ever stored sealed (see src/crypto.rs): the associated data is
-- "<install id>|<kind>", and key_id names the master key that sealed the row.
CREATE TABLE credentials (
    install_id  TEXT NOT NULL REFERENCES installs (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    key_id      TEXT NOT NULL,
    nonce       BLOB NOT NULL,
    ciphertext  BLOB NOT NULL,
    sealed_at   INTEGER NOT NULL,
    PRIMARY KEY (install_id, kind)
);
CREATE INDEX credentials_key_id ON credentials (key_id);

-- Append-only history: installs, re-installs and, later, operator actions.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    install_id  TEXT REFERENCES installs (id),
    detail      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_install ON audit_log (install_id, id);

-- Authorization flows in progress. The state itself is never stored, only its SHA-256, so a
-- copy of the database cannot be used to finish somebody's flow; the PKCE verifier is sealed.
CREATE TABLE oauth_states (
    state_hash          TEXT PRIMARY KEY,
    provider            TEXT NOT NULL,
    browser_hash        TEXT NOT NULL,
    store_domain        TEXT,
    verifier_key_id     TEXT NOT NULL,
    verifier_nonce      BLOB NOT NULL,
    verifier_ciphertext BLOB NOT NULL,
    created_at          INTEGER NOT NULL,
    used_at             INTEGER
);
CREATE INDEX oauth_states_created_at ON oauth_states (created_at);
