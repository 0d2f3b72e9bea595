-- Live flows are capped per browser (src/flow.rs): starting one more deletes that browser's
-- oldest unused flows, found through this index.
CREATE INDEX oauth_states_browser ON oauth_states (browser_hash, created_at);
