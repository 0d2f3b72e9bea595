//! Install health: one row per install with how its checks (and the vendor's calls through
//! storelink) went, and when it is next checked. A check that works changes only `checked_at`,
//! `last_ok_at` and the schedule; a change of state (degraded, recovered, needs attention) is
//! announced to the vendor's backend and audited in the same transaction, once per change.
//!
//! Scheduling is in the database so that instances sharing one share the work: an install is
//! claimed by one instance for a lease ([`claim_due`]), and one whose instance died mid-check is
//! due again once the lease has run out.

use sqlx::FromRow;

pub use super::installs::health::Health;
use super::{
    Db,
    audit::{self, Action},
    installs,
};
use crate::domain::{EventType, HealthState, InstallStatus, Reason};

/// Failures in a row (of a kind that may pass) that make an install degraded.
pub const DEGRADED_AFTER: i64 = 3;
/// Longest last error kept, in characters.
const MAX_ERROR: usize = 300;

/// What a check, or a vendor's call through storelink, found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// It worked.
    Ok,
    /// It failed for a reason that may pass: no answer, the platform's 5xx, 429 past the budget,
    /// a refused connection (and anything else that is not a refusal of the credentials).
    Failed(String),
    /// The platform refused the current credentials (401/403 to a check).
    Rejected(String),
    /// The token lifecycle found the credentials refused for good and marked the install as
    /// needing attention already.
    NeedsAttention(String),
}

/// Where an observation came from: a check records its time and schedules the next; a call
/// only counts towards (or clears) the failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A check, with when the next one is due (none when checks are off).
    Check {
        /// Unix seconds.
        next_check_at: Option<i64>,
    },
    /// One of the vendor's calls through storelink.
    Call,
}

/// What changed for the install (each announced and audited once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Nothing but the times.
    None,
    /// It became degraded.
    Degraded,
    /// It works again (from degraded, or from needing attention).
    Recovered,
    /// It needs attention now (`credentials_rejected`).
    NeedsAttention,
}

/// Install `id`'s health (the unknown one if it has no row).
pub async fn find(db: &Db, id: &str) -> sqlx::Result<Health> {
    let found: Option<Health> = sqlx::query_as(
        "SELECT state, checked_at, last_ok_at, consecutive_failures, last_error, next_check_at
         FROM install_health WHERE install_id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await?;
    Ok(found.unwrap_or_else(Health::unknown))
}

/// Whether an install in `status` for `reason` is checked: active ones, and those needing
/// attention for a reason that may heal.
fn checkable(status: InstallStatus, reason: Option<&str>) -> bool {
    match status {
        InstallStatus::Active => true,
        InstallStatus::NeedsAttention => {
            reason.and_then(Reason::parse).is_some_and(Reason::may_heal)
        }
        InstallStatus::Revoked => false,
    }
}

/// Schedules up to `limit` installs that have no check scheduled and are not parked, each at
/// `now` plus an offset from `offset` (a random one within the interval, so checks spread evenly
/// and do not all come at start-up); those found no longer checkable are parked. Returns how
/// many it read.
pub async fn schedule_new(
    db: &Db,
    now: i64,
    limit: i64,
    mut offset: impl FnMut() -> i64,
) -> sqlx::Result<usize> {
    let unscheduled: Vec<(String, InstallStatus, Option<String>)> = sqlx::query_as(
        "SELECT h.install_id, i.status, i.attention_reason
         FROM install_health h JOIN installs i ON i.id = h.install_id
         WHERE h.next_check_at IS NULL AND h.parked = 0
         LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db)
    .await?;
    if unscheduled.is_empty() {
        return Ok(0);
    }
    let mut tx = super::begin_write(db).await?;
    let mut due = 0;
    for (id, status, reason) in &unscheduled {
        if checkable(*status, reason.as_deref()) {
            sqlx::query(
                "UPDATE install_health SET next_check_at = $1
                 WHERE install_id = $2 AND next_check_at IS NULL",
            )
            .bind(now + offset())
            .bind(id)
            .execute(&mut *tx)
            .await?;
            due += 1;
        } else {
            park(&mut tx, id).await?;
        }
    }
    tx.commit().await?;
    tracing::debug!(
        scheduled = due,
        read = unscheduled.len(),
        "health: scheduled checks"
    );
    Ok(unscheduled.len())
}

/// Claims up to `limit` installs whose check is due and that nobody holds, for `lease` seconds;
/// returns their ids. Due rows of installs that are no longer checked (revoked, needing
/// attention for good) are parked on the way, so they are not read again.
pub async fn claim_due(db: &Db, now: i64, limit: i64, lease: i64) -> sqlx::Result<Vec<String>> {
    // Read without the write lock (most rounds find nothing due); the claims below are
    // conditional, so a row another instance claimed meanwhile is simply not won.
    let due: Vec<(String, InstallStatus, Option<String>)> = sqlx::query_as(
        "SELECT h.install_id, i.status, i.attention_reason
         FROM install_health h JOIN installs i ON i.id = h.install_id
         WHERE h.next_check_at <= $1 AND (h.claim_until IS NULL OR h.claim_until <= $1)
         ORDER BY h.next_check_at, h.install_id
         LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(db)
    .await?;
    if due.is_empty() {
        return Ok(Vec::new());
    }
    let mut tx = super::begin_write(db).await?;
    let mut claimed = Vec::with_capacity(due.len());
    for (id, status, reason) in due {
        if checkable(status, reason.as_deref()) {
            // Conditional, so that of two instances that read the same due row only one claims
            // it: on PostgreSQL the second waits for the first's row lock, then finds the claim
            // (or the next check already scheduled) and updates nothing.
            let won = sqlx::query(
                "UPDATE install_health SET claim_until = $1
                 WHERE install_id = $2 AND next_check_at <= $3
                   AND (claim_until IS NULL OR claim_until <= $3)",
            )
            .bind(now + lease)
            .bind(&id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if won == 1 {
                claimed.push(id);
            }
        } else {
            park(&mut tx, &id).await?;
        }
    }
    tx.commit().await?;
    Ok(claimed)
}

/// Parks install `id`: it is no longer checked (revoked, or needing attention for a reason
/// that does not heal) until it is installed again, which unparks it.
async fn park(conn: &mut sqlx::AnyConnection, id: &str) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE install_health SET next_check_at = NULL, claim_until = NULL, parked = 1
         WHERE install_id = $1",
    )
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records what a check or a call found for install `id` at `now`, and what follows: degraded
/// after [`DEGRADED_AFTER`] failures in a row, recovered after one success, needing attention
/// when the platform refused the credentials. Every change is announced and audited in the same
/// transaction; an unchanged success writes the times only.
pub async fn record(
    db: &Db,
    id: &str,
    observed: &Observed,
    source: Source,
    now: i64,
) -> sqlx::Result<Change> {
    let mut tx = super::begin_write(db).await?;
    let current: Option<(String, i64, InstallStatus, Option<String>)> = sqlx::query_as(
        "SELECT COALESCE(h.state, 'unknown'), COALESCE(h.consecutive_failures, 0), i.status,
             i.attention_reason
         FROM installs i LEFT JOIN install_health h ON h.install_id = i.id
         WHERE i.id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((state, failures, status, reason)) = current else {
        return Ok(Change::None);
    };
    let state = HealthState::parse(&state).unwrap_or(HealthState::Unknown);
    let healing = status == InstallStatus::NeedsAttention
        && reason
            .as_deref()
            .and_then(Reason::parse)
            .is_some_and(Reason::may_heal);
    let (new_state, new_failures, error, change) = match observed {
        Observed::Ok => {
            let change = if healing || state == HealthState::Degraded {
                Change::Recovered
            } else {
                Change::None
            };
            (HealthState::Ok, 0, None, change)
        }
        Observed::Failed(error) => {
            let failures = failures + 1;
            let degraded = failures >= DEGRADED_AFTER;
            let change = if degraded && state != HealthState::Degraded {
                Change::Degraded
            } else {
                Change::None
            };
            let new_state = if degraded {
                HealthState::Degraded
            } else {
                state
            };
            (new_state, failures, Some(error), change)
        }
        Observed::Rejected(error) => {
            let change = if status == InstallStatus::Active {
                Change::NeedsAttention
            } else {
                Change::None
            };
            (state, failures + 1, Some(error), change)
        }
        Observed::NeedsAttention(error) => (state, failures + 1, Some(error), Change::None),
    };
    let error = error.map(|e| crate::domain::text::one_line(e, MAX_ERROR));
    let (checked_at, next_check_at) = match source {
        Source::Check { next_check_at } => (Some(now), next_check_at),
        Source::Call => (None, None),
    };
    sqlx::query(
        "INSERT INTO install_health (install_id, state, checked_at, last_ok_at,
             consecutive_failures, last_error, next_check_at, claim_until)
         VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)
         ON CONFLICT (install_id) DO UPDATE SET state = $2,
             checked_at = COALESCE($3, install_health.checked_at),
             last_ok_at = COALESCE($4, install_health.last_ok_at),
             consecutive_failures = $5, last_error = $6,
             next_check_at = COALESCE($7, install_health.next_check_at),
             claim_until = CASE WHEN $3 IS NULL THEN install_health.claim_until ELSE NULL END",
    )
    .bind(id)
    .bind(new_state.as_str())
    .bind(checked_at)
    .bind((*observed == Observed::Ok).then_some(now))
    .bind(new_failures)
    .bind(error.as_deref())
    .bind(next_check_at)
    .execute(&mut *tx)
    .await?;
    match change {
        Change::None => {}
        Change::Degraded => {
            let detail = error.as_deref().unwrap_or_default();
            installs::announce(&mut tx, EventType::InstallDegraded, id, now).await?;
            audit::record(
                &mut tx,
                now,
                "system",
                Action::Degraded,
                Some(id),
                "checks or calls failed three times in a row",
                &[("error", detail)],
            )
            .await?;
        }
        Change::Recovered => {
            if healing {
                sqlx::query(
                    "UPDATE installs SET status = 'active', attention_reason = NULL,
                         updated_at = $1
                     WHERE id = $2 AND status = 'needs_attention'",
                )
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            installs::announce(&mut tx, EventType::InstallRecovered, id, now).await?;
            let detail = if healing {
                "the platform accepts the credentials again"
            } else {
                "a check or call works again"
            };
            audit::record(
                &mut tx,
                now,
                "system",
                Action::Recovered,
                Some(id),
                detail,
                &[],
            )
            .await?;
        }
        Change::NeedsAttention => {
            // The credentials are kept: the platform may accept them again (checks go on).
            sqlx::query(
                "UPDATE installs SET status = 'needs_attention', attention_reason = $1,
                     updated_at = $2
                 WHERE id = $3 AND status = 'active'",
            )
            .bind(Reason::CredentialsRejected.as_str())
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            installs::announce(&mut tx, EventType::InstallNeedsAttention, id, now).await?;
            let detail = error.as_deref().unwrap_or_default();
            audit::record(
                &mut tx,
                now,
                "system",
                Action::NeedsAttention,
                Some(id),
                "the platform refused the credentials",
                &[
                    ("reason", Reason::CredentialsRejected.as_str()),
                    ("error", detail),
                ],
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(change)
}

/// The health of each of `ids` that has been checked, by install id.
pub async fn of_installs(
    db: &Db,
    ids: &[&str],
) -> sqlx::Result<std::collections::HashMap<String, Health>> {
    if ids.is_empty() {
        return Ok(Default::default());
    }
    let mut query = super::QueryBuilder::new(
        "SELECT install_id, state, checked_at, last_ok_at, consecutive_failures, last_error,
             next_check_at
         FROM install_health WHERE install_id IN (",
    );
    let mut list = query.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    query.push(")");
    let rows: Vec<HealthRow> = query.build_query_as().fetch_all(db).await?;
    Ok(rows.into_iter().map(|r| (r.install_id, r.health)).collect())
}

/// A health row with its install's id.
#[derive(FromRow)]
struct HealthRow {
    install_id: String,
    #[sqlx(flatten)]
    health: Health,
}

/// Installs by platform, status and health, for `/metrics`.
pub async fn count_by_platform_status_and_health(
    db: &Db,
) -> sqlx::Result<Vec<(String, String, String, i64)>> {
    sqlx::query_as(
        "SELECT i.provider, i.status, COALESCE(h.state, 'unknown'), COUNT(*)
         FROM installs i LEFT JOIN install_health h ON h.install_id = i.id
         GROUP BY i.provider, i.status, COALESCE(h.state, 'unknown')",
    )
    .fetch_all(db)
    .await
}
