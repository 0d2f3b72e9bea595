//! The token state of an install (bol.com, OrderCloud, commercetools; a Maropost API key has
//! a state that never expires): how it authenticates, when its access token expires,
//! and the compare-and-swap claim that guards every refresh (see `migrations/README.md`).
//!
//! Every change here goes through the `token_version` column: a refresh claims version `v` by
//! moving it to `v + 1` (only if no other claim is running), and stores its result only while
//! the version is still `v + 1`, moving it on again. A revoke or a re-install moves it too, so
//! a refresh that loses any race stores nothing.

use secrecy::{ExposeSecret as _, SecretString};
use sqlx::{AnyConnection, FromRow};

use super::{
    Db,
    audit::{self, Action},
    credentials::{self, Kind},
    installs::{self, NewInstall, Saved},
};
use crate::{
    crypto::Keyring,
    domain::{AuthKind, EventType, InstallStatus, Platform, Reason},
};

/// An install's token state.
#[derive(Debug, Clone, FromRow)]
pub struct TokenState {
    /// The install's id.
    pub id: String,
    /// The platform (stored in the `provider` column).
    #[sqlx(rename = "provider")]
    pub platform: Platform,
    /// The account the install is keyed by.
    pub account_id: String,
    /// Where the install stands.
    pub status: InstallStatus,
    /// How it gets its access tokens.
    pub auth_kind: AuthKind,
    /// The client id an operator entered (client-credentials and password connections).
    pub client_id: Option<String>,
    /// The user an operator entered (OrderCloud's password grant, a Maropost API key's user).
    pub username: Option<String>,
    /// Where API calls go, when fixed at connection time (OrderCloud, commercetools).
    pub api_url: Option<String>,
    /// Where tokens come from, when fixed at connection time (OrderCloud, commercetools).
    pub token_url: Option<String>,
    /// The scope asked for or granted.
    pub scope: Option<String>,
    /// When the stored access token stops working, Unix seconds.
    pub token_expires_at: Option<i64>,
    /// When it was obtained, Unix seconds.
    pub token_refreshed_at: Option<i64>,
    /// The compare-and-swap version.
    pub token_version: i64,
    /// Until when a refresh claim holds, Unix seconds.
    pub refresh_lease_until: Option<i64>,
    /// The SHA-256 of a refresh token sent to the platform whose answer was never read.
    #[sqlx(default)]
    pub refresh_in_flight: Option<String>,
    /// Why the install needs attention, when it does.
    #[sqlx(default)]
    pub attention_reason: Option<Reason>,
}

/// The SQL condition for the installs whose tokens may be renewed and used: the active ones,
/// and those needing attention for a reason that may heal (their credentials are kept, and
/// checks go on using them). Kept in step with [`Reason::may_heal`] by a test. A macro, so
/// that the queries stay literals.
macro_rules! usable {
    () => {
        "(status = 'active' OR (status = 'needs_attention' \
          AND attention_reason = 'credentials_rejected'))"
    };
}

impl TokenState {
    /// Whether its tokens may be renewed and used (the Rust side of `usable!`).
    pub fn usable(&self) -> bool {
        match self.status {
            InstallStatus::Active => true,
            InstallStatus::NeedsAttention => self.attention_reason.is_some_and(Reason::may_heal),
            InstallStatus::Revoked => false,
        }
    }

    /// Whether another refresh holds the claim at `now`.
    pub fn claimed_at(&self, now: i64) -> bool {
        self.refresh_lease_until.is_some_and(|until| until > now)
    }
}

/// The token state of install `id`, if it exists.
pub async fn load(db: &Db, id: &str) -> sqlx::Result<Option<TokenState>> {
    sqlx::query_as(
        "SELECT id, provider, account_id, status, auth_kind, client_id, username, api_url,
                token_url, scope, token_expires_at, token_refreshed_at, token_version,
                refresh_lease_until, refresh_in_flight, attention_reason
         FROM installs WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Freshly obtained tokens.
pub struct FreshTokens<'a> {
    /// The access token.
    pub access_token: &'a SecretString,
    /// The refresh token, when the platform gave one. On a refresh without one the stored one
    /// is kept (it was not rotated); on a new connection, none is kept.
    pub refresh_token: Option<&'a SecretString>,
    /// When the access token stops working, Unix seconds.
    pub expires_at: i64,
    /// The scope the platform granted, when it named one: kept (and shown) as it changes.
    pub scope: Option<&'a str>,
}

/// A new connection (or a new authorization of a known one).
pub struct NewConnection<'a> {
    /// The install row's fields; its access token must be `tokens.access_token`.
    pub install: NewInstall<'a>,
    /// How it authenticates.
    pub kind: AuthKind,
    /// What an operator entered; nothing for a connection a merchant authorized.
    pub entered: Entered<'a>,
    /// Its first tokens; none for a connection whose key never expires (a Maropost API key,
    /// kept as the install's access token).
    pub tokens: Option<FreshTokens<'a>>,
    /// Who the audit log names: `merchant`, `operator:<email>`.
    pub actor: &'a str,
}

/// What an operator entered for a connection: the secrets are sealed on the way in, the rest is
/// kept as it is (none of it is a secret). A secret left out is erased.
#[derive(Default)]
pub struct Entered<'a> {
    /// A client id.
    pub client_id: Option<&'a str>,
    /// Its client secret.
    pub client_secret: Option<&'a SecretString>,
    /// A user's name (OrderCloud's password grant, a Maropost API key's user).
    pub username: Option<&'a str>,
    /// That user's password (OrderCloud's password grant).
    pub password: Option<&'a SecretString>,
    /// Where API calls go (OrderCloud's base, commercetools' `{api}/{projectKey}`).
    pub api_url: Option<&'a str>,
    /// Where tokens come from.
    pub token_url: Option<&'a str>,
}

/// Stores a connection: the install row (as [`installs::save`] does), its sealed tokens and
/// client secret, and its token state, in one transaction. Any refresh in flight for it loses
/// its claim.
pub async fn save_connection(
    db: &Db,
    keyring: &Keyring,
    new: &NewConnection<'_>,
    now: i64,
) -> anyhow::Result<Saved> {
    let mut tx = super::begin_write(db).await?;
    let saved = installs::save_in(&mut tx, keyring, &new.install, now, new.actor).await?;
    // Credentials an operator entered come with a name typed on the same form: that name is
    // the operator's, as a rename's is (kept over a later authorization).
    let entered = &new.entered;
    let operator_named = new.kind != AuthKind::Code;
    sqlx::query(
        "UPDATE installs SET auth_kind = $1, client_id = $2, token_expires_at = $3,
             token_refreshed_at = $4, token_version = token_version + 1,
             refresh_lease_until = NULL,
             store_name = CASE WHEN $6 THEN $7 ELSE store_name END,
             name_set_by_operator = CASE WHEN $6 THEN 1 ELSE name_set_by_operator END,
             username = $8, api_url = $9, token_url = $10
         WHERE id = $5",
    )
    .bind(new.kind)
    .bind(entered.client_id)
    .bind(new.tokens.as_ref().map(|t| t.expires_at))
    .bind(now)
    .bind(&saved.id)
    .bind(operator_named)
    .bind(new.install.store_name)
    .bind(entered.username)
    .bind(entered.api_url)
    .bind(entered.token_url)
    .execute(&mut *tx)
    .await?;
    let refresh_token = new.tokens.as_ref().and_then(|t| t.refresh_token);
    for (kind, secret) in [
        (Kind::RefreshToken, refresh_token),
        (Kind::ClientSecret, entered.client_secret),
        (Kind::Password, entered.password),
    ] {
        replace_secret(&mut tx, keyring, &saved.id, kind, secret, now).await?;
    }
    installs::announce_saved(&mut tx, &saved, now).await?;
    tx.commit().await?;
    Ok(saved)
}

/// Stores `secret` as the credential of `kind`, or erases that credential when there is none.
async fn replace_secret(
    conn: &mut AnyConnection,
    keyring: &Keyring,
    id: &str,
    kind: Kind,
    secret: Option<&SecretString>,
    now: i64,
) -> sqlx::Result<()> {
    match secret {
        Some(secret) => {
            credentials::store(
                conn,
                keyring,
                id,
                kind,
                secret.expose_secret().as_bytes(),
                now,
            )
            .await
        }
        None => credentials::erase(conn, id, kind).await,
    }
}

/// Claims the right to refresh install `id`, whose state was read at `version`: succeeds only
/// if nothing changed since, the install is active and no other claim is running. The claim
/// holds until `lease_until`; it is version `version + 1`.
pub async fn claim_refresh(
    db: &Db,
    id: &str,
    version: i64,
    now: i64,
    lease_until: i64,
) -> sqlx::Result<bool> {
    let claimed = sqlx::query(concat!(
        "UPDATE installs SET token_version = token_version + 1, refresh_lease_until = $1
         WHERE id = $2 AND token_version = $3 AND ",
        usable!(),
        " AND (refresh_lease_until IS NULL OR refresh_lease_until <= $4)"
    ))
    .bind(lease_until)
    .bind(id)
    .bind(version)
    .bind(now)
    .execute(db)
    .await?
    .rows_affected();
    Ok(claimed == 1)
}

/// Stores refreshed tokens, if the claim `claimed_version` still holds (nothing revoked or
/// re-installed the install meanwhile). The rotated refresh token, the new access token and the
/// new version commit together. Returns whether they were stored.
pub async fn store_refreshed(
    db: &Db,
    keyring: &Keyring,
    id: &str,
    claimed_version: i64,
    tokens: &FreshTokens<'_>,
    now: i64,
) -> anyhow::Result<bool> {
    let mut tx = super::begin_write(db).await?;
    let updated = sqlx::query(concat!(
        "UPDATE installs SET token_version = token_version + 1, refresh_lease_until = NULL,
             token_expires_at = $1, token_refreshed_at = $2, scope = COALESCE($5, scope),
             refresh_in_flight = NULL
         WHERE id = $3 AND token_version = $4 AND ",
        usable!()
    ))
    .bind(tokens.expires_at)
    .bind(now)
    .bind(id)
    .bind(claimed_version)
    .bind(tokens.scope)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if updated != 1 {
        tx.rollback().await?;
        return Ok(false);
    }
    let access = tokens.access_token.expose_secret().as_bytes();
    credentials::store(&mut tx, keyring, id, Kind::AccessToken, access, now).await?;
    if let Some(refresh) = tokens.refresh_token {
        let refresh = refresh.expose_secret().as_bytes();
        credentials::store(&mut tx, keyring, id, Kind::RefreshToken, refresh, now).await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// Gives a claim up without storing anything (the refresh failed, and may be tried again).
pub async fn release_claim(db: &Db, id: &str, claimed_version: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE installs SET refresh_lease_until = NULL WHERE id = $1 AND token_version = $2",
    )
    .bind(id)
    .bind(claimed_version)
    .execute(db)
    .await?;
    Ok(())
}

/// Notes, before a refresh token (SHA-256 `sent`) is sent under the claim `claimed_version`,
/// that its answer is awaited; cleared when a definitive answer arrives ([`answer_read`]) or
/// the new tokens are stored. Left behind by an answer that never arrived, it tells a later
/// refusal of the same refresh token apart: the platform had rotated it ([`Reason::RotationLost`]).
pub async fn note_refresh_sent(
    db: &Db,
    id: &str,
    claimed_version: i64,
    sent: &str,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE installs SET refresh_in_flight = $1 WHERE id = $2 AND token_version = $3")
        .bind(sent)
        .bind(id)
        .bind(claimed_version)
        .execute(db)
        .await?;
    Ok(())
}

/// The platform answered the refresh noted by [`note_refresh_sent`]: nothing is in flight.
pub async fn answer_read(db: &Db, id: &str, claimed_version: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE installs SET refresh_in_flight = NULL WHERE id = $1 AND token_version = $2",
    )
    .bind(id)
    .bind(claimed_version)
    .execute(db)
    .await?;
    Ok(())
}

/// The platform refused the connection for good (`invalid_grant`): marks the install as
/// needing re-authorization for `why`, erases its tokens (they no longer work) and audits why,
/// if the claim `claimed_version` still holds. Returns whether it did.
pub async fn mark_needs_attention(
    db: &Db,
    id: &str,
    claimed_version: i64,
    why: Reason,
    reason: &str,
    now: i64,
) -> anyhow::Result<bool> {
    let mut tx = super::begin_write(db).await?;
    let updated = sqlx::query(concat!(
        "UPDATE installs SET status = 'needs_attention', token_version = token_version + 1,
             refresh_lease_until = NULL, token_expires_at = NULL, updated_at = $1,
             attention_reason = $4, refresh_in_flight = NULL
         WHERE id = $2 AND token_version = $3 AND ",
        usable!()
    ))
    .bind(now)
    .bind(id)
    .bind(claimed_version)
    .bind(why.as_str())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if updated != 1 {
        tx.rollback().await?;
        return Ok(false);
    }
    credentials::erase(&mut tx, id, Kind::AccessToken).await?;
    credentials::erase(&mut tx, id, Kind::RefreshToken).await?;
    installs::announce(&mut tx, EventType::InstallNeedsAttention, id, now).await?;
    audit::record(
        &mut tx,
        now,
        "system",
        Action::NeedsAttention,
        Some(id),
        "needs re-authorization",
        &[("reason", why.as_str()), ("error", reason)],
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sql_and_the_rust_agree_on_which_installs_are_usable() {
        let sql: &str = usable!();
        for reason in Reason::ALL {
            let named = sql.contains(&format!("'{}'", reason.as_str()));
            assert_eq!(named, reason.may_heal(), "{reason}");
        }
    }
}
