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
    /// An operator revoked an install.
    Revoke,
    /// An operator logged in.
    Login,
    /// A login failed (unknown email or wrong password; the log does not say which).
    LoginFailed,
    /// Failures locked an account or a client address.
    Lockout,
    /// A login was refused because of a lockout.
    LoginRefused,
    /// An operator logged out.
    Logout,
    /// An operator set a store's webhook key.
    WebhookKeySet,
    /// The platform refused to renew a connection's token: it needs re-authorization.
    NeedsAttention,
    /// An operator tested a connection (the detail says how it went).
    TestConnection,
}

impl Action {
    /// The name stored in the `action` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Install => "install",
            Self::Reinstall => "reinstall",
            Self::Revoke => "revoke",
            Self::Login => "login",
            Self::LoginFailed => "login_failed",
            Self::Lockout => "lockout",
            Self::LoginRefused => "login_refused",
            Self::Logout => "logout",
            Self::WebhookKeySet => "webhook_key_set",
            Self::NeedsAttention => "needs_attention",
            Self::TestConnection => "test_connection",
        }
    }

    /// Every action, for the audit page's filter.
    pub const ALL: [Action; 11] = [
        Self::Install,
        Self::Reinstall,
        Self::Revoke,
        Self::Login,
        Self::LoginFailed,
        Self::Lockout,
        Self::LoginRefused,
        Self::Logout,
        Self::WebhookKeySet,
        Self::NeedsAttention,
        Self::TestConnection,
    ];

    /// The action stored as `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
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

/// Appends an entry outside any transaction (for events that change nothing else, like logins).
pub async fn record_now(
    db: &Db,
    at: i64,
    actor: &str,
    action: Action,
    install_id: Option<&str>,
    detail: &str,
) -> sqlx::Result<()> {
    let mut conn = db.acquire().await?;
    record(&mut conn, at, actor, action, install_id, detail).await
}

/// What the audit page filters by.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this install's entries.
    pub install_id: Option<String>,
    /// Only this action.
    pub action: Option<Action>,
}

/// One page of the audit log, newest first, starting below `before` (an entry id).
pub async fn list(
    db: &Db,
    filter: &Filter,
    before: Option<i64>,
    limit: i64,
) -> sqlx::Result<Vec<Entry>> {
    sqlx::query_as(
        "SELECT id, at, actor, action, install_id, detail FROM audit_log
         WHERE ($1 IS NULL OR install_id = $1)
           AND ($2 IS NULL OR action = $2)
           AND ($3 IS NULL OR id < $3)
         ORDER BY id DESC LIMIT $4",
    )
    .bind(&filter.install_id)
    .bind(filter.action.map(Action::as_str))
    .bind(before)
    .bind(limit)
    .fetch_all(db)
    .await
}
