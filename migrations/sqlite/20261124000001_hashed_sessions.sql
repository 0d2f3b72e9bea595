-- Sessions are now stored under the SHA-256 of their id (src/db/sessions.rs), so a copy of the
-- database holds no id that logs anyone in. Rows stored under plain ids can no longer be found
-- (and must not linger): everyone logs in again once. The table itself is (re)created by the
-- session store at start-up.
DROP TABLE IF EXISTS sessions;
