//! Where SQLite and PostgreSQL really differ: the only place the data layer asks which backend it
//! is on.
//!
//! Every other query is written once, in the SQL both accept. What lives here: how a writer
//! starts its transaction, searching installs (an FTS5 trigram table on SQLite, `pg_trgm` on
//! PostgreSQL) and ordering rows by arrival where a table has no column for it (SQLite's
//! `rowid`).

use sqlx::AnyConnection;

use super::{Db, QueryBuilder};

/// The database behind a [`Db`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite: one file, one process writing at a time.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Backend {
    /// The backend a database URL names, if storelink knows it.
    pub fn from_url(url: &str) -> Option<Self> {
        let scheme = url.split(':').next().unwrap_or_default();
        match scheme {
            "sqlite" => Some(Self::Sqlite),
            "postgres" | "postgresql" => Some(Self::Postgres),
            _ => None,
        }
    }

    /// The backend `db` was opened on.
    pub fn of_pool(db: &Db) -> Self {
        Self::from_url(db.connect_options().database_url.as_str()).unwrap_or(Self::Sqlite)
    }

    /// The backend of one connection (or transaction), for the `*_in` functions.
    pub fn of(conn: &AnyConnection) -> Self {
        if conn.backend_name().eq_ignore_ascii_case("postgresql") {
            Self::Postgres
        } else {
            Self::Sqlite
        }
    }

    /// How [`super::begin_write`] starts its transaction, write lock included, in one round
    /// trip. SQLite's `IMMEDIATE` takes the write lock at once, so a transaction that reads
    /// before it writes cannot be refused midway.
    ///
    /// On PostgreSQL the lock is a transaction-level advisory lock ([`WRITE_LOCK`]), so writers
    /// take turns across every instance sharing the database as they do on one SQLite file: a
    /// transaction that reads, decides and writes (the webhook writer's key check, the login
    /// throttle, a rename, the outbox's claims) cannot be overtaken by another instance's
    /// commit, and events (stored by the webhook writer only) commit in id order, which the
    /// readers that go forward by id rely on (the order log's cursors, `/api/v1/events`). How
    /// long a writer waits is the connection's `lock_timeout`.
    ///
    /// The lock comes before the `BEGIN`, in the same simple query: the query runs as one
    /// implicit transaction, which the `BEGIN` turns into the explicit one, lock included (held
    /// to its commit or rollback). Had the lock come second, a lock that times out would leave
    /// an open, failed transaction on a connection the driver believes idle; this way the
    /// whole query fails and nothing is left open (tests:
    /// `a_writer_refused_the_lock_leaves_nothing_open`).
    pub fn begin_write(self) -> &'static str {
        match self {
            Self::Sqlite => "BEGIN IMMEDIATE",
            Self::Postgres => BEGIN_WRITE_POSTGRES,
        }
    }

    /// The statement that makes the `order.status_changed` messages of the events after `$3`
    /// up to `$4` for endpoint `$2`, with ids that start with the time in milliseconds `$1`
    /// (see [`super::outbox::make_order_messages`]). The body is built by the database, as the
    /// application builds every other body: `{"data", "timestamp", "type"}` with the event's
    /// fields as Maropost sent them. SQLite writes it byte for byte as serde_json does;
    /// PostgreSQL's JSON text puts spaces after `:` and `,`, which is the same JSON (every
    /// attempt sends the stored bytes, and the signature covers them).
    pub fn make_order_messages(self) -> &'static str {
        match self {
            Self::Sqlite => MAKE_ORDER_MESSAGES_SQLITE,
            Self::Postgres => MAKE_ORDER_MESSAGES_POSTGRES,
        }
    }

    /// The smaller of two numbers, as a function name: SQLite's scalar `min(a, b)` is
    /// PostgreSQL's `LEAST(a, b)` (PostgreSQL's `min` is only the aggregate).
    pub fn least(self) -> &'static str {
        match self {
            Self::Sqlite => "min",
            Self::Postgres => "LEAST",
        }
    }

    /// The larger of two numbers, as a function name (see [`Self::least`]).
    pub fn greatest(self) -> &'static str {
        match self {
            Self::Sqlite => "max",
            Self::Postgres => "GREATEST",
        }
    }

    /// A tie-breaker after `created_at DESC` for "newest first" on a table whose key is random:
    /// SQLite's rowid follows arrival; PostgreSQL has no such column, and its order within one
    /// second is the key's.
    pub fn newest_first_tiebreak(self, key: &str) -> String {
        match self {
            Self::Sqlite => "rowid DESC".to_owned(),
            Self::Postgres => format!("{key} DESC"),
        }
    }
}

/// The key of storelink's advisory write lock on PostgreSQL ([`Backend::begin_write`]): a
/// fixed number ("storelin" in ASCII), the same in every instance and version.
pub const WRITE_LOCK: i64 = 0x7374_6f72_656c_696e;

/// [`Backend::begin_write`] on PostgreSQL: [`WRITE_LOCK`] written out, since a `BEGIN` with
/// its own statement is sent as a simple query, which takes no parameters (a unit test checks
/// the number). The lock's `void` row is read by the driver's `BEGIN`, which drops it (the
/// `Any` driver's row conversion, which cannot decode `void`, never sees it).
const BEGIN_WRITE_POSTGRES: &str = "SELECT pg_advisory_xact_lock(8319396948778707310); BEGIN";

/// Adds ` AND <installs matching text>` to a query on `installs`: any part of the store's domain
/// or name, case-insensitive. `text` is trimmed and not empty.
pub async fn push_install_search(
    db: &Db,
    query: &mut QueryBuilder<'_>,
    text: &str,
) -> sqlx::Result<()> {
    let pattern = format!(
        "%{}%",
        text.replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    match Backend::of_pool(db) {
        Backend::Sqlite => {
            // The trigram index finds rare text at once, but a term in most rows ("example")
            // would hand back every row before the page is sorted. So: ask the index for a few
            // hits; if it has that many, matches are dense and scanning in list order finds a
            // page quickly. The index needs three characters; shorter searches scan too.
            let indexed = text.chars().count() >= 3 && !dense_fts_match(db, text).await?;
            if indexed {
                query
                    .push(
                        " AND rowid IN (SELECT rowid FROM installs_search \
                         WHERE installs_search MATCH ",
                    )
                    .push_bind(fts_phrase(text))
                    .push(")");
            } else {
                // SQLite's LIKE ignores ASCII case, as the trigram index does.
                query
                    .push(" AND (store_domain LIKE ")
                    .push_bind(pattern.clone())
                    .push(" ESCAPE '\\' OR store_name LIKE ")
                    .push_bind(pattern)
                    .push(" ESCAPE '\\')");
            }
        }
        Backend::Postgres => {
            // pg_trgm's GIN indexes serve ILIKE (three characters or more); the planner weighs
            // index against ordered scan itself, from the table's statistics.
            query
                .push(" AND (store_domain ILIKE ")
                .push_bind(pattern.clone())
                .push(" ESCAPE '\\' OR store_name ILIKE ")
                .push_bind(pattern)
                .push(" ESCAPE '\\')");
        }
    }
    Ok(())
}

/// Whether `text` matches so many installs that an ordered scan beats SQLite's trigram index.
async fn dense_fts_match(db: &Db, text: &str) -> sqlx::Result<bool> {
    const DENSE: i64 = 1000;
    let hits: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM
             (SELECT 1 FROM installs_search WHERE installs_search MATCH $1 LIMIT $2)",
    )
    .bind(fts_phrase(text))
    .bind(DENSE)
    .fetch_one(db)
    .await?;
    Ok(hits >= DENSE)
}

/// The search text as one FTS5 phrase: quoted, inner quotes doubled, so nothing the operator
/// types is read as query syntax.
fn fts_phrase(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

const MAKE_ORDER_MESSAGES_SQLITE: &str = "
    INSERT INTO notify_messages (id, endpoint_id, event_type, install_id, body, created_at,
        next_attempt_at)
    SELECT 'msg_' || printf('%012x', $1) || lower(hex(randomblob(10))), $2,
        'order.status_changed', install_id,
        json_object(
            'data', json_object(
                'current_time', sent_time,
                'event_id', event_id,
                'event_type', event_type,
                'install_id', install_id,
                'order_id', order_id,
                'order_status', order_status),
            'timestamp', strftime('%Y-%m-%dT%H:%M:%SZ', received_at, 'unixepoch'),
            'type', 'order.status_changed'),
        received_at, received_at
    FROM events WHERE id > $3 AND id <= $4 ORDER BY id";

// 80 random bits as 20 hex digits, from two `random()` draws per row (ids must be unique, not
// secret: the endpoint's signature is what a receiver trusts).
const MAKE_ORDER_MESSAGES_POSTGRES: &str = "
    INSERT INTO notify_messages (id, endpoint_id, event_type, install_id, body, created_at,
        next_attempt_at)
    SELECT 'msg_' || lpad(to_hex($1::BIGINT), 12, '0')
            || lpad(to_hex((random() * 1099511627775)::BIGINT), 10, '0')
            || lpad(to_hex((random() * 1099511627775)::BIGINT), 10, '0'),
        $2, 'order.status_changed', install_id,
        json_build_object(
            'data', json_build_object(
                'current_time', sent_time,
                'event_id', event_id,
                'event_type', event_type,
                'install_id', install_id,
                'order_id', order_id,
                'order_status', order_status),
            'timestamp', to_char(to_timestamp(received_at) AT TIME ZONE 'UTC',
                                 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
            'type', 'order.status_changed')::TEXT,
        received_at, received_at
    FROM events WHERE id > $3 AND id <= $4 ORDER BY id";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_postgres_write_begin_takes_the_write_lock() {
        assert_eq!(
            BEGIN_WRITE_POSTGRES,
            format!("SELECT pg_advisory_xact_lock({WRITE_LOCK}); BEGIN")
        );
    }

    #[test]
    fn backends_by_url() {
        assert_eq!(
            Backend::from_url("sqlite://storelink.db"),
            Some(Backend::Sqlite)
        );
        assert_eq!(Backend::from_url("sqlite::memory:"), Some(Backend::Sqlite));
        assert_eq!(
            Backend::from_url("postgres://postgres@127.0.0.1/storelink"),
            Some(Backend::Postgres)
        );
        assert_eq!(
            Backend::from_url("postgresql://u:p@h/d"),
            Some(Backend::Postgres)
        );
        assert_eq!(Backend::from_url("mysql://x"), None);
        assert_eq!(Backend::from_url("storelink.db"), None);
    }

    #[test]
    fn fts_phrases_are_quoted() {
        assert_eq!(fts_phrase("a\"b"), "\"a\"\"b\"");
    }
}
