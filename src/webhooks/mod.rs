//! Maropost order notifications: what a notification is ([`event`]), how received events reach
//! the disk ([`writer`]), and the per-install webhook key that authenticates them.
//!
//! The route itself is [`crate::web::webhooks`]; [`Intake`] decides what becomes of a
//! notification. What they guarantee: `200` exactly when the event is committed to the database
//! (or was already there), anything else when it is not, so that Maropost's retries never lose
//! an event and never store one twice.

pub mod event;
mod intake;
pub mod writer;

pub use intake::{Intake, Refusal};

use std::fmt;

use url::Url;

use crate::{
    crypto::Keyring,
    db::{
        Db,
        credentials::{self, Kind},
    },
};

/// Largest notification body accepted, in bytes.
pub const MAX_BODY: usize = 256 * 1024;
/// The header Maropost sends the store's key in.
pub const KEY_HEADER: &str = "NETOAPI_KEY";
/// Longest webhook key accepted.
const MAX_KEY_LEN: usize = 512;

/// The URL to paste into Maropost (Settings & Tools > All Settings & Tools > API Settings) for
/// `install_id`'s notifications.
pub fn webhook_url(public_url: &Url, install_id: &str) -> Url {
    let mut url = public_url.clone();
    url.set_path(&format!("/webhooks/maropost/{install_id}"));
    url.set_query(None);
    url.set_fragment(None);
    url
}

/// A store's webhook key (Maropost's `NETOAPI_KEY`), checked to be sendable as an HTTP header:
/// 1 to 512 printable ASCII characters, no spaces. `Debug` does not show it.
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
    /// Too long to be a key.
    #[error("the key is longer than {MAX_KEY_LEN} characters")]
    TooLong,
    /// Spaces or characters a header cannot carry.
    #[error("the key may only contain printable ASCII characters, without spaces")]
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
        if !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(WebhookKeyError::BadCharacters);
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
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Seals `key` and stores it as `install_id`'s webhook key, replacing any earlier one. Refuses
/// an invalid key, an unknown install and a revoked one. The caller records the audit entry
/// (never with the key in it).
pub async fn set_webhook_key(
    db: &Db,
    keyring: &Keyring,
    install_id: &str,
    key: &str,
    now: i64,
) -> Result<(), SetKeyError> {
    let key = WebhookKey::parse(key)?;
    // IMMEDIATE: take the write lock now, so a concurrent revoke cannot slip in between the
    // check and the store.
    let mut tx = db.begin_with("BEGIN IMMEDIATE").await?;
    let status: Option<String> = sqlx::query_scalar("SELECT status FROM installs WHERE id = $1")
        .bind(install_id)
        .fetch_optional(&mut *tx)
        .await?;
    match status.as_deref() {
        None => return Err(SetKeyError::UnknownInstall),
        Some("revoked") => return Err(SetKeyError::Revoked),
        Some(_) => {}
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
    tx.commit().await?;
    Ok(())
}

/// Whether `install_id` has a webhook key set (the console shows this, never the key).
pub async fn has_webhook_key(db: &Db, install_id: &str) -> sqlx::Result<bool> {
    Ok(credentials::load(db, install_id, Kind::WebhookKey)
        .await?
        .is_some())
}
