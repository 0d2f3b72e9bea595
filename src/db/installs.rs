//! Installs: one row per (provider, account), with what the platform told us about the store.

use sqlx::{FromRow, SqliteConnection};

use super::{
    Db,
    audit::{self, Action},
    credentials::{self, Kind},
};
use crate::crypto::{Keyring, random_hex};

/// How an install was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initiator {
    /// The merchant clicked "Install" on storelink's landing page.
    Storelink,
    /// The merchant started it from the platform's control panel (no state of ours).
    Panel,
}

impl Initiator {
    /// The name stored in the `initiated_by` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Storelink => "storelink",
            Self::Panel => "panel",
        }
    }
}

/// The person who installed the add-on, as the platform names them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstallingUser {
    /// The platform's user id.
    pub id: Option<String>,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Email address.
    pub email: Option<String>,
}

/// What an install (or re-install) stores. The access token is sealed on the way in.
pub struct NewInstall<'a> {
    /// `maropost`, `bol`, ...
    pub provider: &'a str,
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
    /// `maropost`, `bol`, ...
    pub provider: String,
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
    /// `active`, `revoked`, `needs_attention`.
    pub status: String,
    /// `storelink` or `panel`.
    pub initiated_by: String,
    /// `code` (a merchant authorized storelink) or `client_credentials` (an operator entered
    /// the retailer's own credentials).
    pub auth_kind: String,
    /// First install, Unix seconds.
    pub installed_at: i64,
    /// Latest install, Unix seconds.
    pub last_installed_at: i64,
    /// Last change, Unix seconds.
    pub updated_at: i64,
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
    let mut tx = db.begin().await?;
    let saved = save_in(&mut tx, keyring, new, now, "merchant").await?;
    tx.commit().await?;
    Ok(saved)
}

/// [`save`] inside the caller's transaction, audited as done by `actor`; for installs that
/// store more in the same transaction (bol.com's refresh token and expiry).
pub async fn save_in(
    tx: &mut SqliteConnection,
    keyring: &Keyring,
    new: &NewInstall<'_>,
    now: i64,
    actor: &str,
) -> anyhow::Result<Saved> {
    let billing = new.billing_address.as_ref().map(|v| v.to_string());
    let candidate_id = random_hex(16);

    // Write first, so SQLite takes the write lock at once rather than upgrading a read lock
    // (which fails instead of waiting when two installs race).
    let inserted: Option<String> = sqlx::query_scalar(
        "INSERT INTO installs (id, provider, account_id, store_domain, store_name, timezone, scope,
             user_id, user_first_name, user_last_name, user_email, billing_address,
             status, initiated_by, installed_at, last_installed_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'active', $13, $14, $14, $14)
         ON CONFLICT (provider, account_id) DO NOTHING
         RETURNING id",
    )
    .bind(&candidate_id)
    .bind(new.provider)
    .bind(new.account_id)
    .bind(new.store_domain)
    .bind(new.store_name)
    .bind(new.timezone)
    .bind(new.scope)
    .bind(&new.user.id)
    .bind(&new.user.first_name)
    .bind(&new.user.last_name)
    .bind(&new.user.email)
    .bind(&billing)
    .bind(new.initiated_by.as_str())
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;

    let (id, reinstall, detail) = match inserted {
        Some(id) => {
            let detail = format!(
                "installed {} ({})",
                new.store_domain
                    .or(new.store_name)
                    .unwrap_or(new.account_id),
                describe_initiator(new.initiated_by)
            );
            (id, false, detail)
        }
        None => {
            let (id, old_status, old_domain): (String, String, Option<String>) = sqlx::query_as(
                "SELECT id, status, store_domain FROM installs
                 WHERE provider = $1 AND account_id = $2",
            )
            .bind(new.provider)
            .bind(new.account_id)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE installs SET store_domain = $1, store_name = $2, timezone = $3, scope = $4,
                     user_id = $5, user_first_name = $6, user_last_name = $7, user_email = $8,
                     billing_address = $9, status = 'active', initiated_by = $10,
                     last_installed_at = $11, updated_at = $11
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
            .bind(&billing)
            .bind(new.initiated_by.as_str())
            .bind(now)
            .bind(&id)
            .execute(&mut *tx)
            .await?;
            let mut detail = format!(
                "re-installed {} ({})",
                new.store_domain
                    .or(new.store_name)
                    .unwrap_or(new.account_id),
                describe_initiator(new.initiated_by)
            );
            if old_domain.as_deref() != new.store_domain {
                detail.push_str(&format!(
                    "; domain was {}",
                    old_domain.as_deref().unwrap_or("unset")
                ));
            }
            if old_status != "active" {
                detail.push_str(&format!("; status was {old_status}, now active"));
            }
            (id, true, detail)
        }
    };

    credentials::store(
        &mut *tx,
        keyring,
        &id,
        Kind::AccessToken,
        new.access_token,
        now,
    )
    .await?;
    let action = if reinstall {
        Action::Reinstall
    } else {
        Action::Install
    };
    audit::record(&mut *tx, now, actor, action, Some(&id), &detail).await?;
    Ok(Saved { id, reinstall })
}

fn describe_initiator(initiator: Initiator) -> &'static str {
    match initiator {
        Initiator::Storelink => "started on storelink",
        Initiator::Panel => "started from the platform's control panel",
    }
}

/// The install with this id, if any.
pub async fn find(db: &Db, id: &str) -> sqlx::Result<Option<Install>> {
    sqlx::query_as("SELECT * FROM installs WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The install of this provider's account, if any.
pub async fn find_by_account(
    db: &Db,
    provider: &str,
    account_id: &str,
) -> sqlx::Result<Option<Install>> {
    sqlx::query_as("SELECT * FROM installs WHERE provider = $1 AND account_id = $2")
        .bind(provider)
        .bind(account_id)
        .fetch_optional(db)
        .await
}

/// What the connected-stores page filters by.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// `maropost`, `bol`, ...
    pub provider: Option<String>,
    /// `active`, `revoked`, `needs_attention`.
    pub status: Option<String>,
    /// Any part of the domain or name.
    pub search: Option<String>,
}

/// A position in the list: the last row of the previous page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// Its `updated_at`.
    pub updated_at: i64,
    /// Its id.
    pub id: String,
}

impl Cursor {
    /// `"<updated_at>.<id>"`, as carried in a link.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.updated_at, self.id)
    }

    /// Parses [`Cursor::encode`]'s form; anything else is `None`.
    pub fn decode(text: &str) -> Option<Self> {
        let (at, id) = text.split_once('.')?;
        let valid_id =
            !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit());
        valid_id.then_some(())?;
        Some(Self {
            updated_at: at.parse().ok()?,
            id: id.to_owned(),
        })
    }
}

/// One page of installs, most recently changed first, after `cursor`. Fetches `limit` rows.
///
/// Only the conditions in use are put into the query, so SQLite can pick the index that serves
/// the filter and the order together.
pub async fn list(
    db: &Db,
    filter: &ListFilter,
    cursor: Option<&Cursor>,
    limit: i64,
) -> sqlx::Result<Vec<Install>> {
    let mut query = sqlx::QueryBuilder::<sqlx::Sqlite>::new("SELECT * FROM installs WHERE 1 = 1");
    if let Some(provider) = &filter.provider {
        query.push(" AND provider = ").push_bind(provider);
    }
    if let Some(status) = &filter.status {
        query.push(" AND status = ").push_bind(status);
    }
    let search = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if let Some(text) = search {
        // The trigram index finds rare text at once, but a term in most rows ("example") would
        // hand back every row before the page is sorted. So: ask the index for a few hits; if
        // it has that many, matches are dense and scanning in list order finds a page quickly.
        // The index needs three characters; shorter searches scan too.
        let indexed = text.chars().count() >= 3 && !dense_match(db, text).await?;
        if indexed {
            query
                .push(
                    " AND rowid IN (SELECT rowid FROM installs_search WHERE installs_search MATCH ",
                )
                .push_bind(fts_phrase(text))
                .push(")");
        } else {
            let pattern = format!(
                "%{}%",
                text.replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            );
            query
                .push(" AND (store_domain LIKE ")
                .push_bind(pattern.clone())
                .push(" ESCAPE '\\' OR store_name LIKE ")
                .push_bind(pattern)
                .push(" ESCAPE '\\')");
        }
    }
    if let Some(cursor) = cursor {
        query
            .push(" AND (updated_at, id) < (")
            .push_bind(cursor.updated_at)
            .push(", ")
            .push_bind(cursor.id.as_str())
            .push(")");
    }
    query
        .push(" ORDER BY updated_at DESC, id DESC LIMIT ")
        .push_bind(limit);
    query.build_query_as().fetch_all(db).await
}

/// Whether `text` matches so many installs that an ordered scan beats the trigram index.
async fn dense_match(db: &Db, text: &str) -> sqlx::Result<bool> {
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

/// How many installs have each status (for the counts at the top of the console).
pub async fn count_by_status(db: &Db) -> sqlx::Result<Vec<(String, i64)>> {
    sqlx::query_as("SELECT status, COUNT(*) FROM installs GROUP BY status ORDER BY status")
        .fetch_all(db)
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
    let mut tx = db.begin().await?;
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
    audit::record(
        &mut tx,
        now,
        actor,
        Action::Revoke,
        Some(id),
        &format!("revoked; {erased} credential(s) erased"),
    )
    .await?;
    tx.commit().await?;
    Ok(Revoked::Now { erased })
}
