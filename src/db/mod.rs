//! The database: the pool, migrations, and one module per table.
//!
//! SQLite runs in WAL mode with `synchronous=FULL`, so a write that has been acknowledged survives
//! a crash, and with a busy timeout, so concurrent writers wait instead of failing at once.

pub mod audit;
pub mod credentials;
pub mod events;
pub mod installs;
pub mod login_throttle;
pub mod oauth_states;
pub mod operators;
pub mod tokens;

use std::{path::PathBuf, str::FromStr, time::Duration};

use anyhow::Context as _;
use sqlx::{
    SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

/// The pool every part of storelink shares.
pub type Db = SqlitePool;

/// How long a writer waits for another one before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens (creating if missing) the database at `url` (`sqlite://PATH`).
pub async fn connect(url: &str) -> anyhow::Result<Db> {
    connect_with_busy_timeout(url, BUSY_TIMEOUT).await
}

/// [`connect`], with writers waiting at most `busy_timeout` for one another (tests shorten it).
pub async fn connect_with_busy_timeout(url: &str, busy_timeout: Duration) -> anyhow::Result<Db> {
    let options = SqliteConnectOptions::from_str(url)
        .with_context(|| "STORELINK_DATABASE_URL is not a valid sqlite:// URL")?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(busy_timeout)
        .foreign_keys(true);
    SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
        .with_context(|| format!("failed to open the database {}", display_url(url)))
}

/// Applies the migrations in `migrations/` that have not been applied yet.
pub async fn migrate(db: &Db) -> anyhow::Result<()> {
    sqlx::migrate!("./migrations")
        .run(db)
        .await
        .context("failed to apply database migrations")
}

/// The file behind a `sqlite://PATH` URL, if it names one.
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// A database URL without any password, for messages.
fn display_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
