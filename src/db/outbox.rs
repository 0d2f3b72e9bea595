//! The outbox of notifications: one message per (change, subscribed endpoint), so a change that
//! rolls back sends nothing and one that commits is never lost. Changes to installs write their
//! messages in their own transaction ([`enqueue_many`]). Order events, which arrive by the
//! thousand a second, write nothing more than their row in `events`: that table is their log,
//! and the delivery worker makes their messages from it past each endpoint's cursor
//! ([`make_order_messages`]), off the webhook writer's group commit. The worker
//! (`notify::worker`) claims due messages, sends them and records each attempt here.

use serde_json::{Value, json};
use sqlx::{AnyConnection, FromRow};

use super::{Db, QueryBuilder};
use crate::{
    crypto::random_hex,
    domain::{EventType, MessageStatus, rfc3339},
};

/// Rows per `INSERT` in [`enqueue_many`]: 7 parameters each, well under SQLite's limit.
const ROWS_PER_STATEMENT: usize = 128;

/// A message id, the `webhook-id` header: `msg_`, the time in milliseconds, and 80 random bits.
/// Time first, so ids grow and each batch's inserts land at the end of the id index instead of
/// all over it (a random id made every commit rewrite pages across the whole index).
fn message_id() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("msg_{millis:012x}{}", random_hex(10))
}

/// The body every attempt sends: `{"type", "timestamp", "data"}`.
pub fn body(event_type: EventType, data: &Value, now: i64) -> String {
    json!({
        "type": event_type.as_str(),
        "timestamp": rfc3339(now),
        "data": data,
    })
    .to_string()
}

/// The enabled endpoints subscribed to `event_type`.
async fn subscribers(conn: &mut AnyConnection, event_type: EventType) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT id FROM notify_endpoints
         WHERE enabled = 1 AND (event_types = '*' OR event_types LIKE '%,' || $1 || ',%')",
    )
    .bind(event_type)
    .fetch_all(conn)
    .await
}

/// One change to announce: the install it concerns, and its data.
pub struct Change {
    /// The install concerned.
    pub install_id: String,
    /// The `data` of the body.
    pub data: Value,
}

/// Queues `changes` of one type for every subscribed endpoint, in the caller's transaction.
/// Returns how many messages were written.
pub async fn enqueue_many(
    conn: &mut AnyConnection,
    event_type: EventType,
    changes: &[Change],
    now: i64,
) -> sqlx::Result<usize> {
    if changes.is_empty() {
        return Ok(0);
    }
    let endpoints = subscribers(conn, event_type).await?;
    if endpoints.is_empty() {
        return Ok(0);
    }
    let bodies: Vec<String> = changes
        .iter()
        .map(|c| body(event_type, &c.data, now))
        .collect();
    let rows: Vec<(&String, &Change, &String)> = endpoints
        .iter()
        .flat_map(|e| changes.iter().zip(&bodies).map(move |(c, b)| (e, c, b)))
        .collect();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut query = QueryBuilder::new(
            "INSERT INTO notify_messages (id, endpoint_id, event_type, install_id, body, \
             created_at, next_attempt_at) ",
        );
        query.push_values(chunk, |mut row, (endpoint, change, body)| {
            row.push_bind(message_id())
                .push_bind(*endpoint)
                .push_bind(event_type)
                .push_bind(&change.install_id)
                .push_bind(*body)
                .push_bind(now)
                .push_bind(now);
        });
        query.build().execute(&mut *conn).await?;
    }
    Ok(rows.len())
}

/// Makes the messages of stored order events for the enabled endpoints subscribed to
/// `order.status_changed` (only `endpoint`, when given), at most `limit` events per endpoint
/// (`None`: all of them), and moves each endpoint's cursor past them, in the caller's
/// transaction. Returns how many messages were made.
///
/// The events table is the outbox of order events: an event that commits is announced (its
/// row stays and the cursor has not passed it), one that rolls back never existed. The cursor
/// moves in the transaction that makes the messages, so each event gets its message once per
/// endpoint, and the message's id is fixed from then on. Event ids only grow (events are never
/// deleted), so no event can appear behind a cursor. Endpoints that are disabled are caught up
/// as they are disabled ([`super::endpoints::set_enabled`], `record_failure`) and move past
/// what arrived meanwhile as they are enabled, so what an endpoint gets still depends on whether
/// it was enabled when the event committed.
pub async fn make_order_messages(
    conn: &mut AnyConnection,
    endpoint: Option<&str>,
    limit: Option<i64>,
) -> sqlx::Result<u64> {
    let cursors: Vec<(String, i64)> = sqlx::query_as(
        "SELECT id, events_cursor FROM notify_endpoints
         WHERE enabled = 1 AND (event_types = '*' OR event_types LIKE '%,' || $1 || ',%')
           AND ($2 IS NULL OR id = $2)",
    )
    .bind(EventType::OrderStatusChanged)
    .bind(endpoint)
    .fetch_all(&mut *conn)
    .await?;
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let mut made = 0;
    for (endpoint, cursor) in cursors {
        let upto: Option<i64> = match limit {
            Some(limit) => sqlx::query_scalar(
                "SELECT max(id) FROM (SELECT id FROM events WHERE id > $1 ORDER BY id LIMIT $2) AS next",
            )
            .bind(cursor)
            .bind(limit)
            .fetch_one(&mut *conn)
            .await?,
            None => {
                sqlx::query_scalar("SELECT max(id) FROM events WHERE id > $1")
                    .bind(cursor)
                    .fetch_one(&mut *conn)
                    .await?
            }
        };
        let Some(upto) = upto else { continue };
        made += sqlx::query(super::dialect::Backend::of(conn).make_order_messages())
            .bind(millis)
            .bind(&endpoint)
            .bind(cursor)
            .bind(upto)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        sqlx::query("UPDATE notify_endpoints SET events_cursor = $1 WHERE id = $2")
            .bind(upto)
            .bind(&endpoint)
            .execute(&mut *conn)
            .await?;
    }
    Ok(made)
}

/// Queues one message for one endpoint, whatever it subscribes to (a test event); returns its
/// id, or `None` when there is no such endpoint.
pub async fn enqueue_to(
    db: &Db,
    endpoint_id: &str,
    event_type: EventType,
    data: &Value,
    now: i64,
) -> sqlx::Result<Option<String>> {
    let id = message_id();
    let inserted = sqlx::query(
        "INSERT INTO notify_messages (id, endpoint_id, event_type, body, created_at,
             next_attempt_at)
         SELECT $1, id, $2, $3, $4, $4 FROM notify_endpoints WHERE id = $5",
    )
    .bind(&id)
    .bind(event_type)
    .bind(body(event_type, data, now))
    .bind(now)
    .bind(endpoint_id)
    .execute(db)
    .await?
    .rows_affected();
    Ok((inserted == 1).then_some(id))
}

/// A message claimed for an attempt.
#[derive(Debug, Clone, FromRow)]
pub struct Due {
    /// The `webhook-id`.
    pub id: String,
    /// Where it goes.
    pub endpoint_id: String,
    /// What it announces.
    pub event_type: EventType,
    /// The exact bytes to send.
    pub body: String,
    /// Attempts so far, this one included.
    pub attempts: i64,
}

/// Claims up to `limit` due messages of enabled endpoint `endpoint_id` that is not paused, for
/// `lease` seconds: nobody else claims them meanwhile, and if this instance dies before
/// recording the attempt, they are due again when the lease runs out (sent twice, at worst: at
/// least once). The worker claims each endpoint apart, up to its room.
pub async fn claim_due(
    conn: &mut AnyConnection,
    endpoint_id: &str,
    now: i64,
    limit: usize,
    lease: i64,
) -> sqlx::Result<Vec<Due>> {
    sqlx::query_as(
        "UPDATE notify_messages SET lease_until = $1 + $2, attempts = attempts + 1
         WHERE id IN (
             SELECT m.id FROM notify_messages m
             JOIN notify_endpoints e ON e.id = m.endpoint_id
             WHERE m.endpoint_id = $4 AND m.status = 'pending' AND m.next_attempt_at <= $1
               AND (m.lease_until IS NULL OR m.lease_until <= $1) AND e.enabled = 1
               AND (e.paused_until IS NULL OR e.paused_until <= $1)
             ORDER BY m.next_attempt_at
             LIMIT $3)
         RETURNING id, endpoint_id, event_type, body, attempts",
    )
    .bind(now)
    .bind(lease)
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .bind(endpoint_id)
    .fetch_all(conn)
    .await
}

/// Gives claimed messages back unsent, in the caller's transaction: their endpoint paused
/// while they waited for their turn. Due again when the pause ends; the claims do not count as
/// attempts.
pub async fn release_in(conn: &mut AnyConnection, message_ids: &[&str]) -> sqlx::Result<()> {
    for chunk in message_ids.chunks(ROWS_PER_STATEMENT) {
        let mut update = QueryBuilder::new(
            "UPDATE notify_messages SET lease_until = NULL,
                 attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END
             WHERE status = 'pending' AND id IN (",
        );
        let mut ids = update.separated(", ");
        for id in chunk {
            ids.push_bind(*id);
        }
        update.push(")");
        update.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Makes every message of `endpoint_id` that failed (its schedule used up) and was created at
/// or after `since` due again now, with a fresh schedule and its own `webhook-id`, in the
/// caller's transaction; returns how many. One statement: a crash leaves all of them queued
/// or none, and a second call finds them pending or delivered, not failed, so each is sent
/// again once.
pub async fn recover(
    conn: &mut AnyConnection,
    endpoint_id: &str,
    since: i64,
    now: i64,
) -> sqlx::Result<u64> {
    Ok(sqlx::query(
        "UPDATE notify_messages SET status = 'pending', attempts = 0, next_attempt_at = $1,
             finished_at = NULL, lease_until = NULL
         WHERE endpoint_id = $2 AND status = 'failed' AND created_at >= $3",
    )
    .bind(now)
    .bind(endpoint_id)
    .bind(since)
    .execute(conn)
    .await?
    .rows_affected())
}

/// What one attempt got.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// Unix seconds.
    pub at: i64,
    /// The answer's status code, when one came.
    pub status_code: Option<u16>,
    /// How long it took.
    pub latency_ms: i64,
    /// What happened, in words ("200 OK", "timed out after 10 s", ...).
    pub outcome: String,
    /// The first bytes of the answer.
    pub answer: Option<String>,
}

/// What happens to a message after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Delivered: done.
    Delivered,
    /// Try again at this time (Unix seconds).
    RetryAt(i64),
    /// The schedule is used up.
    Failed,
}

/// Records attempts and what follows from each, and gives up their leases, in the caller's
/// transaction (the worker records a whole round of attempts in one): the attempts in one
/// `INSERT` per 128, the delivered messages in one `UPDATE` per 128, the others one by one.
pub async fn record_attempts(
    conn: &mut AnyConnection,
    recorded: &[(&str, &Attempt, After)],
) -> sqlx::Result<()> {
    for chunk in recorded.chunks(ROWS_PER_STATEMENT) {
        let mut insert = QueryBuilder::new(
            "INSERT INTO notify_attempts (message_id, attempted_at, status_code, latency_ms, \
             outcome, answer) ",
        );
        insert.push_values(chunk, |mut row, (id, attempt, _)| {
            row.push_bind(*id)
                .push_bind(attempt.at)
                .push_bind(attempt.status_code.map(i64::from))
                .push_bind(attempt.latency_ms)
                .push_bind(&attempt.outcome)
                .push_bind(&attempt.answer);
        });
        insert.build().execute(&mut *conn).await?;

        let delivered: Vec<(&str, i64)> = chunk
            .iter()
            .filter(|(_, _, after)| *after == After::Delivered)
            .map(|(id, attempt, _)| (*id, attempt.at))
            .collect();
        if let Some(at) = delivered.iter().map(|(_, at)| *at).max() {
            let mut update = QueryBuilder::new(
                "UPDATE notify_messages SET status = 'delivered', lease_until = NULL, finished_at = ",
            );
            update.push_bind(at).push(" WHERE id IN (");
            let mut ids = update.separated(", ");
            for (id, _) in &delivered {
                ids.push_bind(*id);
            }
            update.push(")");
            update.build().execute(&mut *conn).await?;
        }
        for (id, attempt, after) in chunk {
            let (status, next, finished) = match after {
                After::Delivered => continue,
                After::RetryAt(at) => (MessageStatus::Pending, Some(*at), None),
                After::Failed => (MessageStatus::Failed, None, Some(attempt.at)),
            };
            sqlx::query(
                "UPDATE notify_messages SET status = $1,
                     next_attempt_at = COALESCE($2, next_attempt_at), finished_at = $3,
                     lease_until = NULL
                 WHERE id = $4",
            )
            .bind(status)
            .bind(next)
            .bind(finished)
            .bind(*id)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

/// Gives a claimed message back unsent (the instance is shutting down): due again at once, and
/// the claim does not count as an attempt.
pub async fn release(db: &Db, message_id: &str) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE notify_messages SET lease_until = NULL, attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END
         WHERE id = $1 AND status = 'pending'",
    )
    .bind(message_id)
    .execute(db)
    .await?;
    Ok(())
}

/// Makes a message due again now with a fresh retry schedule ("Send again"), whatever it
/// came to. `false` when there is no such message for this endpoint.
pub async fn send_again(
    db: &Db,
    endpoint_id: &str,
    message_id: &str,
    now: i64,
) -> sqlx::Result<bool> {
    let changed = sqlx::query(
        "UPDATE notify_messages SET status = 'pending', attempts = 0, next_attempt_at = $1,
             finished_at = NULL, lease_until = NULL
         WHERE id = $2 AND endpoint_id = $3",
    )
    .bind(now)
    .bind(message_id)
    .bind(endpoint_id)
    .execute(db)
    .await?
    .rows_affected();
    Ok(changed == 1)
}

/// A message as the console lists it.
#[derive(Debug, Clone, FromRow)]
pub struct Message {
    /// The `webhook-id`.
    pub id: String,
    /// What it announces.
    pub event_type: EventType,
    /// The install concerned.
    pub install_id: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Where it stands.
    pub status: MessageStatus,
    /// Attempts so far.
    pub attempts: i64,
    /// The next attempt, when pending.
    pub next_attempt_at: i64,
}

/// A page of an endpoint's messages, newest first (by id: ids begin with their time), only
/// those with `status` when given, and only those older than message `before` when given.
pub async fn page(
    db: &Db,
    endpoint_id: &str,
    status: Option<MessageStatus>,
    before: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<Message>> {
    sqlx::query_as(
        "SELECT id, event_type, install_id, created_at, status, attempts, next_attempt_at
         FROM notify_messages
         WHERE endpoint_id = $1 AND ($2 IS NULL OR status = $2) AND ($3 IS NULL OR id < $3)
         ORDER BY id DESC LIMIT $4",
    )
    .bind(endpoint_id)
    .bind(status)
    .bind(before)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// An endpoint's most recent messages, newest first.
pub async fn recent(db: &Db, endpoint_id: &str, limit: i64) -> sqlx::Result<Vec<Message>> {
    let sql = format!(
        "SELECT id, event_type, install_id, created_at, status, attempts, next_attempt_at
         FROM notify_messages WHERE endpoint_id = $1
         ORDER BY created_at DESC, {} LIMIT $2",
        super::dialect::Backend::of_pool(db).newest_first_tiebreak("id")
    );
    sqlx::query_as(&sql)
        .bind(endpoint_id)
        .bind(limit)
        .fetch_all(db)
        .await
}

/// One recorded attempt.
#[derive(Debug, Clone, FromRow)]
pub struct AttemptRow {
    /// The message.
    pub message_id: String,
    /// Unix seconds.
    pub attempted_at: i64,
    /// The answer's status code, when one came.
    pub status_code: Option<i64>,
    /// How long it took.
    pub latency_ms: i64,
    /// What happened.
    pub outcome: String,
    /// The first bytes of the answer.
    pub answer: Option<String>,
}

/// The attempts of these messages, oldest first.
pub async fn attempts_of(db: &Db, message_ids: &[String]) -> sqlx::Result<Vec<AttemptRow>> {
    if message_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut query = QueryBuilder::new(
        "SELECT message_id, attempted_at, status_code, latency_ms, outcome, answer
         FROM notify_attempts WHERE message_id IN (",
    );
    let mut list = query.separated(", ");
    for id in message_ids {
        list.push_bind(id);
    }
    query.push(") ORDER BY id");
    query.build_query_as().fetch_all(db).await
}

/// How many messages stand where, over every endpoint (for `/metrics` and tests).
/// How many stored order events endpoint `endpoint_id` is owed messages for that have not been
/// made yet (the worker makes them as it has room to send them; a busy webhook intake makes it
/// wait). `0` for an endpoint that is disabled or not subscribed to `order.status_changed`.
pub async fn order_backlog(db: &Db, endpoint_id: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM events WHERE id > (
             SELECT events_cursor FROM notify_endpoints
             WHERE id = $1 AND enabled = 1
               AND (event_types = '*' OR event_types LIKE '%,' || $2 || ',%'))",
    )
    .bind(endpoint_id)
    .bind(EventType::OrderStatusChanged)
    .fetch_one(db)
    .await
}

/// Messages by status, for the console's counts.
pub async fn count_by_status(db: &Db) -> sqlx::Result<Vec<(MessageStatus, i64)>> {
    sqlx::query_as("SELECT status, count(*) FROM notify_messages GROUP BY status")
        .fetch_all(db)
        .await
}
