-- The console's dashboard counts new installs of the last 30 days by platform: this index
-- answers that from the index alone, without reading 100,000 rows.
CREATE INDEX installs_by_install_time ON installs (installed_at, provider);
