//! Authorization flows in progress, looked up by the SHA-256 of their state.

use sqlx::FromRow;

use super::Db;
use crate::{crypto::Sealed, domain::Platform};

/// A flow as stored.
#[derive(Debug, Clone, FromRow)]
pub struct StoredFlow {
    /// The platform it was started for (stored in the `provider` column).
    #[sqlx(rename = "provider")]
    pub platform: Platform,
    /// SHA-256 of the browser binding kept in the session that started the flow.
    pub browser_hash: String,
    /// The store domain the flow was started for, where the provider has one.
    pub store_domain: Option<String>,
    verifier_key_id: String,
    verifier_nonce: Vec<u8>,
    verifier_ciphertext: Vec<u8>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; set once the state has been spent.
    pub used_at: Option<i64>,
}

impl StoredFlow {
    /// The sealed PKCE verifier.
    pub fn sealed_verifier(&self) -> Sealed {
        Sealed {
            key_id: self.verifier_key_id.clone(),
            nonce: self.verifier_nonce.clone(),
            ciphertext: self.verifier_ciphertext.clone(),
        }
    }
}

/// What [`insert`] stores.
pub struct NewFlow<'a> {
    /// SHA-256 of the state.
    pub state_hash: &'a str,
    /// The platform it is started for.
    pub platform: Platform,
    /// SHA-256 of the browser binding.
    pub browser_hash: &'a str,
    /// The store domain, where the provider has one.
    pub store_domain: Option<&'a str>,
    /// The PKCE verifier, sealed with the state hash as associated data.
    pub verifier: &'a Sealed,
    /// Unix seconds.
    pub created_at: i64,
}

/// Records a new flow.
pub async fn insert(db: &Db, flow: &NewFlow<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO oauth_states (state_hash, provider, browser_hash, store_domain,
             verifier_key_id, verifier_nonce, verifier_ciphertext, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(flow.state_hash)
    .bind(flow.platform)
    .bind(flow.browser_hash)
    .bind(flow.store_domain)
    .bind(&flow.verifier.key_id)
    .bind(&flow.verifier.nonce)
    .bind(&flow.verifier.ciphertext)
    .bind(flow.created_at)
    .execute(db)
    .await?;
    Ok(())
}

/// The flow with this state hash, if any.
pub async fn find(db: &Db, state_hash: &str) -> sqlx::Result<Option<StoredFlow>> {
    sqlx::query_as(
        "SELECT provider, browser_hash, store_domain, verifier_key_id, verifier_nonce,
             verifier_ciphertext, created_at, used_at
         FROM oauth_states WHERE state_hash = $1",
    )
    .bind(state_hash)
    .fetch_optional(db)
    .await
}

/// Spends the state: true if this call spent it, false if it was already spent (two callbacks
/// racing with the same state both find it unused; only one of them wins here).
pub async fn mark_used(db: &Db, state_hash: &str, now: i64) -> sqlx::Result<bool> {
    let result = sqlx::query(
        "UPDATE oauth_states SET used_at = $1 WHERE state_hash = $2 AND used_at IS NULL",
    )
    .bind(now)
    .bind(state_hash)
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Deletes flows started before `cutoff` (Unix seconds). Returns how many went.
pub async fn delete_older_than(db: &Db, cutoff: i64) -> sqlx::Result<u64> {
    let result = sqlx::query("DELETE FROM oauth_states WHERE created_at < $1")
        .bind(cutoff)
        .execute(db)
        .await?;
    Ok(result.rows_affected())
}

/// Keeps at most `keep` unused flows of the browser `browser_hash`: the one just started
/// (`newest`, always) and the most recent others, deleting the rest. Returns how many went.
/// Flows started within one second are ordered by arrival on SQLite (its rowid) and arbitrarily
/// on PostgreSQL, which has no such column; the flow the browser is about to use is never the
/// one that goes.
pub async fn keep_newest_unused(
    db: &Db,
    browser_hash: &str,
    newest: &str,
    keep: i64,
) -> sqlx::Result<u64> {
    let sql = format!(
        "DELETE FROM oauth_states
         WHERE browser_hash = $1 AND used_at IS NULL AND state_hash <> $2 AND state_hash NOT IN (
             SELECT state_hash FROM oauth_states
             WHERE browser_hash = $1 AND used_at IS NULL AND state_hash <> $2
             ORDER BY created_at DESC, {} LIMIT $3)",
        super::Backend::of_pool(db).newest_first_tiebreak("state_hash")
    );
    let result = sqlx::query(&sql)
        .bind(browser_hash)
        .bind(newest)
        .bind(keep - 1)
        .execute(db)
        .await?;
    Ok(result.rows_affected())
}
