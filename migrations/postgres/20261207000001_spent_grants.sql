-- Single-use grants that have been spent (the merchant's order-updates form), by the SHA-256 of
-- the grant's token. The grant itself lives in the browser's session; this row is what makes it
-- single-use when several requests present it at once. Swept once the grant's window has closed.
CREATE TABLE spent_grants (
    grant_hash TEXT   PRIMARY KEY NOT NULL,
    spent_at   BIGINT NOT NULL
);
