//! The database: the pool, migrations, and one module per table.
//!
//! One data layer for both backends: the pool is sqlx's `Any` driver, and the queries are written
//! in the SQL that SQLite and PostgreSQL share (`$1` placeholders, integer Unix times, `ON
//! CONFLICT`, `RETURNING`). Where the two really differ (search, a few SQLite-only functions, how
//! a writer takes its lock) the table modules ask [`dialect`], chosen by the pool's backend.
//!
//! SQLite runs in WAL mode with `synchronous=FULL`, so a write that has been acknowledged survives
//! a crash, with a busy timeout, so concurrent writers wait instead of failing at once, and with
//! foreign keys enforced; every pooled connection is set up so ([`connect_with_busy_timeout`]).

pub mod api_keys;
pub mod audit;
pub mod budgets;
pub mod credentials;
pub mod dialect;
pub mod endpoints;
pub mod events;
pub mod health;
mod held;
pub(crate) use held::breaks_connection;
pub mod inspect;
pub mod installs;
pub mod login_throttle;
pub mod oauth_states;
pub mod operators;
pub mod outbox;
mod query_builder;
pub mod sessions;
pub mod spent_grants;
pub mod token_state;

use std::{
    path::{Path, PathBuf},
    str::FromStr,
    time::Duration,
};

use anyhow::Context as _;
use sqlx::{
    AnyConnection, AnyPool, Connection as _, Executor as _,
    any::{AnyConnectOptions, AnyPoolOptions},
};

pub use dialect::Backend;
pub use query_builder::{QueryBuilder, Separated};

/// How long a PostgreSQL query waits for a pooled connection (one is opened when none is free)
/// before it fails: a few seconds, so an outage is answered with a 503 or an error page at once
/// instead of holding every request for half a minute.
pub const POSTGRES_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// A held PostgreSQL connection idle this long is pinged before its next statement: a server
/// restart may have broken it meanwhile. Under load none is idle that long, and none pays it.
const POSTGRES_IDLE_PING: Duration = Duration::from_secs(1);

/// The database every part of storelink shares: SQLite or PostgreSQL, by the URL it was opened
/// with. A statement run on it outside a transaction takes one of its held connections
/// ([`held`]: no ping after each statement); transactions and connections kept for longer
/// (`begin`, `acquire`, and everything else of sqlx's pool, which it derefs to) come from the
/// pool.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    held: std::sync::Arc<held::Held>,
    setup: Setup,
}

/// What every new connection runs before its first statement: SQLite's pragmas, PostgreSQL's
/// session settings. The pool's connections run it as they open (and the held ones come from
/// the pool); [`Db::connect_own`] runs it on its own.
#[derive(Debug, Clone, Default)]
pub struct Setup(std::sync::Arc<[String]>);

impl Setup {
    /// Runs `statements`, in order, on each new connection.
    pub fn new(statements: Vec<String>) -> Self {
        Self(statements.into())
    }

    async fn run(&self, conn: &mut AnyConnection) -> sqlx::Result<()> {
        for statement in self.0.iter() {
            conn.execute(statement.as_str()).await?;
        }
        Ok(())
    }
}

impl std::ops::Deref for Db {
    type Target = AnyPool;
    fn deref(&self) -> &AnyPool {
        &self.pool
    }
}

impl Db {
    /// `pool`, with up to `held` connections beside it for single statements, pinged before use
    /// when idle for `ping_after_idle` (PostgreSQL: a server restart may have broken them);
    /// `setup` is what the pool's connections run as they open.
    pub fn new(
        pool: AnyPool,
        held: usize,
        ping_after_idle: Option<Duration>,
        setup: Setup,
    ) -> Self {
        Self {
            held: std::sync::Arc::new(held::Held::new(pool.clone(), held, ping_after_idle)),
            pool,
            setup,
        }
    }

    /// A connection of its own, outside the pool and the held connections, set up as theirs
    /// are. Its socket is served by the Tokio runtime this is called on: for a task that runs on
    /// a runtime of its own and keeps its connection (the webhook writer), whose answers must
    /// not wait for a busy runtime to look at its sockets.
    pub async fn connect_own(&self) -> sqlx::Result<AnyConnection> {
        let mut conn = AnyConnection::connect_with(&self.pool.connect_options()).await?;
        self.setup.run(&mut conn).await?;
        Ok(conn)
    }

    /// Closes every connection: the held ones and the pool's.
    pub async fn close(&self) {
        self.held.close().await;
        self.pool.close().await;
    }
}

/// A transaction that writes: this process's turn to write to its database, and on SQLite the
/// write lock taken at once (`BEGIN IMMEDIATE`). Use it as the connection it derefs to; end it
/// with [`WriteTx::commit`] (dropped, it rolls back).
pub struct WriteTx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    _turn: tokio::sync::OwnedMutexGuard<()>,
}

impl std::ops::Deref for WriteTx {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

impl WriteTx {
    /// Commits, then gives the turn to the next writer.
    pub async fn commit(self) -> sqlx::Result<()> {
        self.tx.commit().await
    }

    /// Rolls back, then gives the turn to the next writer.
    pub async fn rollback(self) -> sqlx::Result<()> {
        self.tx.rollback().await
    }
}

/// A yes-or-no value read from the database. SQLite has no boolean type: its flag columns hold
/// 0 or 1, and so do the PostgreSQL twins (BIGINT), but a comparison (`revoked_at IS NOT NULL`)
/// answers a boolean on PostgreSQL. sqlx's `Any` driver decodes `bool` from a boolean only, so
/// a flag is read as this and turned into `bool` (`#[sqlx(try_from = "Flag")]` on a field).
/// Flags are written as `i64::from(flag)`, which both backends store in a flag column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag(pub bool);

impl From<Flag> for bool {
    fn from(flag: Flag) -> bool {
        flag.0
    }
}

impl sqlx::Type<sqlx::Any> for Flag {
    fn type_info() -> sqlx::any::AnyTypeInfo {
        <i64 as sqlx::Type<sqlx::Any>>::type_info()
    }

    fn compatible(ty: &sqlx::any::AnyTypeInfo) -> bool {
        <i64 as sqlx::Type<sqlx::Any>>::compatible(ty)
            || <bool as sqlx::Type<sqlx::Any>>::compatible(ty)
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Any> for Flag {
    fn decode(value: sqlx::any::AnyValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        if let Ok(flag) = <bool as sqlx::Decode<'r, sqlx::Any>>::decode(value.clone()) {
            return Ok(Self(flag));
        }
        Ok(Self(
            <i64 as sqlx::Decode<'r, sqlx::Any>>::decode(value)? != 0,
        ))
    }
}

/// Begins a transaction that writes ([`WriteTx`]).
///
/// Writers in this process (requests, the webhook writer, the notification worker) take turns
/// in arrival order ([`write_turn`]) before asking SQLite for the lock. Left to SQLite, a
/// writer that finds the lock taken sleeps in growing steps (up to 100 ms) before it looks
/// again, so a busy background writer would stall requests by tens of milliseconds; and a
/// deferred transaction, which starts as a reader, is refused at once rather than made to
/// wait. Other processes (the command line) still meet SQLite's busy timeout.
///
/// On PostgreSQL the transaction begins with the database-wide advisory write lock
/// ([`Backend::begin_write`]), so writers in every instance sharing the database take turns
/// as one SQLite file's writers do; the turn in this process comes first there too, so this
/// process's writers queue in arrival order without each holding a pooled connection.
pub async fn begin_write(db: &Db) -> sqlx::Result<WriteTx> {
    Ok(begin_write_contended(db).await?.0)
}

/// [`begin_write`], and whether another writer of this process held the turn when this one
/// asked for it. Background work that can wait (the notification worker) learns from it how
/// busy the requests' writers are, and spaces out its own transactions (each an fsync) when
/// they are.
pub async fn begin_write_contended(db: &Db) -> sqlx::Result<(WriteTx, bool)> {
    let turn = turn_of(db);
    let (turn, contended) = match turn.clone().try_lock_owned() {
        Ok(guard) => (guard, false),
        Err(_) => (turn.lock_owned().await, true),
    };
    let backend = Backend::of_pool(db);
    let tx = db.begin_with(backend.begin_write()).await?;
    Ok((WriteTx { tx, _turn: turn }, contended))
}

/// Waits for this process's turn to write to `db`'s database (its file, or its PostgreSQL URL);
/// the turn lasts as long as the guard. For writers that hold a connection of their own (the
/// webhook writer); others use [`begin_write`].
pub async fn write_turn(db: &Db) -> tokio::sync::OwnedMutexGuard<()> {
    turn_of(db).lock_owned().await
}

/// The turn to write to `db`'s file, one per file in this process.
fn turn_of(db: &Db) -> std::sync::Arc<tokio::sync::Mutex<()>> {
    use std::{
        collections::HashMap,
        sync::{Arc, Mutex, OnceLock},
    };
    type Turns = Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>;
    static TURNS: OnceLock<Turns> = OnceLock::new();
    let url = db.connect_options().database_url.clone();
    let file = sqlite_path(url.as_str()).unwrap_or_else(|| PathBuf::from(url.as_str()));
    TURNS
        .get_or_init(Turns::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .entry(file)
        .or_default()
        .clone()
}

/// How long a writer waits for another one before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens the database at `url`: `sqlite://PATH` (created if missing) or `postgres://...`.
pub async fn connect(url: &str) -> anyhow::Result<Db> {
    connect_with_busy_timeout(url, BUSY_TIMEOUT).await
}

/// [`connect`], with writers waiting at most `busy_timeout` for one another (tests shorten it):
/// SQLite's busy timeout, PostgreSQL's `lock_timeout`.
///
/// The database holds sealed credentials, session records and the audit log: a SQLite file
/// (`PATH`, `PATH-wal`, `PATH-shm`) is created readable by storelink's user only (mode 0600,
/// whatever the umask), and tightened to that if it exists with wider permissions.
pub async fn connect_with_busy_timeout(url: &str, busy_timeout: Duration) -> anyhow::Result<Db> {
    sqlx::any::install_default_drivers();
    let backend = Backend::from_url(url)
        .context("STORELINK_DATABASE_URL must be sqlite://PATH or postgres://USER@HOST/DATABASE")?;
    let db = match backend {
        Backend::Sqlite => connect_sqlite(url, busy_timeout).await?,
        Backend::Postgres => {
            let options = AnyConnectOptions::from_str(url)
                .context("STORELINK_DATABASE_URL is not a valid postgres:// URL")?;
            // A writer waits for the write lock (or a row another transaction holds) at most
            // the busy timeout, as on SQLite, and is then refused (`lock_not_available`).
            // Every statement is planned for its parameters: sqlx keeps statements prepared per
            // connection, and after five runs PostgreSQL may switch one to a generic plan, which
            // cannot use the pg_trgm indexes for `ILIKE $1` (a search would read every install).
            let setup = Setup::new(vec![
                format!(
                    "SET lock_timeout = {}; SET plan_cache_mode = force_custom_plan",
                    busy_timeout.as_millis()
                ),
                // storelink acknowledges a webhook event or an install only once it is durable:
                // a server (or role) set to `synchronous_commit = off` would lose the last
                // commits in a crash, so storelink's sessions turn it on. Stronger settings
                // (`remote_apply`, ...) are left as they are.
                "SELECT set_config('synchronous_commit', 'on', false)
                 WHERE current_setting('synchronous_commit') = 'off'"
                    .to_owned(),
            ]);
            let pool = AnyPoolOptions::new()
                // With the 8 held for single statements ([`Db`]), which are most of them, and
                // the webhook writer's own, an instance's 16 connections.
                .max_connections(7)
                // While the server is down, a request waits this long for a connection, then
                // fails with the usual error page or problem (sqlx's default is 30 s).
                .acquire_timeout(POSTGRES_ACQUIRE_TIMEOUT)
                .after_connect(after_connect(&setup))
                .connect_with(options)
                .await
                .with_context(|| format!("failed to open the database {}", display_url(url)))?;
            Db::new(pool, 8, Some(POSTGRES_IDLE_PING), setup)
        }
    };
    Ok(db)
}

/// The SQLite half of [`connect_with_busy_timeout`].
async fn connect_sqlite(url: &str, busy_timeout: Duration) -> anyhow::Result<Db> {
    let path = sqlite_path(url);
    if let Some(path) = &path {
        create_private(path)?;
    }
    // The Any driver builds SQLite's options from the URL alone, so what the URL cannot say is
    // set on every new connection instead, before the pool hands it out. `mode=rwc` creates the
    // file where `create_private` could not (the in-memory database, other platforms).
    let url = if url.contains("mode=") || path.is_none() {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    };
    let options = AnyConnectOptions::from_str(&url)
        .with_context(|| "STORELINK_DATABASE_URL is not a valid sqlite:// URL")?;
    let setup = Setup::new(vec![format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = {}; \
         PRAGMA foreign_keys = ON;",
        busy_timeout.as_millis()
    )]);
    let pool = AnyPoolOptions::new()
        .max_connections(8)
        // sqlx pings a pooled connection before handing it out, by default: on SQLite that is a
        // round trip to the connection's worker thread before every query. A SQLite connection
        // is an open file, not a socket that can die while idle, so there is nothing for the
        // ping to find; without it `/healthz` costs about a quarter less CPU (benches/README.md,
        // "The floor under every route").
        .test_before_acquire(false)
        .after_connect(after_connect(&setup))
        .connect_with(options)
        .await
        .with_context(|| format!("failed to open the database {}", display_url(&url)))?;
    if let Some(path) = &path {
        // SQLite gives the -wal and -shm files the main file's mode; make sure of it.
        restrict_files(path)?;
    }
    // Held connections need no ping either: an open file cannot break while idle.
    Ok(Db::new(pool, 8, None, setup))
}

/// The pool's hook that runs `setup` on each connection it opens.
fn after_connect(
    setup: &Setup,
) -> impl for<'c> Fn(
    &'c mut AnyConnection,
    sqlx::pool::PoolConnectionMetadata,
) -> futures_util::future::BoxFuture<'c, sqlx::Result<()>>
+ Send
+ Sync
+ 'static {
    let setup = setup.clone();
    move |conn, _| {
        let setup = setup.clone();
        Box::pin(async move { setup.run(conn).await })
    }
}

/// Creates the database file, empty, with mode 0600 if it does not exist yet, and tightens the
/// modes of the files that do.
fn create_private(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            // A missing directory and the like: SQLite names the problem when it opens the file.
            Err(_) => return Ok(()),
        }
    }
    restrict_files(path)
}

/// Sets mode 0600 on the database file and its `-wal` and `-shm` files where they exist with a
/// wider mode.
fn restrict_files(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        for suffix in ["", "-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            let file = PathBuf::from(name);
            let Ok(meta) = std::fs::metadata(&file) else {
                continue;
            };
            if meta.permissions().mode() & 0o077 != 0 {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                    .with_context(|| {
                        format!("cannot make {} private (mode 0600)", file.display())
                    })?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// The SQLite migrations, embedded in the binary.
pub(crate) static SQLITE_MIGRATIONS: sqlx::migrate::Migrator =
    sqlx::migrate!("./migrations/sqlite");
/// The PostgreSQL migrations, embedded in the binary.
pub(crate) static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator =
    sqlx::migrate!("./migrations/postgres");

/// Applies the migrations of `db`'s backend (`migrations/sqlite/` or `migrations/postgres/`)
/// that have not been applied yet.
///
/// On SQLite they run on one connection with foreign-key enforcement off, as SQLite documents for
/// schema changes (https://sqlite.org/lang_altertable.html#otheralter): rebuilding a table means
/// dropping the old one, which with enforcement on would delete every row that refers to it
/// through an `ON DELETE CASCADE`. (`PRAGMA foreign_keys` is a no-op inside a transaction, and
/// each migration runs in one, so a migration cannot turn it off itself.) Afterwards
/// `foreign_key_check` must find nothing, or start-up stops; enforcement is back on before the
/// connection is returned. PostgreSQL alters tables in place and checks keys as it goes.
pub async fn migrate(db: &Db) -> anyhow::Result<()> {
    match Backend::of_pool(db) {
        Backend::Sqlite => migrate_sqlite(db).await,
        Backend::Postgres => migrate_postgres(db).await,
    }
}

/// The PostgreSQL half of [`migrate`]. sqlx's migrator takes an advisory lock, so instances
/// starting together migrate one at a time; the others wait for it as long as the migrations
/// take (`lock_timeout = 0` on this connection), not the busy timeout every other wait gets. The
/// connection is closed afterwards rather than pooled with that setting.
async fn migrate_postgres(db: &Db) -> anyhow::Result<()> {
    let mut conn = db.acquire().await.context("failed to open the database")?;
    conn.close_on_drop();
    sqlx::query("SET lock_timeout = 0")
        .execute(&mut *conn)
        .await?;
    POSTGRES_MIGRATIONS
        .run(&mut *conn)
        .await
        .context("failed to apply database migrations")
}

/// The SQLite half of [`migrate`].
async fn migrate_sqlite(db: &Db) -> anyhow::Result<()> {
    let mut conn = db.acquire().await.context("failed to open the database")?;
    sqlx::query("PRAGMA foreign_keys = OFF")
        .execute(&mut *conn)
        .await?;
    let applied = SQLITE_MIGRATIONS
        .run(&mut *conn)
        .await
        .context("failed to apply database migrations");
    let broken: sqlx::Result<Vec<(String,)>> =
        sqlx::query_as("SELECT \"table\" FROM pragma_foreign_key_check")
            .fetch_all(&mut *conn)
            .await;
    sqlx::query("PRAGMA foreign_keys = ON")
        .execute(&mut *conn)
        .await?;
    applied?;
    let broken = broken?;
    if let Some((table,)) = broken.first() {
        // Never go on with rows that point nowhere; the connection must not go back to the pool
        // as it is either.
        conn.detach();
        anyhow::bail!(
            "failed to apply database migrations: {} row(s) of {table} refer to rows that do not exist",
            broken.len()
        );
    }
    Ok(())
}

/// The file behind a `sqlite://PATH` URL, if it names one.
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// A database URL as storelink shows it (logs, errors, `doctor`): scheme, host, port and
/// database only. User names, passwords (in the user info or as `?password=`), and every other
/// parameter are left out, whatever the URL carries.
pub fn display_url(url: &str) -> String {
    if let Some(path) = url.strip_prefix("sqlite:") {
        // A path, not a host: everything before the parameters.
        let path = path.split('?').next().unwrap_or_default();
        return format!("sqlite:{path}");
    }
    match url::Url::parse(url) {
        Ok(parsed) => {
            let mut shown = format!("{}://", parsed.scheme());
            if let Some(host) = parsed.host_str() {
                shown.push_str(host);
            }
            if let Some(port) = parsed.port() {
                shown.push_str(&format!(":{port}"));
            }
            shown.push_str(parsed.path());
            shown
        }
        Err(_) => "(a URL that does not parse)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_urls_keep_no_credentials_or_parameters() {
        assert_eq!(
            display_url("postgres://app:hunter2@db.internal:5433/storelink?sslmode=require"),
            "postgres://db.internal:5433/storelink"
        );
        assert_eq!(
            display_url("postgres://db.internal/storelink?user=app&password=hunter2"),
            "postgres://db.internal/storelink"
        );
        assert_eq!(
            display_url("postgresql:///storelink?host=/run/postgresql&password=hunter2"),
            "postgresql:///storelink"
        );
        assert_eq!(
            display_url("sqlite:///var/lib/storelink/x.db?mode=rwc"),
            "sqlite:///var/lib/storelink/x.db"
        );
        assert_eq!(
            display_url("sqlite://storelink.db"),
            "sqlite://storelink.db"
        );
        assert!(!display_url("postgres://a b:hunter2@x/y?password=hunter2").contains("hunter2"));
    }

    #[test]
    fn sqlite_paths() {
        assert_eq!(
            sqlite_path("sqlite://storelink.db"),
            Some(PathBuf::from("storelink.db"))
        );
        assert_eq!(
            sqlite_path("sqlite:///var/lib/x.db?mode=rwc"),
            Some(PathBuf::from("/var/lib/x.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://x"), None);
    }

    #[tokio::test]
    async fn a_writer_learns_whether_another_held_the_turn() {
        let dir = tempfile::tempdir().unwrap();
        let db = connect(&format!("sqlite://{}", dir.path().join("t.db").display()))
            .await
            .unwrap();
        let (first, contended) = begin_write_contended(&db).await.unwrap();
        assert!(!contended, "nobody else was writing");
        let second = tokio::spawn({
            let db = db.clone();
            async move { begin_write_contended(&db).await.unwrap().1 }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        first.commit().await.unwrap();
        assert!(second.await.unwrap(), "it waited for the first");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn database_files_are_private_and_wider_modes_are_tightened() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let url = format!("sqlite://{}", path.display());
        let mode = |suffix: &str| {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            std::fs::metadata(PathBuf::from(name))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        let db = connect(&url).await.unwrap();
        sqlx::query("CREATE TABLE t (x)")
            .execute(&db)
            .await
            .unwrap();
        for suffix in ["", "-wal", "-shm"] {
            assert_eq!(mode(suffix), 0o600, "{suffix}");
        }
        db.close().await;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let db = connect(&url).await.unwrap();
        assert_eq!(mode(""), 0o600, "a world-readable file is tightened");
        db.close().await;
    }

    #[tokio::test]
    async fn pragmas_are_set() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let db = connect(&url).await.unwrap();
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&db)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&db)
            .await
            .unwrap();
        assert_eq!(sync, 2, "synchronous=FULL");
        let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(&db)
            .await
            .unwrap();
        assert_eq!(busy, 5000);
    }
}
