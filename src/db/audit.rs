//! The audit log: who did what to which install, and when. Rows are only ever added.

use sqlx::{AnyConnection, FromRow};

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
    /// An operator (or, on the success page, the merchant) set a store's webhook key.
    WebhookKeySet,
    /// The platform refused a connection's credentials: it needs attention (the reason says
    /// why).
    NeedsAttention,
    /// An operator tested a connection (the detail says how it went).
    TestConnection,
    /// An operator created a vendor API key.
    ApiKeyCreated,
    /// An operator revoked a vendor API key.
    ApiKeyRevoked,
    /// A vendor API key read an install's access token (at most one entry per key, install and
    /// minute).
    TokenRead,
    /// An operator added a notification endpoint.
    EndpointAdded,
    /// An operator removed a notification endpoint.
    EndpointRemoved,
    /// An operator made a new signing secret for an endpoint.
    EndpointSecretRotated,
    /// An operator enabled an endpoint.
    EndpointEnabled,
    /// An endpoint was disabled: by an operator, or by storelink after days of failures.
    EndpointDisabled,
    /// An operator sent a notification again, or sent a test event.
    NotificationSent,
    /// An operator renamed a store.
    Rename,
    /// Three checks or calls in a row failed for a reason that may pass.
    Degraded,
    /// A degraded install, or one that needed attention, works again.
    Recovered,
    /// The failed messages of an endpoint since a time were queued again (`recover`).
    EndpointRecovered,
    /// An endpoint's event types, limits or state were changed (through the API).
    EndpointChanged,
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
            Self::ApiKeyCreated => "api_key_created",
            Self::ApiKeyRevoked => "api_key_revoked",
            Self::TokenRead => "token_read",
            Self::EndpointAdded => "endpoint_added",
            Self::EndpointRemoved => "endpoint_removed",
            Self::EndpointSecretRotated => "endpoint_secret_rotated",
            Self::EndpointEnabled => "endpoint_enabled",
            Self::EndpointDisabled => "endpoint_disabled",
            Self::NotificationSent => "notification_sent",
            Self::Rename => "rename",
            Self::Degraded => "degraded",
            Self::Recovered => "recovered",
            Self::EndpointRecovered => "endpoint_recovered",
            Self::EndpointChanged => "endpoint_changed",
        }
    }

    /// The action in words, as pages show it ("Webhook key set").
    pub fn label(self) -> &'static str {
        match self {
            Self::Install => "Installed",
            Self::Reinstall => "Installed again",
            Self::Revoke => "Revoked",
            Self::Login => "Logged in",
            Self::LoginFailed => "Login failed",
            Self::Lockout => "Locked out",
            Self::LoginRefused => "Login refused",
            Self::Logout => "Logged out",
            Self::WebhookKeySet => "Webhook key set",
            Self::NeedsAttention => "Needs attention",
            Self::TestConnection => "Connection tested",
            Self::ApiKeyCreated => "API key created",
            Self::ApiKeyRevoked => "API key revoked",
            Self::TokenRead => "Access token read",
            Self::EndpointAdded => "Notification endpoint added",
            Self::EndpointRemoved => "Notification endpoint removed",
            Self::EndpointSecretRotated => "Signing secret rotated",
            Self::EndpointEnabled => "Notification endpoint enabled",
            Self::EndpointDisabled => "Notification endpoint disabled",
            Self::NotificationSent => "Notification sent by hand",
            Self::Rename => "Renamed",
            Self::Degraded => "Degraded",
            Self::Recovered => "Recovered",
            Self::EndpointRecovered => "Failed notifications sent again",
            Self::EndpointChanged => "Notification endpoint changed",
        }
    }

    /// Every action, for the audit page's filter.
    pub const ALL: [Action; 25] = [
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
        Self::ApiKeyCreated,
        Self::ApiKeyRevoked,
        Self::TokenRead,
        Self::EndpointAdded,
        Self::EndpointRemoved,
        Self::EndpointSecretRotated,
        Self::EndpointEnabled,
        Self::EndpointDisabled,
        Self::NotificationSent,
        Self::Rename,
        Self::Degraded,
        Self::Recovered,
        Self::EndpointRecovered,
        Self::EndpointChanged,
    ];

    /// The action stored as `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

/// Who an entry's actor is, as pages show it: `operator:op@example.com` is "op@example.com",
/// `api-key:backend` is "API key backend", `merchant` is "Merchant", and so on; an actor this
/// version does not know is shown as stored.
pub fn actor_label(actor: &str) -> String {
    if let Some(email) = actor.strip_prefix("operator:") {
        return email.to_owned();
    }
    if let Some(name) = actor.strip_prefix("api-key:") {
        return format!("API key {name}");
    }
    if let Some(user) = actor.strip_prefix("merchant-center:") {
        return format!("Merchant Center user {user}");
    }
    match actor {
        "merchant" => "Merchant",
        "system" => "storelink",
        "anonymous" => "Someone not logged in",
        "cli" => "Command line",
        other => other,
    }
    .to_owned()
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
    /// What happened, in storelink's own words; never a secret, never a value from outside.
    pub detail: String,
    /// The values from outside, as a JSON array of `[name, value]` pairs (see [`Entry::fields`]).
    #[sqlx(rename = "fields")]
    pub fields_json: String,
}

impl Entry {
    /// The entry's values from outside, in order: `(name, value)`.
    pub fn fields(&self) -> Vec<(String, String)> {
        serde_json::from_str(&self.fields_json).unwrap_or_default()
    }
}

/// Values from outside for an audit entry: each is stored and shown apart from the entry's
/// text, under its name.
pub type Fields<'a> = &'a [(&'a str, &'a str)];

fn fields_json(fields: Fields<'_>) -> String {
    serde_json::to_string(fields).unwrap_or_else(|_| "[]".to_owned())
}

/// Appends an entry, inside the caller's transaction so it commits with the change it records.
/// `detail` is storelink's own words; anything from outside goes into `fields`.
pub async fn record(
    conn: &mut AnyConnection,
    at: i64,
    actor: &str,
    action: Action,
    install_id: Option<&str>,
    detail: &str,
    fields: Fields<'_>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor, action, install_id, detail, fields)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(at)
    .bind(actor)
    .bind(action.as_str())
    .bind(install_id)
    .bind(detail)
    .bind(fields_json(fields))
    .execute(conn)
    .await?;
    Ok(())
}

/// The newest entries for one install, newest first.
pub async fn for_install(db: &Db, install_id: &str, limit: i64) -> sqlx::Result<Vec<Entry>> {
    sqlx::query_as(
        "SELECT id, at, actor, action, install_id, detail, fields FROM audit_log
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
    fields: Fields<'_>,
) -> sqlx::Result<()> {
    let mut conn = db.acquire().await?;
    record(&mut conn, at, actor, action, install_id, detail, fields).await
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
        "SELECT id, at, actor, action, install_id, detail, fields FROM audit_log
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

/// Where a page of [`list`] stands: how many entries match the filter, and how many of them
/// come before the page that starts below `before` (are on earlier pages).
pub async fn position(db: &Db, filter: &Filter, before: Option<i64>) -> sqlx::Result<(i64, i64)> {
    sqlx::query_as(
        "SELECT COUNT(*), COUNT(CASE WHEN $3 IS NOT NULL AND id >= $3 THEN 1 END) FROM audit_log
         WHERE ($1 IS NULL OR install_id = $1)
           AND ($2 IS NULL OR action = $2)",
    )
    .bind(&filter.install_id)
    .bind(filter.action.map(Action::as_str))
    .bind(before)
    .fetch_one(db)
    .await
}

/// The `before` of the page ahead of the one that starts below `before`, for a "Previous"
/// link: `None` when that page is the first.
pub async fn previous_before(
    db: &Db,
    filter: &Filter,
    before: i64,
    page_size: i64,
) -> sqlx::Result<Option<i64>> {
    // The previous page is the `page_size` entries from `before` upwards; the entry just above
    // them, if any, is where that page starts below.
    sqlx::query_scalar(
        "SELECT id FROM audit_log
         WHERE ($1 IS NULL OR install_id = $1)
           AND ($2 IS NULL OR action = $2)
           AND id >= $3
         ORDER BY id ASC LIMIT 1 OFFSET $4",
    )
    .bind(&filter.install_id)
    .bind(filter.action.map(Action::as_str))
    .bind(before)
    .bind(page_size)
    .fetch_optional(db)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_and_actors_read_as_words() {
        assert_eq!(Action::WebhookKeySet.label(), "Webhook key set");
        assert!(Action::ALL.iter().all(|a| !a.label().contains('_')));
        assert_eq!(actor_label("operator:op@example.com"), "op@example.com");
        assert_eq!(actor_label("api-key:backend"), "API key backend");
        assert_eq!(
            actor_label("merchant-center:u-1"),
            "Merchant Center user u-1"
        );
        assert_eq!(actor_label("merchant"), "Merchant");
        assert_eq!(actor_label("something-new"), "something-new");
    }
}
