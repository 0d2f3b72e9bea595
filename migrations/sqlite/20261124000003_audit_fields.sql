-- Audit entries keep what storelink says (`detail`, its own words) apart from the values that
-- came from outside (`fields`: a JSON array of [name, value] pairs: a typed email, a client
-- address, a store's name, a platform's error message). Pages show each value on its own,
-- marked as a value, so a value cannot pass itself off as more of storelink's text (an email
-- typed as "admin@example.com, from 203.0.113.9" stays one email).
ALTER TABLE audit_log ADD COLUMN fields TEXT NOT NULL DEFAULT '[]';
