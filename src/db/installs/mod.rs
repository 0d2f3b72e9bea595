//! Installs: one row per (provider, account), with what the platform told us about the store.
//! Saving, renaming and revoking one (each announced to the vendor's backend in its own
//! transaction) are here; the console's filtered, paged list is in [`listing`].

pub mod health;
mod listing;

pub use listing::{
    Cursor, ListFilter, SEARCH_COUNT_CAP, Standing, accounts_in_use, count_by_platform_and_status,
    count_by_status, list, platforms_in_use, position, previous_cursor,
};

use sqlx::{AnyConnection, FromRow};

use super::{
    Db, QueryBuilder,
    api_keys::Caller,
    audit::{self, Action},
    credentials::{self, Kind},
    outbox,
};
use crate::{
    crypto::{Keyring, Sealed, random_hex},
    domain::{
        AuthKind, EventType, HealthObject, Initiator, InstallObject, InstallStatus, InstallingUser,
        Platform, Reason, StoreName, rfc3339,
    },
};

/// What an install (or re-install) stores. The access token is sealed on the way in.
pub struct NewInstall<'a> {
    /// The platform.
    pub platform: Platform,
    /// The platform's id for the store or account.
    pub account_id: &'a str,
    /// The store's host name.
    pub store_domain: Option<&'a str>,
    /// The store's display name.
    pub store_name: Option<&'a str>,
    /// IANA time zone.
    pub timezone: Option<&'a str>,
    /// Granted scope.
    pub scope: Option<&'a str>,
    /// Who installed it.
    pub user: InstallingUser,
    /// Billing address as a JSON object.
    pub billing_address: Option<serde_json::Value>,
    /// How it was started.
    pub initiated_by: Initiator,
    /// The access token, sealed before it is written.
    pub access_token: &'a [u8],
}

/// The result of [`save`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    /// The install's id.
    pub id: String,
    /// Whether the store was already known (a re-install).
    pub reinstall: bool,
}

/// One install as stored. Credentials are not part of it: see [`credentials`].
#[derive(Debug, Clone, FromRow)]
pub struct Install {
    /// Public random id.
    pub id: String,
    /// The platform (stored in the `provider` column).
    #[sqlx(rename = "provider")]
    pub platform: Platform,
    /// The platform's id for the store or account.
    pub account_id: String,
    /// Host name.
    pub store_domain: Option<String>,
    /// Display name.
    pub store_name: Option<String>,
    /// IANA time zone.
    pub timezone: Option<String>,
    /// Granted scope.
    pub scope: Option<String>,
    /// Installing user's id.
    pub user_id: Option<String>,
    /// Installing user's given name.
    pub user_first_name: Option<String>,
    /// Installing user's family name.
    pub user_last_name: Option<String>,
    /// Installing user's email.
    pub user_email: Option<String>,
    /// JSON text.
    pub billing_address: Option<String>,
    /// Where it stands.
    pub status: InstallStatus,
    /// How it was started.
    pub initiated_by: Initiator,
    /// How it gets its access tokens (a merchant authorized storelink, or an operator entered
    /// the retailer's own credentials).
    pub auth_kind: AuthKind,
    /// The client id an operator entered (not a secret).
    pub client_id: Option<String>,
    /// The user an operator entered (OrderCloud's password grant, a Maropost API key's user).
    pub username: Option<String>,
    /// Where API calls go, fixed when the connection was added (OrderCloud, commercetools).
    pub api_url: Option<String>,
    /// First install, Unix seconds.
    pub installed_at: i64,
    /// Latest install, Unix seconds.
    pub last_installed_at: i64,
    /// Last change, Unix seconds.
    pub updated_at: i64,
    /// Why it needs attention, when it does (`refresh_rejected`, `credentials_rejected`, ...).
    #[sqlx(default)]
    pub attention_reason: Option<String>,
}

impl From<&Install> for InstallObject {
    fn from(i: &Install) -> Self {
        InstallObject {
            id: i.id.clone(),
            platform: i.platform.as_str().to_owned(),
            status: i.status.as_str().to_owned(),
            auth_kind: i.auth_kind.as_str().to_owned(),
            store_domain: i.store_domain.clone(),
            account_id: i.account_id.clone(),
            name: i.store_name.clone(),
            scopes: i
                .scope
                .as_deref()
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            installed_at: rfc3339(i.installed_at),
            updated_at: rfc3339(i.updated_at),
            reason: i
                .attention_reason
                .as_deref()
                .filter(|_| i.status == InstallStatus::NeedsAttention)
                .and_then(Reason::parse)
                .map(|r| r.as_str().to_owned()),
            health: HealthObject::unknown(),
        }
    }
}

impl Install {
    /// The name to show for the store: its name, else its domain, else its account id.
    pub fn display_name(&self) -> &str {
        self.store_name
            .as_deref()
            .or(self.store_domain.as_deref())
            .unwrap_or(&self.account_id)
    }
}

/// Stores an install: a new row for a store not seen before, otherwise an update of its row (new
/// token, new domain, active again). The access token is sealed and the audit entry written in
/// the same transaction, so either all of it is stored or none of it.
pub async fn save(
    db: &Db,
    keyring: &Keyring,
    new: &NewInstall<'_>,
    now: i64,
) -> anyhow::Result<Saved> {
    let mut tx = super::begin_write(db).await?;
    let saved = save_in(&mut tx, keyring, new, now, "merchant").await?;
    announce_saved(&mut tx, &saved, now).await?;
    tx.commit().await?;
    Ok(saved)
}

/// Queues `event_type` for install `id`, carrying the install as it stands in the caller's
/// transaction (the same object the API answers with), for every subscribed endpoint.
pub async fn announce(
    conn: &mut AnyConnection,
    event_type: EventType,
    id: &str,
    now: i64,
) -> sqlx::Result<usize> {
    let install: Install = sqlx::query_as("SELECT * FROM installs WHERE id = $1")
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
    let health: Option<health::Health> = sqlx::query_as(
        "SELECT state, checked_at, last_ok_at, consecutive_failures, last_error, next_check_at
         FROM install_health WHERE install_id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let mut object = InstallObject::from(&install);
    if let Some(health) = health {
        object.health = health.object();
    }
    let data = serde_json::to_value(object).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let change = outbox::Change {
        install_id: id.to_owned(),
        data,
    };
    outbox::enqueue_many(conn, event_type, &[change], now).await
}

/// Queues `install.created` or `install.updated` for a saved install, in the transaction that
/// saved it and after everything it stores, so the notification carries the install as
/// committed.
pub async fn announce_saved(tx: &mut AnyConnection, saved: &Saved, now: i64) -> sqlx::Result<()> {
    let event = if saved.reinstall {
        EventType::InstallUpdated
    } else {
        EventType::InstallCreated
    };
    announce(tx, event, &saved.id, now).await?;
    Ok(())
}

/// [`save`] inside the caller's transaction, audited as done by `actor`; for installs that
/// store more in the same transaction (bol.com's refresh token and expiry). The caller
/// announces it ([`announce_saved`]) once it has stored the rest.
pub async fn save_in(
    tx: &mut AnyConnection,
    keyring: &Keyring,
    new: &NewInstall<'_>,
    now: i64,
    actor: &str,
) -> anyhow::Result<Saved> {
    // Write first, so SQLite takes the write lock at once rather than upgrading a read lock
    // (which fails instead of waiting when two installs race). The row's key goes in here; the
    // store's facts are written below, for a new install and a re-install alike.
    let inserted: Option<String> = sqlx::query_scalar(
        "INSERT INTO installs (id, provider, account_id, status, initiated_by, installed_at,
             last_installed_at, updated_at)
         VALUES ($1, $2, $3, 'active', $4, $5, $5, $5)
         ON CONFLICT (provider, account_id) DO NOTHING
         RETURNING id",
    )
    .bind(random_hex(16))
    .bind(new.platform)
    .bind(new.account_id)
    .bind(new.initiated_by)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;

    let named = new
        .store_domain
        .or(new.store_name)
        .unwrap_or(new.account_id);
    // The store's name comes from the platform: a value, not part of the text.
    let fields = [("store", named)];
    let (id, reinstall, detail) = match inserted {
        Some(id) => {
            let detail = format!("installed ({})", new.initiated_by.describe());
            (id, false, detail)
        }
        None => {
            let (id, old_status, old_domain): (String, InstallStatus, Option<String>) =
                sqlx::query_as(
                    "SELECT id, status, store_domain FROM installs
                     WHERE provider = $1 AND account_id = $2",
                )
                .bind(new.platform)
                .bind(new.account_id)
                .fetch_one(&mut *tx)
                .await?;
            let mut detail = format!("re-installed ({})", new.initiated_by.describe());
            if old_domain.as_deref() != new.store_domain {
                // A stored domain is a checked StoreDomain (letters, digits, dots, hyphens):
                // it cannot pass itself off as more text.
                detail.push_str(&format!(
                    "; domain was {}",
                    old_domain.as_deref().unwrap_or("unset")
                ));
            }
            if old_status != InstallStatus::Active {
                detail.push_str(&format!("; status was {old_status}, now active"));
            }
            (id, true, detail)
        }
    };
    sqlx::query(
        // A name an operator chose is kept: see `migrations/README.md`.
        "UPDATE installs SET store_domain = $1,
             store_name = CASE WHEN name_set_by_operator = 1 THEN store_name ELSE $2 END,
             timezone = $3, scope = $4,
             user_id = $5, user_first_name = $6, user_last_name = $7, user_email = $8,
             billing_address = $9, status = 'active', initiated_by = $10,
             last_installed_at = $11, updated_at = $11, attention_reason = NULL,
             refresh_in_flight = NULL
         WHERE id = $12",
    )
    .bind(new.store_domain)
    .bind(new.store_name)
    .bind(new.timezone)
    .bind(new.scope)
    .bind(&new.user.id)
    .bind(&new.user.first_name)
    .bind(&new.user.last_name)
    .bind(&new.user.email)
    .bind(new.billing_address.as_ref().map(|v| v.to_string()))
    .bind(new.initiated_by)
    .bind(now)
    .bind(&id)
    .execute(&mut *tx)
    .await?;

    credentials::store(
        &mut *tx,
        keyring,
        &id,
        Kind::AccessToken,
        new.access_token,
        now,
    )
    .await?;
    // New credentials: unchecked, and scheduled afresh by the checker.
    reset_health(&mut *tx, &id).await?;
    let action = if reinstall {
        Action::Reinstall
    } else {
        Action::Install
    };
    audit::record(&mut *tx, now, actor, action, Some(&id), &detail, &fields).await?;
    Ok(Saved { id, reinstall })
}

/// A health row for install `id` as it is before its first check, on a new install and after
/// a re-install (new credentials); the checker schedules it.
async fn reset_health(conn: &mut AnyConnection, id: &str) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO install_health (install_id) VALUES ($1)
         ON CONFLICT (install_id) DO UPDATE SET state = 'unknown', consecutive_failures = 0,
             last_error = NULL, next_check_at = NULL, claim_until = NULL, parked = 0",
    )
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Why [`rename`] changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum RenameError {
    /// No install has this id.
    #[error("no such install")]
    UnknownInstall,
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Names install `id` `name`, as operator `actor` chose, and marks the name as the operator's
/// (a re-install keeps it); audited with the old and new names, in one transaction. Renaming to
/// the current name changes nothing and records nothing.
pub async fn rename(
    db: &Db,
    id: &str,
    name: &StoreName,
    actor: &str,
    now: i64,
) -> Result<(), RenameError> {
    let mut tx = super::begin_write(db).await?;
    let old: Option<(Option<String>, super::Flag)> =
        sqlx::query_as("SELECT store_name, name_set_by_operator FROM installs WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let (old, super::Flag(by_operator)) = old.ok_or(RenameError::UnknownInstall)?;
    if by_operator && old.as_deref() == Some(name.as_str()) {
        return Ok(());
    }
    sqlx::query(
        "UPDATE installs SET store_name = $1, name_set_by_operator = 1, updated_at = $2
         WHERE id = $3",
    )
    .bind(name.as_str())
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    let old = old.unwrap_or_default();
    // Both names are values (a platform's, an operator's), never storelink's words.
    let fields = [("name", name.as_str()), ("was", old.as_str())];
    audit::record(
        &mut tx,
        now,
        actor,
        Action::Rename,
        Some(id),
        "renamed",
        &fields,
    )
    .await?;
    // The vendor's backend hears of the new name as of any change to the install.
    announce(&mut tx, EventType::InstallUpdated, id, now).await?;
    tx.commit().await?;
    Ok(())
}

/// The install with this id, if any.
pub async fn find(db: &Db, id: &str) -> sqlx::Result<Option<Install>> {
    sqlx::query_as("SELECT * FROM installs WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// How many installs of each platform were first installed at or after `since_unix`.
pub async fn installed_since_by_platform(
    db: &Db,
    since_unix: i64,
) -> sqlx::Result<Vec<(Platform, i64)>> {
    sqlx::query_as(
        "SELECT provider, COUNT(*) FROM installs WHERE installed_at >= $1
         GROUP BY provider ORDER BY provider",
    )
    .bind(since_unix)
    .fetch_all(db)
    .await
}

/// The names pages show for these installs (store name, else domain, else account id), as
/// `(id, name)`, in one query; ids with no install are left out.
pub async fn display_names(db: &Db, ids: &[&str]) -> sqlx::Result<Vec<(String, String)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut query = QueryBuilder::new(
        "SELECT id, COALESCE(NULLIF(store_name, ''), NULLIF(store_domain, ''), account_id) \
         FROM installs WHERE id IN (",
    );
    let mut each = query.separated(", ");
    for id in ids {
        each.push_bind(*id);
    }
    query.push(")");
    query.build_query_as().fetch_all(db).await
}

/// The install with this id and its sealed credential of `kind` (if one is stored), read
/// together: the vendor API's hottest path needs both and this is one query.
pub async fn find_with_credential(
    db: &Db,
    id: &str,
    kind: Kind,
) -> sqlx::Result<Option<(Install, Option<Sealed>)>> {
    #[derive(FromRow)]
    struct Row {
        #[sqlx(flatten)]
        install: Install,
        sealed_key_id: Option<String>,
        sealed_nonce: Option<Vec<u8>>,
        sealed_ciphertext: Option<Vec<u8>>,
    }
    let row: Option<Row> = sqlx::query_as(
        "SELECT i.*, c.key_id AS sealed_key_id, c.nonce AS sealed_nonce,
                c.ciphertext AS sealed_ciphertext
         FROM installs i LEFT JOIN credentials c ON c.install_id = i.id AND c.kind = $2
         WHERE i.id = $1",
    )
    .bind(id)
    .bind(kind.as_str())
    .fetch_optional(db)
    .await?;
    Ok(row.map(|row| {
        let sealed = sealed(row.sealed_key_id, row.sealed_nonce, row.sealed_ciphertext);
        (row.install, sealed)
    }))
}

/// A sealed credential read through a `LEFT JOIN`: all three columns, or none.
fn sealed(
    key_id: Option<String>,
    nonce: Option<Vec<u8>>,
    ciphertext: Option<Vec<u8>>,
) -> Option<Sealed> {
    match (key_id, nonce, ciphertext) {
        (Some(key_id), Some(nonce), Some(ciphertext)) => Some(Sealed {
            key_id,
            nonce,
            ciphertext,
        }),
        _ => None,
    }
}

/// What [`find_with_credential_for_key`] found: the key's caller, and the install if there is
/// one with that id.
pub type KeyAndInstall = (Caller, Option<(Install, Option<Sealed>)>);

/// The live API key whose SHA-256 is `key_hash` and, read in the same query, what
/// [`find_with_credential`] reads: the vendor API's hottest paths (a token, a proxied call)
/// check the key and read the install in one round trip instead of two. `None` when no live
/// key has this hash (whether or not the install exists); the key's caller without an install
/// when there is no install with this id. The key is read in the same statement as the
/// install, so a key revoked by any instance is refused from the next request on.
pub async fn find_with_credential_for_key(
    db: &Db,
    key_hash: &str,
    id: &str,
    kind: Kind,
) -> sqlx::Result<Option<KeyAndInstall>> {
    use sqlx::Row as _;
    let row = sqlx::query(
        "SELECT k.id AS caller_key_id, k.name AS caller_key_name, i.*,
                c.key_id AS sealed_key_id, c.nonce AS sealed_nonce,
                c.ciphertext AS sealed_ciphertext
         FROM api_keys k
         LEFT JOIN installs i ON i.id = $2
         LEFT JOIN credentials c ON c.install_id = i.id AND c.kind = $3
         WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
    )
    .bind(key_hash)
    .bind(id)
    .bind(kind.as_str())
    .fetch_optional(db)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let caller = Caller {
        id: row.try_get("caller_key_id")?,
        name: row.try_get("caller_key_name")?,
    };
    // Every install column is NULL when the join found none; `id` never is otherwise.
    if row.try_get::<Option<String>, _>("id")?.is_none() {
        return Ok(Some((caller, None)));
    }
    let install = Install::from_row(&row)?;
    let sealed = sealed(
        row.try_get("sealed_key_id")?,
        row.try_get("sealed_nonce")?,
        row.try_get("sealed_ciphertext")?,
    );
    Ok(Some((caller, Some((install, sealed)))))
}

/// The install of this provider's account, if any.
pub async fn find_by_account(
    db: &Db,
    platform: Platform,
    account_id: &str,
) -> sqlx::Result<Option<Install>> {
    sqlx::query_as("SELECT * FROM installs WHERE provider = $1 AND account_id = $2")
        .bind(platform)
        .bind(account_id)
        .fetch_optional(db)
        .await
}

/// The outcome of [`revoke`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    /// Revoked now; this many credentials were erased.
    Now {
        /// Credentials erased.
        erased: u64,
    },
    /// It was already revoked: nothing changed.
    Already,
    /// No such install.
    Missing,
}

/// Marks an install revoked and erases its credentials in one transaction, auditing who did it.
/// A second revoke changes nothing.
pub async fn revoke(db: &Db, id: &str, actor: &str, now: i64) -> anyhow::Result<Revoked> {
    revoke_because(db, id, actor, None, now).await
}

/// [`revoke`], with the reason the revoker gave (a value from outside, kept apart in the audit
/// entry's fields).
pub async fn revoke_because(
    db: &Db,
    id: &str,
    actor: &str,
    reason: Option<&str>,
    now: i64,
) -> anyhow::Result<Revoked> {
    let mut tx = super::begin_write(db).await?;
    let changed = sqlx::query(
        // Bumping the token version and dropping any refresh lease makes a refresh in flight
        // (see `db::tokens`) fail to store what it gets: nothing is kept after a revoke.
        "UPDATE installs SET status = 'revoked', updated_at = $1, token_version = token_version + 1,
             token_expires_at = NULL, refresh_lease_until = NULL
         WHERE id = $2 AND status <> 'revoked'",
    )
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if changed == 0 {
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM installs WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        tx.rollback().await?;
        return Ok(if exists.is_some() {
            Revoked::Already
        } else {
            Revoked::Missing
        });
    }
    let erased = credentials::erase_all(&mut tx, id).await?;
    announce(&mut tx, EventType::InstallRevoked, id, now).await?;
    audit::record(
        &mut tx,
        now,
        actor,
        Action::Revoke,
        Some(id),
        &format!("revoked; {erased} credential(s) erased"),
        &reason
            .map(|r| ("reason", r))
            .into_iter()
            .collect::<Vec<_>>(),
    )
    .await?;
    tx.commit().await?;
    Ok(Revoked::Now { erased })
}
