//! Installs: one row per (provider, account), with what the platform told us about the store.

use sqlx::FromRow;

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
                new.store_domain.unwrap_or("no domain"),
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
                new.store_domain.unwrap_or("no domain"),
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
        &mut tx,
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
    audit::record(&mut tx, now, "merchant", action, Some(&id), &detail).await?;
    tx.commit().await?;
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
