//! What becomes of a notification once its body has been read: the checks in their order, then
//! the write.
//!
//! Looking the install and its key up in the database on every request would cost a round trip
//! to SQLite's thread per event, about as much as everything else a request does. So what the
//! checks need (the install's status, a SHA-256 of its key and which sealed key that was) is
//! kept in memory, and the cache is never trusted on its own:
//! - a refusal (410, 401) decided from the cache is checked again against the database, so a key
//!   set or an install restored a moment ago is seen at once;
//! - an acceptance decided from the cache is checked again by the writer, inside the transaction
//!   that stores the event: if the install has been revoked or its key replaced meanwhile, the
//!   event is not stored ([`Written::Stale`]), the entry is dropped, and the checks run again
//!   against the database.
//!
//! So no answer ever rests on stale data, and the common case costs no query of its own.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use sha2::{Digest as _, Sha256};

use super::{
    order_event::{EventError, OrderEvent},
    order_xml,
    writer::{EventWriter, KeyVersion, WriteError, WriterConfig, Written},
};
use crate::{
    crypto::{Keyring, constant_time_eq},
    db::{
        Db,
        credentials::{self, Kind},
        events::{self, NewEvent},
    },
    domain::InstallStatus,
};

/// Installs remembered at most; past this the cache starts over (only installs that exist are
/// cached, so its size follows the number of installs, not what callers send).
const MAX_CACHED: usize = 10_000;

/// Why a notification is not stored. Each maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// No install has this id (404).
    #[error("unknown install")]
    UnknownInstall,
    /// The install is revoked (410).
    #[error("revoked install")]
    Revoked,
    /// `NETOAPI_KEY` missing, wrong, or no key set for the install (401).
    #[error("missing or wrong key")]
    Unauthorized,
    /// Not a well-formed event (400).
    #[error("malformed event: {0}")]
    Malformed(EventError),
    /// The database could not look it up or store it (503).
    #[error("unavailable")]
    Unavailable,
}

/// Webhook intake: the writer that commits events, and what is known of the installs they are
/// for.
#[derive(Debug)]
pub struct Intake {
    writer: EventWriter,
    receivers: Mutex<HashMap<String, Arc<Receiver>>>,
}

/// What the checks need to know about an install.
#[derive(Debug)]
struct Receiver {
    revoked: bool,
    key: Option<KeyCheck>,
}

/// A webhook key as the checks use it: never the key itself.
struct KeyCheck {
    /// SHA-256 of the key.
    digest: [u8; 32],
    /// Which sealed value it came from.
    version: KeyVersion,
}

impl std::fmt::Debug for KeyCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyCheck([redacted])")
    }
}

impl Receiver {
    /// The checks after "does it exist", in order: revoked, then the key.
    fn authorize(&self, provided: Option<&[u8]>) -> Result<&KeyVersion, Refusal> {
        if self.revoked {
            return Err(Refusal::Revoked);
        }
        match (provided, &self.key) {
            (Some(provided), Some(key))
                if constant_time_eq(&Sha256::digest(provided), &key.digest) =>
            {
                Ok(&key.version)
            }
            _ => Err(Refusal::Unauthorized),
        }
    }
}

impl Intake {
    /// Starts the writer on the current Tokio runtime.
    pub fn start(db: Db) -> Self {
        Self {
            writer: EventWriter::start(db, WriterConfig::default()),
            receivers: Mutex::new(HashMap::new()),
        }
    }

    /// Stops the writer after writing what is queued (see [`EventWriter::shutdown`]).
    pub async fn shutdown(&self) {
        self.writer.shutdown().await;
    }

    /// Checks a notification for `install_id` carrying `provided_key` and `body`, in the order
    /// the route answers them (unknown install, revoked, key, document), and stores it. `Ok` only
    /// once the event is committed (or already was).
    pub async fn accept(
        &self,
        db: &Db,
        keyring: &Keyring,
        install_id: &str,
        provided_key: Option<&[u8]>,
        body: &[u8],
        now: i64,
    ) -> Result<Written, Refusal> {
        let (mut receiver, mut fresh) = match self.cached(install_id) {
            Some(receiver) => (receiver, false),
            None => (self.load(db, keyring, install_id).await?, true),
        };
        let mut parsed: Option<OrderEvent> = None;
        loop {
            let version = match receiver.authorize(provided_key) {
                Ok(version) => version.clone(),
                Err(_) if !fresh => {
                    receiver = self.load(db, keyring, install_id).await?;
                    fresh = true;
                    continue;
                }
                Err(refusal) => {
                    if matches!(refusal, Refusal::Unauthorized) {
                        tracing::info!(
                            install_id,
                            key_set = receiver.key.is_some(),
                            "webhook refused: missing or wrong key"
                        );
                    }
                    return Err(refusal);
                }
            };
            let event = match parsed.take() {
                Some(event) => event,
                None => match order_xml::parse(body) {
                    Ok(event) => event,
                    Err(_) if !fresh => {
                        // The install and key are checked before the document (a revoked
                        // install is `410` whatever it is sent): what let this one through was
                        // the cache, so ask the database before answering `400`.
                        self.forget(install_id);
                        receiver = self.load(db, keyring, install_id).await?;
                        fresh = true;
                        continue;
                    }
                    Err(e) => {
                        tracing::info!(
                            install_id,
                            problem = e.kind(),
                            "webhook refused: malformed"
                        );
                        tracing::debug!(install_id, error = %e, "malformed event");
                        return Err(Refusal::Malformed(e));
                    }
                },
            };
            let new = new_event(install_id, &event, body, now);
            match self.writer.write(new, version).await {
                Ok(Written::Stale) if !fresh => {
                    // Revoked or re-keyed since it was cached: check again, for real.
                    self.forget(install_id);
                    receiver = self.load(db, keyring, install_id).await?;
                    fresh = true;
                    parsed = Some(event);
                }
                Ok(Written::Stale) => {
                    tracing::info!(install_id, "webhook: the install changed meanwhile; 503");
                    return Err(Refusal::Unavailable);
                }
                Ok(written) => return Ok(written),
                Err(e) => {
                    if !matches!(e, WriteError::Stopped) {
                        tracing::warn!(error = %e, "webhook: event not stored; answering 503");
                    }
                    return Err(Refusal::Unavailable);
                }
            }
        }
    }

    fn cached(&self, install_id: &str) -> Option<Arc<Receiver>> {
        self.receivers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(install_id)
            .cloned()
    }

    fn forget(&self, install_id: &str) {
        self.receivers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(install_id);
    }

    /// Reads the install from the database (and remembers it when it exists).
    async fn load(
        &self,
        db: &Db,
        keyring: &Keyring,
        install_id: &str,
    ) -> Result<Arc<Receiver>, Refusal> {
        let found = events::receiver(db, install_id)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "webhook: cannot look the install up");
                Refusal::Unavailable
            })?
            .ok_or(Refusal::UnknownInstall)?;
        let key = found.webhook_key.and_then(|sealed| {
            let aad = credentials::associated_data(install_id, Kind::WebhookKey);
            match keyring.open(&sealed, &aad) {
                Ok(key) => Some(KeyCheck {
                    digest: Sha256::digest(key.as_slice()).into(),
                    version: KeyVersion::of(&sealed),
                }),
                Err(e) => {
                    tracing::error!(install_id, error = %e, "the stored webhook key does not open");
                    None
                }
            }
        });
        let receiver = Arc::new(Receiver {
            revoked: found.status == InstallStatus::Revoked,
            key,
        });
        let mut receivers = self
            .receivers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if receivers.len() >= MAX_CACHED {
            receivers.clear();
        }
        receivers.insert(install_id.to_owned(), receiver.clone());
        Ok(receiver)
    }
}

fn new_event(install_id: &str, event: &OrderEvent, body: &[u8], now: i64) -> NewEvent {
    NewEvent {
        install_id: install_id.to_owned(),
        event_id: event.event_id.clone(),
        event_type: event.event_type.clone(),
        sent_time: event.current_time.clone(),
        order_id: event.order.as_ref().map(|o| o.order_id.clone()),
        order_status: event.order.as_ref().map(|o| o.status),
        received_at: now,
        // `parse` accepted it, so it is UTF-8 and nothing is replaced.
        raw_body: String::from_utf8_lossy(body).into_owned(),
    }
}
