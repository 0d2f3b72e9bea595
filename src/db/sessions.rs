//! Sessions, stored under the SHA-256 of their id.
//!
//! The session cookie carries a random 128-bit id; the `sessions` table (tower-sessions' SQLite
//! or PostgreSQL store) keeps each record under a hash of that id instead of the id itself, so a
//! copy of the database (a backup, a leaked file) holds no id that logs anyone in: presenting a
//! stored id looks up its hash, which matches nothing.
//!
//! tower-sessions' stores take their driver's own pool, not sqlx's `Any` pool the rest of
//! storelink shares, so the store opens a small pool of its own to the same database, set up
//! like the main one (for SQLite: WAL, `synchronous=FULL`, the busy timeout, foreign keys).

use std::{
    str::FromStr as _,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use sha2::{Digest as _, Sha256};
use tower_sessions::{
    ExpiredDeletion, SessionStore,
    session::{Id, Record},
    session_store,
};

use sqlx::{
    postgres::{PgConnectOptions, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

use super::{Backend, Db};

/// The session table's name.
pub const TABLE: &str = "sessions";

/// tower-sessions' store for `db`'s backend, keyed by the SHA-256 of each session id.
#[derive(Debug, Clone)]
pub struct HashedSessionStore {
    inner: Inner,
    /// When the store last failed to reach its database, if it has since been unable to.
    unreachable_since: Arc<Mutex<Option<Instant>>>,
}

/// After the database could not be reached, the store answers "unreachable" at once for this
/// long instead of waiting out the pool's acquire timeout again: a page reads its session more
/// than once (the handler, then the session layer), and during an outage each read would wait.
const FAIL_FAST_FOR: Duration = Duration::from_secs(2);

/// The store of each backend.
#[derive(Debug, Clone)]
enum Inner {
    Sqlite(SqliteStore),
    /// The store, and its pool (the store keeps it private).
    Postgres(PostgresStore, sqlx::PgPool),
}

/// Calls the same method on whichever store is inside.
macro_rules! inner {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match &$self.inner {
            Inner::Sqlite(store) => store.$method($($arg),*).await,
            Inner::Postgres(store, _) => store.$method($($arg),*).await,
        }
    };
}

impl HashedSessionStore {
    /// The store on the `sessions` table of `db`'s database. Its pool connects when first used.
    pub fn new(db: Db) -> anyhow::Result<Self> {
        let url = db.connect_options().database_url.to_string();
        let name_error = |e: String| anyhow::anyhow!("session table name: {e}");
        let inner = match Backend::of_pool(&db) {
            Backend::Sqlite => {
                let options = SqliteConnectOptions::from_str(&url)?
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .busy_timeout(super::BUSY_TIMEOUT)
                    .foreign_keys(true);
                let pool = SqlitePoolOptions::new()
                    .max_connections(4)
                    .connect_lazy_with(options);
                Inner::Sqlite(
                    SqliteStore::new(pool)
                        .with_table_name(TABLE)
                        .map_err(name_error)?,
                )
            }
            Backend::Postgres => {
                let options = PgConnectOptions::from_str(&url)?;
                let pool = PgPoolOptions::new()
                    .max_connections(4)
                    // As the main pool: an outage fails a page in seconds, not half a minute.
                    .acquire_timeout(super::POSTGRES_ACQUIRE_TIMEOUT)
                    .connect_lazy_with(options);
                Inner::Postgres(
                    PostgresStore::new(pool.clone())
                        .with_schema_name("public")
                        .and_then(|store| store.with_table_name(TABLE))
                        .map_err(name_error)?,
                    pool,
                )
            }
        };
        Ok(Self {
            inner,
            unreachable_since: Arc::default(),
        })
    }

    /// Runs `op` unless the database was unreachable a moment ago, and remembers whether it was
    /// reachable this time.
    async fn guarded<T>(
        &self,
        op: impl std::future::Future<Output = session_store::Result<T>>,
    ) -> session_store::Result<T> {
        let since = *self
            .unreachable_since
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if since.is_some_and(|at| at.elapsed() < FAIL_FAST_FOR) {
            return Err(session_store::Error::Backend(
                "the session store's database was unreachable a moment ago".into(),
            ));
        }
        let result = op.await;
        let failed = matches!(result, Err(session_store::Error::Backend(_)));
        *self
            .unreachable_since
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = failed.then(Instant::now);
        result
    }

    /// Creates the table if it is missing.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let created = match &self.inner {
            Inner::Sqlite(store) => store.migrate().await,
            Inner::Postgres(store, pool) => migrate_postgres(store, pool).await,
        };
        created.map_err(|e| anyhow::anyhow!("failed to create the sessions table: {e}"))
    }
}

/// The key of the advisory lock instances take turns under to create the sessions table: a
/// fixed number ("sessions" in ASCII).
const CREATE_LOCK: i64 = 0x7365_7373_696f_6e73;

/// Creates the PostgreSQL table, one instance at a time: instances starting at once would race,
/// and PostgreSQL's catalog refuses the loser's `CREATE TABLE IF NOT EXISTS` with a duplicate
/// key. The lock is a session lock on one connection, given back (or gone with the connection)
/// whatever the outcome.
async fn migrate_postgres(store: &PostgresStore, pool: &sqlx::PgPool) -> sqlx::Result<()> {
    let mut conn = pool.acquire().await?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(CREATE_LOCK)
        .execute(&mut *conn)
        .await?;
    let created = store.migrate().await;
    let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(CREATE_LOCK)
        .execute(&mut *conn)
        .await;
    if unlocked.is_err() {
        // Closing the connection ends its session, and the lock with it.
        conn.close_on_drop();
    }
    created
}

/// What the table stores for session id `id`.
pub fn stored_id(id: &Id) -> Id {
    let digest = Sha256::digest(id.0.to_le_bytes());
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest[..16]);
    Id(i128::from_le_bytes(first))
}

fn hashed(record: &Record) -> Record {
    Record {
        id: stored_id(&record.id),
        ..record.clone()
    }
}

#[async_trait]
impl SessionStore for HashedSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        loop {
            let mut stored = hashed(record);
            let wanted = stored.id;
            inner!(self.create(&mut stored))?;
            if stored.id == wanted {
                return Ok(());
            }
            // The hash was taken (as likely as guessing a session id): the inner store saved the
            // record under an id of its own, which no cookie hashes to. Drop it, draw again.
            inner!(self.delete(&stored.id))?;
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.guarded(async { inner!(self.save(&hashed(record))) })
            .await
    }

    async fn load(&self, session_id: &Id) -> session_store::Result<Option<Record>> {
        let loaded = self
            .guarded(async { inner!(self.load(&stored_id(session_id))) })
            .await?;
        Ok(loaded.map(|record| Record {
            id: *session_id,
            ..record
        }))
    }

    async fn delete(&self, session_id: &Id) -> session_store::Result<()> {
        self.guarded(async { inner!(self.delete(&stored_id(session_id))) })
            .await
    }
}

#[async_trait]
impl ExpiredDeletion for HashedSessionStore {
    async fn delete_expired(&self) -> session_store::Result<()> {
        inner!(self.delete_expired())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_are_kept_under_the_hash_of_their_id() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::connect(&format!("sqlite://{}", dir.path().join("s.db").display()))
            .await
            .unwrap();
        let store = HashedSessionStore::new(db.clone()).unwrap();
        store.migrate().await.unwrap();
        let mut record = Record {
            id: Id::default(),
            data: Default::default(),
            expiry_date: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
        };
        record
            .data
            .insert("who".into(), serde_json::json!("operator"));
        store.create(&mut record).await.unwrap();

        let stored: Vec<String> = sqlx::query_scalar("SELECT id FROM sessions")
            .fetch_all(&db)
            .await
            .unwrap();
        assert_eq!(stored, [stored_id(&record.id).to_string()]);
        assert_ne!(stored[0], record.id.to_string());

        let loaded = store.load(&record.id).await.unwrap().unwrap();
        assert_eq!(loaded.id, record.id);
        assert_eq!(loaded.data["who"], "operator");
        // The id read from the table opens nothing.
        let leaked: Id = stored[0].parse().unwrap();
        assert!(store.load(&leaked).await.unwrap().is_none());

        store.delete(&record.id).await.unwrap();
        assert!(store.load(&record.id).await.unwrap().is_none());
    }
}
