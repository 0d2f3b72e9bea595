//! Looking at a database without changing it, for `storelink doctor` while `serve` runs: a pool
//! that cannot write, creates no file and waits for nobody's lock, and which migrations the
//! database holds beside the ones this binary carries.

use std::{str::FromStr as _, time::Duration};

use anyhow::Context as _;
use sqlx::{
    Executor as _,
    any::{AnyConnectOptions, AnyPoolOptions},
};

use super::{Backend, Db, Flag, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS, display_url};

/// How long a look waits for a connection (or for a writer's lock on SQLite's schema).
const WAIT: Duration = Duration::from_secs(5);

/// A pool on `url` that only reads: SQLite's `query_only` on a file that must exist (`mode=rw`:
/// never created), PostgreSQL's read-only transactions. It connects when first used, so a
/// database that cannot be reached shows up as the first query's error.
pub fn open_read_only(url: &str) -> anyhow::Result<Db> {
    sqlx::any::install_default_drivers();
    let backend = Backend::from_url(url)
        .context("STORELINK_DATABASE_URL must be sqlite://PATH or postgres://USER@HOST/DATABASE")?;
    let (url, settings) = match backend {
        Backend::Sqlite => {
            let joiner = if url.contains('?') { '&' } else { '?' };
            (
                format!("{url}{joiner}mode=rw"),
                format!(
                    "PRAGMA busy_timeout = {}; PRAGMA query_only = ON;",
                    WAIT.as_millis()
                ),
            )
        }
        Backend::Postgres => (
            url.to_owned(),
            format!(
                "SET default_transaction_read_only = on; SET lock_timeout = {}",
                WAIT.as_millis()
            ),
        ),
    };
    let options = AnyConnectOptions::from_str(&url)
        .with_context(|| format!("STORELINK_DATABASE_URL: cannot read {}", display_url(&url)))?;
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(WAIT)
        .after_connect(move |conn, _| {
            let settings = settings.clone();
            Box::pin(async move {
                conn.execute(settings.as_str()).await?;
                Ok(())
            })
        })
        .connect_lazy_with(options);
    // One held connection for the single statements, set up as the pool's: a look is short.
    Ok(Db::new(pool, 1, None, super::Setup::default()))
}

/// Which migrations a database holds, against the ones this binary carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationStatus {
    /// Applied, and known to this binary.
    pub current: usize,
    /// Known to this binary, not applied yet (`serve` applies them at start).
    pub pending: Vec<i64>,
    /// Applied, but unknown to this binary: a newer storelink migrated the database.
    pub unknown: Vec<i64>,
    /// Recorded as failed part-way.
    pub failed: Vec<i64>,
}

/// Reads the migrations table (none yet: every migration is pending).
pub async fn migration_status(db: &Db) -> sqlx::Result<MigrationStatus> {
    let backend = Backend::of_pool(db);
    let exists_sql = match backend {
        Backend::Sqlite => {
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
        }
        Backend::Postgres => {
            "SELECT COUNT(*) FROM information_schema.tables
             WHERE table_name = '_sqlx_migrations' AND table_schema = current_schema()"
        }
    };
    let exists: i64 = sqlx::query_scalar(exists_sql).fetch_one(db).await?;
    let applied: Vec<(i64, Flag)> = if exists > 0 {
        sqlx::query_as(
            // `success` is a boolean on PostgreSQL and 0 or 1 on SQLite: read as a number.
            "SELECT version, CASE WHEN success THEN CAST(1 AS BIGINT) ELSE CAST(0 AS BIGINT) END
             FROM _sqlx_migrations ORDER BY version",
        )
        .fetch_all(db)
        .await?
    } else {
        Vec::new()
    };
    let migrator = match backend {
        Backend::Sqlite => &SQLITE_MIGRATIONS,
        Backend::Postgres => &POSTGRES_MIGRATIONS,
    };
    let known: Vec<i64> = migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| m.version)
        .collect();
    Ok(compare(&known, &applied))
}

/// What `applied` (version, succeeded) is beside the `known` versions.
fn compare(known: &[i64], applied: &[(i64, Flag)]) -> MigrationStatus {
    let mut status = MigrationStatus::default();
    for (version, Flag(succeeded)) in applied {
        if !succeeded {
            status.failed.push(*version);
        } else if known.contains(version) {
            status.current += 1;
        } else {
            status.unknown.push(*version);
        }
    }
    status.pending = known
        .iter()
        .filter(|v| !applied.iter().any(|(a, _)| a == *v))
        .copied()
        .collect();
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applied_migrations_are_sorted_into_current_pending_unknown_and_failed() {
        let known = [1, 2, 3, 4];
        let applied = [
            (1, Flag(true)),
            (2, Flag(true)),
            (3, Flag(false)),
            (9, Flag(true)),
        ];
        assert_eq!(
            compare(&known, &applied),
            MigrationStatus {
                current: 2,
                pending: vec![4],
                unknown: vec![9],
                failed: vec![3],
            }
        );
        assert_eq!(compare(&known, &[]).pending, known);
    }

    #[tokio::test]
    async fn a_read_only_look_writes_nothing_and_creates_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let url = format!("sqlite://{}", path.display());
        let missing = open_read_only(&url).unwrap();
        assert!(sqlx::query("SELECT 1").execute(&missing).await.is_err());
        assert!(!path.exists(), "a missing database is not created");

        let db = super::super::connect(&url).await.unwrap();
        super::super::migrate(&db).await.unwrap();
        db.close().await;
        let look = open_read_only(&url).unwrap();
        let status = migration_status(&look).await.unwrap();
        assert!(status.current > 0 && status.pending.is_empty() && status.unknown.is_empty());
        let refused = sqlx::query("DELETE FROM installs").execute(&look).await;
        assert!(refused.is_err(), "query_only");
    }
}
