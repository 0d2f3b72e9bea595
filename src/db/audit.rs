//! The audit log: who did what to which install, and when. Rows are only ever added.

use sqlx::{FromRow, SqliteConnection};

use super::Db;

/// What an audit row records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A store installed the add-on for the first time.
    Install,
    /// A store already known installed it again.
    Reinstall,
}

impl Action {
    /// The name stored in the `action` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Install => "install",
            Self::Reinstall => "reinstall",
        }
    }
}

/// One row of the audit log.
#[derive(Debug, Clone, FromRow)]
pub struct Entry {
    /// Increasing id.
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    /// `merchant`, `operator:<email>`, `system`.
    pub actor: String,
    /// See [`Action`].
    pub action: String,
    /// The install concerned, if any.
    pub install_id: Option<String>,
    /// Human-readable detail; never a secret.
    pub detail: String,
}

/// Appends an entry, inside the caller's transaction so it commits with the change it records.
pub async fn record(
    conn: &mut SqliteConnection,
    at: i64,
    actor: &str,
    action: Action,
    install_id: Option<&str>,
    detail: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor, action, install_id, detail) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(at)
    .bind(actor)
    .bind(action.as_str())
    .bind(install_id)
    .bind(detail)
    .execute(conn)
    .await?;
    Ok(())
}

/// The newest entries for one install, newest first.
pub async fn for_install(db: &Db, install_id: &str, limit: i64) -> sqlx::Result<Vec<Entry>> {
    sqlx::query_as(
        "SELECT id, at, actor, action, install_id, detail FROM audit_log
         WHERE install_id = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(install_id)
    .bind(limit)
    .fetch_all(db)
    .await
}
