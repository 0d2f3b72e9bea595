-- An operator can rename a store in the console. The name goes into store_name, like a name the
-- platform gave; this flag says an operator chose it, so that a re-install (which writes the
-- platform's name) keeps the operator's instead.
ALTER TABLE installs ADD COLUMN name_set_by_operator INTEGER NOT NULL DEFAULT 0;
