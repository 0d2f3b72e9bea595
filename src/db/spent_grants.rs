//! Single-use grants that have been spent, by the SHA-256 of their token. A grant lives in a
//! browser's session (the merchant's order-updates form), where concurrent requests each read
//! the same unspent copy; spending it here, in the transaction that acts on it, is what makes it
//! single-use. Rows outlive their grant's window and are then swept.

use super::Db;

/// Marks the grant spent at `now`; false if it was spent already (nothing changes then).
pub async fn spend(tx: &mut sqlx::AnyConnection, grant_hash: &str, now: i64) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO spent_grants (grant_hash, spent_at) VALUES ($1, $2)
         ON CONFLICT (grant_hash) DO NOTHING",
    )
    .bind(grant_hash)
    .bind(now)
    .execute(tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Forgets grants spent before `cutoff` (their windows have closed, so they cannot be presented
/// again); returns how many.
pub async fn delete_older_than(db: &Db, cutoff: i64) -> sqlx::Result<u64> {
    let mut tx = super::begin_write(db).await?;
    let done = sqlx::query("DELETE FROM spent_grants WHERE spent_at < $1")
        .bind(cutoff)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(done.rows_affected())
}
