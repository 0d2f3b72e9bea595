//! An install's webhook key: the secret a platform sends with each notification to storelink, so
//! storelink knows the notification comes from that store. Checked to have a real key's form,
//! sealed like every credential, set by an operator (the console) or by the merchant (once,
//! through a single-use grant on the success page), and audited.

use std::fmt;

use crate::{
    crypto::Keyring,
    db::{
        Db,
        audit::{self, Action},
        credentials::{self, Kind},
    },
    domain::InstallStatus,
};

/// Longest webhook key accepted.
const MAX_KEY_LEN: usize = 512;
/// Shortest webhook key accepted: Maropost's API keys are far longer, and a short key can be
/// guessed.
const MIN_KEY_LEN: usize = 16;

/// A store's webhook key (Maropost's `NETOAPI_KEY`, say), checked to have the form of a real API key:
/// 16 to 512 characters, each a letter, a digit or one of `-_.~+/=` (so it is sendable as an HTTP
/// header and is not something typed by mistake). `Debug` does not show it.
#[derive(Clone)]
pub struct WebhookKey(String);

impl fmt::Debug for WebhookKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookKey([redacted])")
    }
}

/// Why a webhook key was refused. The message never repeats the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookKeyError {
    /// Nothing was entered.
    #[error("enter the store's API key")]
    Empty,
    /// Too short to be a real key (and guessable).
    #[error("the key is shorter than {MIN_KEY_LEN} characters: paste the store's whole API key")]
    TooShort,
    /// Too long to be a key.
    #[error("the key is longer than {MAX_KEY_LEN} characters")]
    TooLong,
    /// Spaces or characters an API key does not have.
    #[error(
        "the key may only contain letters, digits and the characters - _ . ~ + / =, without spaces"
    )]
    BadCharacters,
}

impl WebhookKey {
    /// Checks a key as typed (surrounding whitespace is ignored).
    pub fn parse(text: &str) -> Result<Self, WebhookKeyError> {
        let key = text.trim();
        if key.is_empty() {
            return Err(WebhookKeyError::Empty);
        }
        if key.len() > MAX_KEY_LEN {
            return Err(WebhookKeyError::TooLong);
        }
        let key_character = |b: u8| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'+' | b'/' | b'=')
        };
        if !key.bytes().all(key_character) {
            return Err(WebhookKeyError::BadCharacters);
        }
        if key.len() < MIN_KEY_LEN {
            return Err(WebhookKeyError::TooShort);
        }
        Ok(Self(key.to_owned()))
    }

    /// The key's bytes, for sealing.
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// Why [`set_webhook_key`] stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum SetKeyError {
    /// The key is not usable; show the message next to the form field.
    #[error(transparent)]
    Invalid(#[from] WebhookKeyError),
    /// No install has this id.
    #[error("no such install")]
    UnknownInstall,
    /// The install is revoked: it keeps no credentials.
    #[error("the install is revoked")]
    Revoked,
    /// The single-use grant the key came with was spent already (by another request).
    #[error("the grant was used already")]
    GrantSpent,
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Seals `key` and stores it as `install_id`'s webhook key, replacing any earlier one, and
/// audits it as done by `actor` (never with the key in it), in one transaction. Refuses an
/// invalid key, an unknown install and a revoked one.
pub async fn set_webhook_key(
    db: &Db,
    keyring: &Keyring,
    install_id: &str,
    key: &str,
    actor: &str,
    now: i64,
) -> Result<(), SetKeyError> {
    set_key(db, keyring, install_id, key, actor, now, None).await
}

/// [`set_webhook_key`] for a holder of a single-use grant (the merchant's success page): the
/// grant, named by the SHA-256 of its token, is spent in the same transaction as the key is
/// stored, so of any number of requests racing with one grant exactly one stores a key; the
/// others get [`SetKeyError::GrantSpent`] and change nothing.
pub async fn set_webhook_key_once(
    db: &Db,
    keyring: &Keyring,
    install_id: &str,
    key: &str,
    actor: &str,
    now: i64,
    grant_hash: &str,
) -> Result<(), SetKeyError> {
    set_key(db, keyring, install_id, key, actor, now, Some(grant_hash)).await
}

async fn set_key(
    db: &Db,
    keyring: &Keyring,
    install_id: &str,
    key: &str,
    actor: &str,
    now: i64,
    grant_hash: Option<&str>,
) -> Result<(), SetKeyError> {
    let key = WebhookKey::parse(key)?;
    // IMMEDIATE: take the write lock now, so a concurrent revoke cannot slip in between the
    // check and the store.
    let mut tx = crate::db::begin_write(db).await?;
    if let Some(grant_hash) = grant_hash
        && !crate::db::spent_grants::spend(&mut tx, grant_hash, now).await?
    {
        return Err(SetKeyError::GrantSpent);
    }
    let status: Option<InstallStatus> =
        sqlx::query_scalar("SELECT status FROM installs WHERE id = $1")
            .bind(install_id)
            .fetch_optional(&mut *tx)
            .await?;
    match status {
        None => return Err(SetKeyError::UnknownInstall),
        Some(InstallStatus::Revoked) => return Err(SetKeyError::Revoked),
        Some(InstallStatus::Active | InstallStatus::NeedsAttention) => {}
    }
    credentials::store(
        &mut tx,
        keyring,
        install_id,
        Kind::WebhookKey,
        key.expose(),
        now,
    )
    .await?;
    audit::record(
        &mut tx,
        now,
        actor,
        Action::WebhookKeySet,
        Some(install_id),
        "webhook key set (sealed)",
        &[],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Whether `install_id` has a webhook key set (the console shows this, never the key).
pub async fn has_webhook_key(db: &Db, install_id: &str) -> sqlx::Result<bool> {
    Ok(credentials::load(db, install_id, Kind::WebhookKey)
        .await?
        .is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_keys_need_the_form_of_a_real_key() {
        for bad in [
            "",
            "   ",
            "k",
            "short-key-15chr",
            "has space inside the key",
            "semi;colon-in-the-key",
            "quote\"in-the-key-value",
            "key-with-a-newline\n-in-it",
        ] {
            assert!(WebhookKey::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            WebhookKey::parse("fifteen-chars!!").unwrap_err(),
            WebhookKeyError::BadCharacters
        );
        assert_eq!(
            WebhookKey::parse("a-15-char-key-x").unwrap_err(),
            WebhookKeyError::TooShort
        );
        assert_eq!(
            WebhookKey::parse(&"k".repeat(MAX_KEY_LEN + 1)).unwrap_err(),
            WebhookKeyError::TooLong
        );
        for good in [
            "a-16-char-key-xy",
            "  maropost-api-key-3f9a1c77d2  ",
            "Zm9vYmFyYmF6cXV4cXV1eA==",
            "abc_DEF.ghi~JKL+mno/PQR",
        ] {
            assert!(WebhookKey::parse(good).is_ok(), "{good:?} refused");
        }
        assert!(!format!("{:?}", WebhookKey::parse("a-16-char-key-xy").unwrap()).contains("xy"));
    }
}
