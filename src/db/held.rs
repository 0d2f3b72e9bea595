//! Connections for single statements, held beside sqlx's pool.
//!
//! sqlx 0.8's pool takes every connection back through a task of its own and pings it first: a
//! round trip to SQLite's worker thread, or to the PostgreSQL server, after every statement.
//! Most of storelink's statements are one indexed read or write, for which that ping and task
//! cost about as much as the statement itself (benches/README.md, "Statements beside the pool").
//! So a statement outside a transaction runs on one of these connections instead (through
//! [`super::Db`]'s `Executor`), taken back without a ping; transactions and connections held for
//! longer (`begin`, `acquire`) still come from the pool.
//!
//! What the ping was for is kept otherwise:
//! - a statement cut off midway (its request dropped) leaves its connection *unsettled*: the
//!   next user pings it first, which reads what was left of the answer;
//! - a connection that failed (I/O, protocol, a crashed SQLite worker, a server shutting down)
//!   is closed, never reused, and the idle ones are pinged before their next use (what broke
//!   one, a server restart most likely, may have broken them all);
//! - on PostgreSQL a connection idle for a second or more is pinged before it is used, so one
//!   that a server restart broke is found and replaced instead of failing a request (what sqlx's
//!   `test_before_acquire` is for; under load no connection is idle that long);
//! - a connection is closed after [`MAX_LIFETIME`], as the pool's are, so no server session
//!   grows without end.
//!
//! New connections come from the pool (`acquire`, then `detach`), so each is set up exactly as
//! the pool's are (SQLite's pragmas, PostgreSQL's session settings).

use std::{
    sync::{Mutex, MutexGuard},
    time::{Duration, Instant},
};

use futures_util::{
    StreamExt as _,
    future::BoxFuture,
    stream::{self, BoxStream},
};
use sqlx::{
    Any, AnyConnection, AnyPool, Connection as _, Describe, Either, Execute, Executor,
    any::{AnyQueryResult, AnyRow, AnyStatement, AnyTypeInfo},
};
use tokio::sync::{Semaphore, SemaphorePermit};

/// How long a connection is used before it is closed and replaced (sqlx's pool default).
const MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// The held connections of one database.
pub(super) struct Held {
    /// Where new connections come from.
    pool: AnyPool,
    /// Connections not in use, the most recently used last.
    idle: Mutex<Vec<Idle>>,
    /// One permit per connection that may be open at once.
    permits: Semaphore,
    /// Ping a connection idle this long before it is used (PostgreSQL).
    ping_after_idle: Option<Duration>,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held")
            .field("idle", &locked(&self.idle).len())
            .field("available", &self.permits.available_permits())
            .finish()
    }
}

/// A connection waiting for its next statement.
struct Idle {
    conn: AnyConnection,
    since: Instant,
    opened: Instant,
    /// Its last statement was cut off, or another connection broke since: ping it (which
    /// settles it, or finds it broken) before it is used.
    unsettled: bool,
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A list of connections: a panic elsewhere cannot leave it inconsistent.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Held {
    /// Up to `size` connections of `pool`'s database; PostgreSQL's are pinged after
    /// `ping_after_idle`.
    pub(super) fn new(pool: AnyPool, size: usize, ping_after_idle: Option<Duration>) -> Self {
        Self {
            pool,
            idle: Mutex::new(Vec::with_capacity(size)),
            permits: Semaphore::new(size),
            ping_after_idle,
        }
    }

    /// A connection for one statement: an idle one, or a new one when none is; waits as long as
    /// the pool would (its acquire timeout) when all are in use.
    pub(super) async fn lease(&self) -> sqlx::Result<Lease<'_>> {
        let wait = self.pool.options().get_acquire_timeout();
        let permit = match tokio::time::timeout(wait, self.permits.acquire()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_closed)) => return Err(sqlx::Error::PoolClosed),
            Err(_elapsed) => return Err(sqlx::Error::PoolTimedOut),
        };
        loop {
            let idle = locked(&self.idle).pop();
            let Some(mut idle) = idle else {
                let conn = self.pool.acquire().await?.detach();
                return Ok(Lease::new(self, permit, conn, Instant::now()));
            };
            if idle.opened.elapsed() >= MAX_LIFETIME {
                let _ = idle.conn.close().await;
                continue;
            }
            let stale = self
                .ping_after_idle
                .is_some_and(|after| idle.since.elapsed() >= after);
            if (idle.unsettled || stale) && !answers(&mut idle.conn, wait).await {
                // Broken (a server restart, a crashed worker): try the next, or a new one.
                continue;
            }
            return Ok(Lease::new(self, permit, idle.conn, idle.opened));
        }
    }

    /// Closes every idle connection; no statement gets one afterwards, and those in use are
    /// closed when their statement ends.
    pub(super) async fn close(&self) {
        self.permits.close();
        let idle = std::mem::take(&mut *locked(&self.idle));
        for idle in idle {
            let _ = idle.conn.close().await;
        }
    }
}

/// Whether `conn` answers a ping within `wait` (a server that stopped answering without closing
/// the connection must not hold a statement longer than the pool's acquire timeout would).
async fn answers(conn: &mut AnyConnection, wait: Duration) -> bool {
    matches!(tokio::time::timeout(wait, conn.ping()).await, Ok(Ok(())))
}

/// One held connection, for one statement; given back when dropped.
pub(super) struct Lease<'a> {
    held: &'a Held,
    conn: Option<AnyConnection>,
    opened: Instant,
    /// The statement ran to its end (an answer or an error).
    settled: bool,
    /// The statement's error says the connection cannot be used again.
    broken: bool,
    _permit: SemaphorePermit<'a>,
}

impl<'a> Lease<'a> {
    fn new(
        held: &'a Held,
        permit: SemaphorePermit<'a>,
        conn: AnyConnection,
        opened: Instant,
    ) -> Self {
        Self {
            held,
            conn: Some(conn),
            opened,
            settled: false,
            broken: false,
            _permit: permit,
        }
    }

    /// Runs a statement expecting at most one row.
    async fn fetch_optional<'q, E>(&mut self, query: E) -> sqlx::Result<Option<AnyRow>>
    where
        E: 'q + Execute<'q, Any>,
    {
        let Some(conn) = self.conn.as_mut() else {
            return Err(sqlx::Error::PoolClosed);
        };
        let result = conn.fetch_optional(query).await;
        self.settle(result.as_ref().err());
        result
    }

    /// Runs a statement (or several), its whole answer read before it is returned.
    async fn fetch_many<'q, E>(&mut self, query: E) -> Vec<sqlx::Result<Step>>
    where
        E: 'q + Execute<'q, Any>,
    {
        let Some(conn) = self.conn.as_mut() else {
            return vec![Err(sqlx::Error::PoolClosed)];
        };
        let steps: Vec<_> = conn.fetch_many(query).collect().await;
        self.settle(steps.iter().find_map(|step| step.as_ref().err()));
        steps
    }

    /// The statement ran to its end, failing with `error` if it did.
    fn settle(&mut self, error: Option<&sqlx::Error>) {
        self.settled = true;
        self.broken = error.is_some_and(breaks_connection);
    }
}

/// What a statement answers, piece by piece: a result or a row.
type Step = Either<AnyQueryResult, AnyRow>;

/// A statement run on the database without a transaction takes a held connection for as long as
/// it runs. Its answer is read whole before the first row is handed on (storelink reads no
/// statement's answer as a stream; `fetch_all` and `execute` read it whole anyway), so the
/// connection is back before the caller goes on.
impl<'c> Executor<'c> for &'c super::Db {
    type Database = Any;

    fn fetch_many<'e, 'q: 'e, E>(self, query: E) -> BoxStream<'e, sqlx::Result<Step>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        let steps = async move {
            match self.held.lease().await {
                Ok(mut lease) => lease.fetch_many(query).await,
                Err(e) => vec![Err(e)],
            }
        };
        Box::pin(stream::once(steps).flat_map(stream::iter))
    }

    fn fetch_optional<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, sqlx::Result<Option<AnyRow>>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        Box::pin(async move { self.held.lease().await?.fetch_optional(query).await })
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [AnyTypeInfo],
    ) -> BoxFuture<'e, sqlx::Result<AnyStatement<'q>>>
    where
        'c: 'e,
    {
        (&self.pool).prepare_with(sql, parameters)
    }

    fn describe<'e, 'q: 'e>(self, sql: &'q str) -> BoxFuture<'e, sqlx::Result<Describe<Any>>>
    where
        'c: 'e,
    {
        (&self.pool).describe(sql)
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        if self.held.permits.is_closed() {
            // The database is being closed.
            return;
        }
        let mut idle = locked(&self.held.idle);
        if self.broken {
            // Dropped, not closed gracefully: it failed. What broke it (a server restart, most
            // likely) may have broken the idle ones too: each is pinged before its next use.
            for other in idle.iter_mut() {
                other.unsettled = true;
            }
            return;
        }
        idle.push(Idle {
            conn,
            since: Instant::now(),
            opened: self.opened,
            unsettled: !self.settled,
        });
    }
}

/// Whether an error means the connection it came from is gone: I/O, TLS or protocol errors, a
/// crashed SQLite worker, or PostgreSQL's connection exceptions (class 08) and operator
/// intervention (class 57: the server is shutting down, the session was terminated).
pub(crate) fn breaks_connection(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(e) => e
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57")),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A long answer: a million rows.
    const LONG: &str = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n \
                        WHERE i < 1000000) SELECT i FROM n";

    #[tokio::test]
    async fn a_statement_cut_off_leaves_its_connection_usable() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::connect(&format!("sqlite://{}", dir.path().join("t.db").display()))
            .await
            .unwrap();
        for _ in 0..3 {
            let cut = tokio::time::timeout(
                Duration::from_millis(5),
                sqlx::query_scalar::<_, i64>(LONG).fetch_all(&db),
            )
            .await;
            assert!(cut.is_err(), "the long statement was cut off");
            let answer: i64 = sqlx::query_scalar("SELECT 42")
                .fetch_one(&db)
                .await
                .unwrap();
            assert_eq!(answer, 42, "the next statement gets its own answer");
        }
        assert_eq!(locked(&db.held.idle).len(), 1, "one connection did it all");
        db.close().await;
        assert!(matches!(
            sqlx::query("SELECT 1").execute(&db).await,
            Err(sqlx::Error::PoolClosed)
        ));
    }

    #[tokio::test]
    async fn statements_at_once_share_the_held_connections() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::connect(&format!("sqlite://{}", dir.path().join("t.db").display()))
            .await
            .unwrap();
        let reads = (0..64).map(|i| {
            let db = db.clone();
            tokio::spawn(async move {
                sqlx::query_scalar::<_, i64>("SELECT $1")
                    .bind(i)
                    .fetch_one(&db)
                    .await
            })
        });
        for (i, read) in reads.enumerate() {
            assert_eq!(read.await.unwrap().unwrap(), i as i64);
        }
        let idle = locked(&db.held.idle).len();
        assert!((1..=8).contains(&idle), "{idle} connections, at most 8");
    }

    #[test]
    fn only_connection_failures_break_a_connection() {
        assert!(breaks_connection(&sqlx::Error::WorkerCrashed));
        assert!(breaks_connection(&sqlx::Error::Io(std::io::Error::other(
            "reset"
        ))));
        assert!(breaks_connection(&sqlx::Error::Protocol("bad".into())));
        assert!(!breaks_connection(&sqlx::Error::RowNotFound));
        assert!(!breaks_connection(&sqlx::Error::PoolTimedOut));
    }
}
