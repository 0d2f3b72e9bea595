//! Rate budgets in the database, shared by every instance on it (PostgreSQL only: on SQLite, one
//! instance keeps them in memory). The decision itself is [`State::decide`]'s; this module reads
//! and writes one budget's row around it.
//!
//! A call that finds its budget free and nothing held takes the one-statement path (an
//! `UPDATE` whose `WHERE` is the check). Otherwise the row is read under its row lock
//! (`FOR UPDATE`), decided, and written back in one transaction: instances queue on the row, not
//! on storelink's write lock, so budgets never wait behind the webhook writer.

use super::Db;
use crate::domain::rate_budget::{Admission, Patience, Rate, Shown, State};

/// A week, in microseconds: budgets idle this long are swept.
pub const IDLE_US: i64 = 7 * 86_400 * 1_000_000;

/// Decides one call on budget `key` with ceiling `rate`, at the moment `now` says (read again
/// once the row is locked: a caller that waited for the lock decides at its own moment, not one
/// before the caller ahead of it).
pub async fn decide(
    db: &Db,
    key: &str,
    rate: Option<Rate>,
    patience: Patience,
    now: fn() -> i64,
    caller: u64,
) -> sqlx::Result<(Admission, i64)> {
    let step = rate.map_or(0, Rate::interval_us);
    let at_first = now();
    let free = sqlx::query(
        "UPDATE rate_budgets SET tat = $1
         WHERE key = $2 AND tat <= $3 AND blocked_until <= $3 AND turns = '[]'",
    )
    .bind(at_first + step)
    .bind(key)
    .bind(at_first)
    .execute(db)
    .await?
    .rows_affected();
    if free == 1 {
        return Ok((Admission::Now, at_first));
    }
    let mut tx = db.begin().await?;
    sqlx::query("INSERT INTO rate_budgets (key) VALUES ($1) ON CONFLICT (key) DO NOTHING")
        .bind(key)
        .execute(&mut *tx)
        .await?;
    let (tat, blocked_until, turns): (i64, i64, String) = sqlx::query_as(
        "SELECT tat, blocked_until, turns FROM rate_budgets WHERE key = $1 FOR UPDATE",
    )
    .bind(key)
    .fetch_one(&mut *tx)
    .await?;
    let mut state = State {
        tat,
        blocked_until,
        // Written only by this module: unreadable text is an empty list, not an error.
        turns: serde_json::from_str(&turns).unwrap_or_default(),
    };
    let now = now();
    let admission = state.decide(rate, patience, now, caller);
    let turns = serde_json::to_string(&state.turns).unwrap_or_else(|_| "[]".to_owned());
    sqlx::query("UPDATE rate_budgets SET tat = $1, blocked_until = $2, turns = $3 WHERE key = $4")
        .bind(state.tat)
        .bind(state.blocked_until)
        .bind(turns)
        .bind(key)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok((admission, now))
}

/// Stops budget `key` until `until` (microseconds; a later stop already there stays), and notes
/// `slowed`: when (Unix seconds) and with which status the platform said so.
pub async fn block(db: &Db, key: &str, until: i64, slowed: (i64, u16)) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO rate_budgets (key, blocked_until, slowed_at, slowed_status)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (key) DO UPDATE SET
             blocked_until = GREATEST(rate_budgets.blocked_until, $2),
             slowed_at = $3, slowed_status = $4",
    )
    .bind(key)
    .bind(until)
    .bind(slowed.0)
    .bind(i64::from(slowed.1))
    .execute(db)
    .await?;
    Ok(())
}

/// The budgets whose keys begin with `prefix`.
pub async fn shown(db: &Db, prefix: &str) -> sqlx::Result<Vec<Shown>> {
    let rows: Vec<(String, i64, Option<i64>, Option<i64>)> = sqlx::query_as(
        "SELECT key, blocked_until, slowed_at, slowed_status FROM rate_budgets
         WHERE starts_with(key, $1) ORDER BY key",
    )
    .bind(prefix)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(key, blocked_until, at, status)| Shown {
            key,
            blocked_until,
            slowed: at.zip(status.and_then(|s| u16::try_from(s).ok())),
        })
        .collect())
}

/// Deletes budgets idle for a week at `now` (microseconds): nothing held, nothing blocked, no
/// call for a week. A budget without a row starts fresh.
pub async fn sweep(db: &Db, now: i64) -> sqlx::Result<u64> {
    let cut = now - IDLE_US;
    Ok(sqlx::query(
        "DELETE FROM rate_budgets WHERE tat < $1 AND blocked_until < $1 AND turns = '[]'",
    )
    .bind(cut)
    .execute(db)
    .await?
    .rows_affected())
}
