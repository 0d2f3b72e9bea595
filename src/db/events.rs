//! Order notifications received from the platforms, one row per (install, EventID).
//!
//! Writes go through the webhook writer ([`crate::platforms::maropost::webhooks::writer`]), which commits many events
//! in one transaction; this module only knows how to insert one row and how to read them back for
//! the console.

use std::collections::HashSet;

use sqlx::{AnyConnection, FromRow};

use super::{Db, QueryBuilder};
use crate::{
    crypto::Sealed,
    db::credentials::Kind,
    domain::{InstallStatus, OrderStatus, Platform},
};

/// An event to store. The fields come from a validated [`crate::platforms::maropost::webhooks::order_event::OrderEvent`].
#[derive(Clone)]
pub struct NewEvent {
    /// The install it was sent for.
    pub install_id: String,
    /// `<EventID>`.
    pub event_id: String,
    /// `<EventType>`.
    pub event_type: String,
    /// `<CurrentTime>` as sent.
    pub sent_time: Option<String>,
    /// `<OrderID>`.
    pub order_id: Option<String>,
    /// `<OrderStatus>`.
    pub order_status: Option<OrderStatus>,
    /// When storelink received it, Unix seconds.
    pub received_at: i64,
    /// The document as received.
    pub raw_body: String,
}

impl std::fmt::Debug for NewEvent {
    // The body is the sender's data: keep it out of debug output and logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewEvent")
            .field("install_id", &self.install_id)
            .field("event_id", &self.event_id)
            .field("event_type", &self.event_type)
            .field("received_at", &self.received_at)
            .field("raw_body_len", &self.raw_body.len())
            .finish()
    }
}

/// Inserts `event` unless the install already has an event with its EventID. Returns whether a
/// row was added (`false`: a repeat, nothing changed).
pub async fn insert(conn: &mut AnyConnection, event: &NewEvent) -> sqlx::Result<bool> {
    Ok(insert_many(conn, &[event])
        .await?
        .first()
        .copied()
        .unwrap_or(false))
}

/// Rows per `INSERT` statement in [`insert_many`]: 8 parameters each, well under SQLite's limit.
const ROWS_PER_STATEMENT: usize = 64;

/// Inserts `events` into the caller's transaction, skipping any whose (install, EventID) is
/// already stored or appears earlier in `events`. Returns, in order, whether each one added a
/// row. Exact when the transaction holds the write lock (`BEGIN IMMEDIATE`), as the webhook
/// writer's does: nobody else can add one of these events between the look and the insert.
///
/// Per 64 events on SQLite: one `SELECT` that returns only the repeats, then one `INSERT` of the
/// rest. Each statement is a round trip to SQLite's thread and each row it returns one more
/// message, so this is far cheaper than a statement (or a `RETURNING` row) per event when
/// hundreds are committed at once. On PostgreSQL the `INSERT` itself says which rows it added
/// (`RETURNING`, one reply for all of them), through the unique index it checks anyway: a
/// look-up first would cost a round trip, and its plan (a generic one, or one made from stale
/// statistics) may pick `events_install` and read every event of the install, slower the more
/// events a store has.
pub async fn insert_many(
    conn: &mut AnyConnection,
    events: &[&NewEvent],
) -> sqlx::Result<Vec<bool>> {
    let mut added = Vec::with_capacity(events.len());
    let mut seen: HashSet<(&str, &str)> = HashSet::with_capacity(events.len());
    let returning = super::Backend::of(conn) == super::Backend::Postgres;
    for chunk in events.chunks(ROWS_PER_STATEMENT) {
        let first = added.len();
        let stored = if returning {
            Vec::new()
        } else {
            already_stored(conn, chunk).await?
        };
        let fresh: Vec<&NewEvent> = chunk
            .iter()
            .filter(|event| {
                let key = (event.install_id.as_str(), event.event_id.as_str());
                let repeat = stored.iter().any(|(i, e)| i == key.0 && e == key.1);
                let new = !repeat && seen.insert(key);
                added.push(new);
                new
            })
            .copied()
            .collect();
        if fresh.is_empty() {
            continue;
        }
        let mut query = QueryBuilder::new(
            "INSERT INTO events (install_id, event_id, event_type, sent_time, order_id, \
             order_status, received_at, raw_body) ",
        );
        query.push_values(&fresh, |mut row, event| {
            row.push_bind(&event.install_id)
                .push_bind(&event.event_id)
                .push_bind(&event.event_type)
                .push_bind(&event.sent_time)
                .push_bind(&event.order_id)
                .push_bind(event.order_status)
                .push_bind(event.received_at)
                .push_bind(&event.raw_body);
        });
        // On SQLite it cannot conflict under the write lock; kept so a caller without it stays
        // correct. On PostgreSQL it is how repeats are found.
        query.push(" ON CONFLICT (install_id, event_id) DO NOTHING");
        if !returning {
            query.build().execute(&mut *conn).await?;
            continue;
        }
        query.push(" RETURNING install_id, event_id");
        let inserted: HashSet<(String, String)> = query
            .build_query_as::<(String, String)>()
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .collect();
        for (event, new) in chunk.iter().zip(&mut added[first..]) {
            *new = *new && inserted.contains(&(event.install_id.clone(), event.event_id.clone()));
        }
    }
    Ok(added)
}

/// Which of `events` are already stored, as (install, EventID).
async fn already_stored(
    conn: &mut AnyConnection,
    events: &[&NewEvent],
) -> sqlx::Result<Vec<(String, String)>> {
    let mut by_install: Vec<(&str, Vec<&str>)> = Vec::new();
    for event in events {
        match by_install
            .iter_mut()
            .find(|(id, _)| *id == event.install_id)
        {
            Some((_, ids)) => ids.push(&event.event_id),
            None => by_install.push((&event.install_id, vec![&event.event_id])),
        }
    }
    let mut query = QueryBuilder::new("SELECT install_id, event_id FROM events WHERE ");
    for (n, (install_id, event_ids)) in by_install.iter().enumerate() {
        if n > 0 {
            query.push(" OR ");
        }
        query.push("(install_id = ").push_bind(*install_id);
        query.push(" AND event_id IN (");
        let mut list = query.separated(", ");
        for event_id in event_ids {
            list.push_bind(*event_id);
        }
        query.push("))");
    }
    query.build_query_as().fetch_all(&mut *conn).await
}

/// What became of an event offered to [`insert_if_current`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offered {
    /// A new row.
    Stored,
    /// The install already had an event with this EventID (or one earlier in the same call did).
    Repeat,
    /// Not stored: its install is revoked, or its webhook key is no longer the one given.
    Stale,
}

/// In the caller's write transaction (which holds the write lock: [`super::begin_write`]),
/// stores each of `events` whose install is not revoked and still has the webhook key whose
/// sealed nonce is given beside it (the key its request was checked against), unless it is
/// already stored or appears earlier in `events`. Returns, in order, what became of each.
///
/// One look-up of the installs' keys ([`webhook_key_versions`]), then [`insert_many`] of those
/// still current. (On PostgreSQL the two as one statement measured no faster: a round trip on
/// the writer's own connection is no longer what a batch waits for.)
pub async fn insert_if_current(
    conn: &mut AnyConnection,
    events: &[(&NewEvent, &[u8])],
) -> sqlx::Result<Vec<Offered>> {
    let mut installs: Vec<&str> = events.iter().map(|(e, _)| e.install_id.as_str()).collect();
    installs.sort_unstable();
    installs.dedup();
    let keys = webhook_key_versions(conn, &installs).await?;
    let current: Vec<bool> = events
        .iter()
        .map(|(event, nonce)| {
            keys.iter()
                .any(|(install, key)| *install == event.install_id && key.as_slice() == *nonce)
        })
        .collect();
    let accepted: Vec<&NewEvent> = events
        .iter()
        .zip(&current)
        .filter(|(_, current)| **current)
        .map(|((event, _), _)| *event)
        .collect();
    let mut added = insert_many(conn, &accepted).await?.into_iter();
    Ok(current
        .into_iter()
        .map(
            |current| match (current, current && added.next() == Some(true)) {
                (false, _) => Offered::Stale,
                (true, true) => Offered::Stored,
                (true, false) => Offered::Repeat,
            },
        )
        .collect())
}

/// For those of `install_ids` that are not revoked and have a webhook key: the install and its
/// key's nonce (which identifies the sealed key). The webhook writer runs this inside its
/// transaction, so what it stores was authorized by the key still in force.
pub async fn webhook_key_versions(
    conn: &mut AnyConnection,
    install_ids: &[&str],
) -> sqlx::Result<Vec<(String, Vec<u8>)>> {
    let mut found = Vec::new();
    for chunk in install_ids.chunks(500) {
        let mut query = QueryBuilder::new(
            "SELECT i.id, c.nonce FROM installs i
             JOIN credentials c ON c.install_id = i.id AND c.kind = ",
        );
        query.push_bind(Kind::WebhookKey.as_str());
        query.push(" WHERE i.status <> 'revoked' AND i.id IN (");
        let mut ids = query.separated(", ");
        for id in chunk {
            ids.push_bind(*id);
        }
        query.push(")");
        found.extend(
            query
                .build_query_as::<(String, Vec<u8>)>()
                .fetch_all(&mut *conn)
                .await?,
        );
    }
    Ok(found)
}

/// A stored event, without its body (see [`raw_body`]).
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct Event {
    /// Increasing id: newer events have larger ids. The lists' cursor.
    pub id: i64,
    /// The install it was sent for.
    pub install_id: String,
    /// `<EventID>`.
    pub event_id: String,
    /// `<EventType>`, e.g. `Order`.
    pub event_type: String,
    /// `<CurrentTime>` as Maropost wrote it (store time, no zone).
    pub sent_time: Option<String>,
    /// `<OrderID>`.
    pub order_id: Option<String>,
    /// `<OrderStatus>`.
    pub order_status: Option<OrderStatus>,
    /// When storelink received it, Unix seconds.
    pub received_at: i64,
}

const EVENT_COLUMNS: &str =
    "id, install_id, event_id, event_type, sent_time, order_id, order_status, received_at";

/// The newest `limit` events of one install, newest first.
pub async fn latest_for_install(db: &Db, install_id: &str, limit: i64) -> sqlx::Result<Vec<Event>> {
    list(
        db,
        &Filter {
            install_id: Some(install_id.to_owned()),
            ..Filter::default()
        },
        None,
        limit,
    )
    .await
}

/// What the events list can be narrowed to; `None` means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// One install.
    pub install_id: Option<String>,
    /// One order (`<OrderID>`, exact).
    pub order_id: Option<String>,
    /// One order status.
    pub status: Option<OrderStatus>,
}

/// One page of events matching `filter`, newest first, starting after `before` (the `id` of the
/// last event of the previous page; `None` for the first page). At most `limit` rows: when a
/// page is full, pass its last `id` as `before` to get the next one.
///
/// Only the conditions in use go into the query, so SQLite reads the page straight from the
/// index that matches the filter (each ends in `id`).
pub async fn list(
    db: &Db,
    filter: &Filter,
    before: Option<i64>,
    limit: i64,
) -> sqlx::Result<Vec<Event>> {
    let mut query = QueryBuilder::new(format!("SELECT {EVENT_COLUMNS} FROM events WHERE 1 = 1"));
    push_filter(&mut query, filter);
    if let Some(before) = before {
        query.push(" AND id < ").push_bind(before);
    }
    query
        .push(" ORDER BY id DESC LIMIT ")
        .push_bind(limit.clamp(0, 1000));
    query.build_query_as().fetch_all(db).await
}

/// Where a page of [`list`] stands: how many events match `filter`, and how many of them come
/// before the page that starts below `before` (are on earlier pages).
pub async fn position(db: &Db, filter: &Filter, before: Option<i64>) -> sqlx::Result<(i64, i64)> {
    let mut query = QueryBuilder::new("SELECT COUNT(*), ");
    match before {
        Some(before) => {
            query
                // COUNT(CASE ...): both backends count it (SUM of a comparison is SQLite's).
                .push("COUNT(CASE WHEN id >= ")
                .push_bind(before)
                .push(" THEN 1 END)");
        }
        None => {
            query.push("0");
        }
    }
    query.push(" FROM events WHERE 1 = 1");
    push_filter(&mut query, filter);
    query.build_query_as().fetch_one(db).await
}

/// The `before` of the page ahead of the one that starts below `before`, for a "Previous"
/// link: `None` when that page is the first.
pub async fn previous_before(
    db: &Db,
    filter: &Filter,
    before: i64,
    page_size: i64,
) -> sqlx::Result<Option<i64>> {
    // The previous page is the `page_size` events from `before` upwards; the one just above
    // them, if any, is where that page starts below.
    let mut query = QueryBuilder::new("SELECT id FROM events WHERE 1 = 1");
    push_filter(&mut query, filter);
    query
        .push(" AND id >= ")
        .push_bind(before)
        .push(" ORDER BY id ASC LIMIT 1 OFFSET ")
        .push_bind(page_size);
    query.build_query_scalar().fetch_optional(db).await
}

/// Adds `filter`'s conditions to a query that ends in `WHERE 1 = 1`; only those in use, so
/// SQLite can pick the index that serves them.
fn push_filter(query: &mut QueryBuilder<'_>, filter: &Filter) {
    if let Some(install_id) = &filter.install_id {
        query
            .push(" AND install_id = ")
            .push_bind(install_id.clone());
    }
    if let Some(order_id) = &filter.order_id {
        query.push(" AND order_id = ").push_bind(order_id.clone());
    }
    if let Some(status) = filter.status {
        query.push(" AND order_status = ").push_bind(status);
    }
}

/// The events stored after event `after` (an `id`; 0 for the start), oldest first, of one
/// install or of all: a feed to poll. Ids only grow, and a transaction's events become visible
/// together once it commits (SQLite has one writer), so polling with the last `id` seen never
/// skips or repeats an event.
pub async fn feed(
    db: &Db,
    install_id: Option<&str>,
    after: i64,
    limit: i64,
) -> sqlx::Result<Vec<Event>> {
    let mut query = QueryBuilder::new(format!("SELECT {EVENT_COLUMNS} FROM events"));
    query.push(" WHERE id > ").push_bind(after);
    if let Some(install_id) = install_id {
        query
            .push(" AND install_id = ")
            .push_bind(install_id.to_owned());
    }
    query
        .push(" ORDER BY id LIMIT ")
        .push_bind(limit.clamp(0, 1000));
    query.build_query_as().fetch_all(db).await
}

/// [`feed`], of the events of one platform account's installs only.
pub async fn feed_for_account(
    db: &Db,
    platform: Platform,
    account_id: &str,
    after: i64,
    limit: i64,
) -> sqlx::Result<Vec<Event>> {
    sqlx::query_as(&format!(
        "SELECT {EVENT_COLUMNS} FROM events
         WHERE id > $1 AND install_id IN
             (SELECT id FROM installs WHERE provider = $2 AND account_id = $3)
         ORDER BY id LIMIT $4"
    ))
    .bind(after)
    .bind(platform)
    .bind(account_id)
    .bind(limit.clamp(0, 1000))
    .fetch_all(db)
    .await
}

/// One event by its row id.
pub async fn find(db: &Db, id: i64) -> sqlx::Result<Option<Event>> {
    sqlx::query_as(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The document an event arrived as (for showing it; escape it when you do).
pub async fn raw_body(db: &Db, id: i64) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT raw_body FROM events WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// How many events of each order status arrived at or after `since_unix`, most frequent first.
/// Events without an order (other event types) count under `None`.
pub async fn counts_by_status_since(
    db: &Db,
    since_unix: i64,
) -> sqlx::Result<Vec<(Option<OrderStatus>, i64)>> {
    sqlx::query_as(
        "SELECT order_status, COUNT(*) AS n FROM events WHERE received_at >= $1
         GROUP BY order_status ORDER BY n DESC, order_status",
    )
    .bind(since_unix)
    .fetch_all(db)
    .await
}

/// How many events arrived on each UTC day (`day` = Unix seconds / 86,400) at or after
/// `since_unix`, as `(day, count)`; days without any are left out.
pub async fn counts_by_day_since(db: &Db, since_unix: i64) -> sqlx::Result<Vec<(i64, i64)>> {
    sqlx::query_as(
        "SELECT received_at / 86400 AS day, COUNT(*) FROM events WHERE received_at >= $1
         GROUP BY day ORDER BY day",
    )
    .bind(since_unix)
    .fetch_all(db)
    .await
}

/// How many events each install received at or after `since_unix` (installs with none are not
/// listed).
pub async fn counts_by_install_since(db: &Db, since_unix: i64) -> sqlx::Result<Vec<(String, i64)>> {
    sqlx::query_as(
        "SELECT install_id, COUNT(*) FROM events WHERE received_at >= $1
         GROUP BY install_id ORDER BY install_id",
    )
    .bind(since_unix)
    .fetch_all(db)
    .await
}

/// What the webhook route needs to know about an install before it accepts an event: whether it
/// exists, its status, and its sealed webhook key. One query, because it runs on every request.
#[derive(Debug, Clone)]
pub struct Receiver {
    /// `active`, `revoked`, `needs_attention`.
    pub status: InstallStatus,
    /// The sealed `NETOAPI_KEY`, when one has been set.
    pub webhook_key: Option<Sealed>,
}

/// The install `install_id` as the webhook route sees it, or `None` when there is none.
pub async fn receiver(db: &Db, install_id: &str) -> sqlx::Result<Option<Receiver>> {
    type Row = (
        InstallStatus,
        Option<String>,
        Option<Vec<u8>>,
        Option<Vec<u8>>,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT i.status, c.key_id, c.nonce, c.ciphertext
         FROM installs i
         LEFT JOIN credentials c ON c.install_id = i.id AND c.kind = $2
         WHERE i.id = $1",
    )
    .bind(install_id)
    .bind(Kind::WebhookKey.as_str())
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(status, key_id, nonce, ciphertext)| Receiver {
        status,
        webhook_key: match (key_id, nonce, ciphertext) {
            (Some(key_id), Some(nonce), Some(ciphertext)) => Some(Sealed {
                key_id,
                nonce,
                ciphertext,
            }),
            _ => None,
        },
    }))
}
