//! Notification endpoints (where the vendor's backend hears about changes) and their signing
//! secrets. A secret is 32 random bytes, shown once as `whsec_` + base64 and otherwise only
//! sealed; rotating one keeps the old secret signing alongside the new for a day, so the vendor
//! can switch without dropping a message.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use secrecy::SecretString;
use sqlx::{AnyConnection, FromRow};
use zeroize::Zeroizing;

use super::{
    Db,
    audit::{self, Action},
};
use crate::{
    crypto::{Keyring, Sealed, random_hex},
    domain::{EndpointLimits, EventType},
};

/// How long a replaced secret keeps signing after a rotation.
pub const ROTATION_OVERLAP_SECS: i64 = 24 * 60 * 60;

/// The prefix of a signing secret as shown (Standard Webhooks' convention).
pub const SECRET_PREFIX: &str = "whsec_";

/// Which event types an endpoint receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscription {
    /// Every type (and any added later).
    All,
    /// Only these.
    Only(Vec<EventType>),
}

impl Subscription {
    /// `*`, or the types with a comma at each end (`,install.created,install.revoked,`), so a
    /// `LIKE '%,type,%'` finds a subscriber on any database.
    pub fn encode(&self) -> String {
        match self {
            Self::All => "*".to_owned(),
            Self::Only(types) => {
                let mut text = String::from(",");
                for t in types {
                    text.push_str(t.as_str());
                    text.push(',');
                }
                text
            }
        }
    }

    /// The stored form back; unknown names (from a newer storelink) are dropped.
    pub fn decode(text: &str) -> Self {
        if text == "*" {
            return Self::All;
        }
        Self::Only(text.split(',').filter_map(EventType::parse).collect())
    }

    /// Parses `a,b` as typed by an operator: every name must be a subscribable type; empty
    /// (or `*`) means all of them.
    pub fn parse(list: &str) -> Result<Self, String> {
        let list = list.trim();
        if list.is_empty() || list == "*" {
            return Ok(Self::All);
        }
        let mut types = Vec::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match EventType::parse(name) {
                Some(t) if t != EventType::Ping => {
                    if !types.contains(&t) {
                        types.push(t);
                    }
                }
                _ => {
                    let known: Vec<&str> = EventType::subscribable().map(|t| t.as_str()).collect();
                    return Err(format!(
                        "{:?} is not an event type; the types are {}",
                        crate::domain::text::shorten(name, 40),
                        known.join(", ")
                    ));
                }
            }
        }
        Ok(Self::Only(types))
    }

    /// Whether `t` is sent to this endpoint.
    pub fn includes(&self, t: EventType) -> bool {
        match self {
            Self::All => true,
            Self::Only(types) => types.contains(&t),
        }
    }

    /// For pages and the command line: "all events" or the names.
    pub fn describe(&self) -> String {
        match self {
            Self::All => "all events".to_owned(),
            Self::Only(types) if types.is_empty() => "no events".to_owned(),
            Self::Only(types) => types
                .iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

/// One endpoint as stored.
#[derive(Debug, Clone, FromRow)]
pub struct Endpoint {
    /// Random id (in URLs of the console).
    pub id: String,
    /// Where notifications go.
    pub url: String,
    /// [`Subscription::encode`]d.
    pub event_types: String,
    /// Whether messages are sent to it.
    #[sqlx(try_from = "super::Flag")]
    pub enabled: bool,
    /// Why it was disabled, when storelink disabled it.
    pub disabled_reason: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// The last 2xx, Unix seconds.
    pub last_success_at: Option<i64>,
    /// The first failure since the last success, Unix seconds.
    pub failing_since: Option<i64>,
    /// Messages a second at most, when limited.
    pub rate_limit: Option<i64>,
    /// Messages in flight at once at most.
    pub max_in_flight: i64,
    /// Nothing is sent before this Unix second (the endpoint's `Retry-After`).
    pub paused_until: Option<i64>,
}

impl Endpoint {
    /// What it subscribes to.
    pub fn subscription(&self) -> Subscription {
        Subscription::decode(&self.event_types)
    }

    /// Its limits (as stored: checked when they were set).
    pub fn limits(&self) -> EndpointLimits {
        EndpointLimits::new(self.rate_limit, self.max_in_flight).unwrap_or_default()
    }
}

/// A new signing secret: 32 random bytes.
fn new_secret() -> Zeroizing<Vec<u8>> {
    use chacha20poly1305::aead::{OsRng, rand_core::RngCore};
    let mut bytes = Zeroizing::new(vec![0u8; 32]);
    OsRng.fill_bytes(&mut bytes);
    bytes
}

/// The secret as shown: `whsec_` + base64 (to the operator once, and to the sandbox receiver).
pub fn show(secret: &[u8]) -> SecretString {
    SecretString::from(format!("{SECRET_PREFIX}{}", STANDARD.encode(secret)))
}

fn associated_data(endpoint_id: &str) -> Vec<u8> {
    format!("{endpoint_id}|notify_secret").into_bytes()
}

async fn store_secret(
    conn: &mut AnyConnection,
    keyring: &Keyring,
    endpoint_id: &str,
    now: i64,
) -> sqlx::Result<SecretString> {
    let secret = new_secret();
    let sealed = keyring.seal(&secret, &associated_data(endpoint_id));
    sqlx::query(
        "INSERT INTO notify_secrets (endpoint_id, key_id, nonce, ciphertext, created_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(endpoint_id)
    .bind(&sealed.key_id)
    .bind(&sealed.nonce)
    .bind(&sealed.ciphertext)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(show(&secret))
}

/// Why an endpoint could not be added.
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    /// The URL is already an endpoint.
    #[error("{0} is already an endpoint")]
    Exists(String),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

// The endpoint's fields, the actor and the time: each is one of its own, as in the callers.
#[allow(clippy::too_many_arguments)]
/// Adds an endpoint (URL already checked by the caller) with a new signing secret, audited as
/// done by `actor`; returns it and the secret as shown, once.
pub async fn add(
    db: &Db,
    keyring: &Keyring,
    url: &str,
    subscription: &Subscription,
    limits: EndpointLimits,
    enabled: bool,
    actor: &str,
    now: i64,
) -> Result<(Endpoint, SecretString), AddError> {
    let mut tx = super::begin_write(db).await?;
    let id = random_hex(12);
    let inserted = sqlx::query(
        // It is owed the order events that arrive from now on, not those stored before.
        "INSERT INTO notify_endpoints (id, url, event_types, enabled, created_at, created_by,
             events_cursor, rate_limit, max_in_flight)
         VALUES ($1, $2, $3, $4, $5, $6, (SELECT COALESCE(max(id), 0) FROM events), $7, $8)
         ON CONFLICT (url) DO NOTHING",
    )
    .bind(&id)
    .bind(url)
    .bind(subscription.encode())
    .bind(i64::from(enabled))
    .bind(now)
    .bind(actor)
    .bind(limits.rate_limit().map(i64::from))
    .bind(i64::from(limits.max_in_flight()))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Err(AddError::Exists(url.to_owned()));
    }
    let secret = store_secret(&mut tx, keyring, &id, now).await?;
    audit::record(
        &mut tx,
        now,
        actor,
        Action::EndpointAdded,
        None,
        &format!(
            "endpoint added for {}, {}{}",
            subscription.describe(),
            limits.describe(),
            if enabled { "" } else { ", disabled" }
        ),
        &[("url", url)],
    )
    .await?;
    let endpoint = find_in(&mut tx, &id)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    tx.commit().await?;
    Ok((endpoint, secret))
}

async fn find_in(conn: &mut AnyConnection, id: &str) -> sqlx::Result<Option<Endpoint>> {
    sqlx::query_as(
        "SELECT id, url, event_types, enabled, disabled_reason, created_at, last_success_at,
             failing_since, rate_limit, max_in_flight, paused_until
         FROM notify_endpoints WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// The endpoint with this id.
pub async fn find(db: &Db, id: &str) -> sqlx::Result<Option<Endpoint>> {
    let mut conn = db.acquire().await?;
    find_in(&mut conn, id).await
}

/// The endpoint with this URL.
pub async fn find_by_url(db: &Db, url: &str) -> sqlx::Result<Option<Endpoint>> {
    sqlx::query_as(
        "SELECT id, url, event_types, enabled, disabled_reason, created_at, last_success_at,
             failing_since, rate_limit, max_in_flight, paused_until
         FROM notify_endpoints WHERE url = $1",
    )
    .bind(url)
    .fetch_optional(db)
    .await
}

/// Every endpoint, oldest first.
pub async fn list(db: &Db) -> sqlx::Result<Vec<Endpoint>> {
    sqlx::query_as(
        "SELECT id, url, event_types, enabled, disabled_reason, created_at, last_success_at,
             failing_since, rate_limit, max_in_flight, paused_until
         FROM notify_endpoints ORDER BY created_at, id",
    )
    .fetch_all(db)
    .await
}

/// Removes an endpoint with its secrets and messages; `false` when there was none.
pub async fn remove(db: &Db, id: &str, actor: &str, now: i64) -> sqlx::Result<bool> {
    let mut tx = super::begin_write(db).await?;
    let url: Option<String> =
        sqlx::query_scalar("DELETE FROM notify_endpoints WHERE id = $1 RETURNING url")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(url) = url else {
        return Ok(false);
    };
    audit::record(
        &mut tx,
        now,
        actor,
        Action::EndpointRemoved,
        None,
        "endpoint removed",
        &[("url", &url)],
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Enables or disables an endpoint by hand. Enabling starts its failure window afresh.
/// `false` when there is no such endpoint or it already was so.
pub async fn set_enabled(
    db: &Db,
    id: &str,
    enabled: bool,
    actor: &str,
    now: i64,
) -> sqlx::Result<bool> {
    let mut tx = super::begin_write(db).await?;
    if !enabled {
        // The order events stored while it was enabled are still owed to it.
        super::outbox::make_order_messages(&mut tx, Some(id), None).await?;
    }
    let url: Option<String> = sqlx::query_scalar(
        // Enabled again, it is owed the order events from now on, as a new endpoint is.
        "UPDATE notify_endpoints SET enabled = $1, disabled_reason = NULL, failing_since = NULL,
             events_cursor = CASE WHEN $1 = 1 THEN (SELECT COALESCE(max(id), 0) FROM events)
                                  ELSE events_cursor END
         WHERE id = $2 AND enabled <> $1 RETURNING url",
    )
    .bind(i64::from(enabled))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(url) = url else {
        return Ok(false);
    };
    let (action, detail) = if enabled {
        (Action::EndpointEnabled, "endpoint enabled")
    } else {
        (Action::EndpointDisabled, "endpoint disabled by hand")
    };
    audit::record(&mut tx, now, actor, action, None, detail, &[("url", &url)]).await?;
    tx.commit().await?;
    Ok(true)
}

/// Makes a new signing secret for an endpoint; the ones it replaces keep signing for
/// [`ROTATION_OVERLAP_SECS`]. `None` when there is no such endpoint.
pub async fn rotate_secret(
    db: &Db,
    keyring: &Keyring,
    id: &str,
    actor: &str,
    now: i64,
) -> sqlx::Result<Option<SecretString>> {
    let mut tx = super::begin_write(db).await?;
    let Some(endpoint) = find_in(&mut tx, id).await? else {
        return Ok(None);
    };
    sqlx::query("DELETE FROM notify_secrets WHERE endpoint_id = $1 AND expires_at <= $2")
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE notify_secrets SET expires_at = $1 WHERE endpoint_id = $2 AND expires_at IS NULL",
    )
    .bind(now + ROTATION_OVERLAP_SECS)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    let secret = store_secret(&mut tx, keyring, id, now).await?;
    audit::record(
        &mut tx,
        now,
        actor,
        Action::EndpointSecretRotated,
        None,
        "new signing secret; the old one signs too for 24 hours",
        &[("url", &endpoint.url)],
    )
    .await?;
    tx.commit().await?;
    Ok(Some(secret))
}

/// The secrets that sign an endpoint's messages at `now`, newest first: the current one, and a
/// replaced one during its overlap.
pub async fn signing_secrets(
    db: &Db,
    keyring: &Keyring,
    endpoint_id: &str,
    now: i64,
) -> anyhow::Result<Vec<Zeroizing<Vec<u8>>>> {
    let rows: Vec<(String, Vec<u8>, Vec<u8>)> = sqlx::query_as(
        "SELECT key_id, nonce, ciphertext FROM notify_secrets
         WHERE endpoint_id = $1 AND (expires_at IS NULL OR expires_at > $2)
         ORDER BY id DESC",
    )
    .bind(endpoint_id)
    .bind(now)
    .fetch_all(db)
    .await?;
    let aad = associated_data(endpoint_id);
    rows.into_iter()
        .map(|(key_id, nonce, ciphertext)| {
            let sealed = Sealed {
                key_id,
                nonce,
                ciphertext,
            };
            keyring.open(&sealed, &aad).map_err(anyhow::Error::from)
        })
        .collect()
}

/// Re-seals every endpoint secret not sealed with the current master key (`rotate-keys`), in
/// the caller's transaction. Returns how many.
pub async fn reseal_in(conn: &mut AnyConnection, keyring: &Keyring) -> anyhow::Result<u64> {
    use anyhow::Context as _;
    let current = keyring.current().id().to_owned();
    type Row = (i64, String, String, Vec<u8>, Vec<u8>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, endpoint_id, key_id, nonce, ciphertext FROM notify_secrets WHERE key_id <> $1",
    )
    .bind(&current)
    .fetch_all(&mut *conn)
    .await?;
    let mut resealed = 0;
    for (id, endpoint_id, key_id, nonce, ciphertext) in rows {
        let aad = associated_data(&endpoint_id);
        let plain = keyring
            .open(
                &Sealed {
                    key_id,
                    nonce,
                    ciphertext,
                },
                &aad,
            )
            .with_context(|| format!("cannot open a signing secret of endpoint {endpoint_id}"))?;
        let sealed = keyring.seal(&plain, &aad);
        sqlx::query(
            "UPDATE notify_secrets SET key_id = $1, nonce = $2, ciphertext = $3 WHERE id = $4",
        )
        .bind(&sealed.key_id)
        .bind(&sealed.nonce)
        .bind(&sealed.ciphertext)
        .bind(id)
        .execute(&mut *conn)
        .await?;
        resealed += 1;
    }
    Ok(resealed)
}

/// Changes what an endpoint receives and what it can take, audited as done by `actor`;
/// `false` when there is no such endpoint.
pub async fn change(
    db: &Db,
    id: &str,
    subscription: &Subscription,
    limits: EndpointLimits,
    actor: &str,
    now: i64,
) -> sqlx::Result<bool> {
    let mut tx = super::begin_write(db).await?;
    let url: Option<String> = sqlx::query_scalar(
        "UPDATE notify_endpoints SET event_types = $1, rate_limit = $2, max_in_flight = $3
         WHERE id = $4 RETURNING url",
    )
    .bind(subscription.encode())
    .bind(limits.rate_limit().map(i64::from))
    .bind(i64::from(limits.max_in_flight()))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(url) = url else {
        return Ok(false);
    };
    audit::record(
        &mut tx,
        now,
        actor,
        Action::EndpointChanged,
        None,
        &format!(
            "endpoint set to {}, {}",
            subscription.describe(),
            limits.describe()
        ),
        &[("url", &url)],
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// What the worker knows of an endpoint from the database, each round.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LaneLimits {
    /// The endpoint.
    pub id: String,
    /// Messages a second at most, when limited.
    pub rate_limit: Option<i64>,
    /// Messages in flight at once at most.
    pub max_in_flight: i64,
    /// Nothing is sent before this Unix second.
    pub paused_until: Option<i64>,
}

/// The enabled endpoints with their limits and pauses, for the worker's round (in its
/// transaction).
pub async fn deliverable(conn: &mut AnyConnection) -> sqlx::Result<Vec<LaneLimits>> {
    sqlx::query_as(
        "SELECT id, rate_limit, max_in_flight, paused_until FROM notify_endpoints
         WHERE enabled = 1 ORDER BY id",
    )
    .fetch_all(conn)
    .await
}

/// Pauses an endpoint until Unix second `until` (it answered `Retry-After`), in the caller's
/// transaction; a later pause already set stays.
pub async fn pause(conn: &mut AnyConnection, id: &str, until: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE notify_endpoints SET paused_until = $1
         WHERE id = $2 AND (paused_until IS NULL OR paused_until < $1)",
    )
    .bind(until)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records a 2xx from an endpoint, in the caller's transaction: it is healthy again.
pub async fn record_success(conn: &mut AnyConnection, id: &str, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE notify_endpoints SET last_success_at = $1, failing_since = NULL WHERE id = $2",
    )
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records a failed attempt at an endpoint, in the caller's transaction. When it has failed
/// without a success for `window` seconds it is disabled (and audited as done by storelink);
/// returns whether this call disabled it.
pub async fn record_failure(
    conn: &mut AnyConnection,
    id: &str,
    now: i64,
    window: i64,
) -> sqlx::Result<bool> {
    let failing_since: Option<Option<i64>> = sqlx::query_scalar(
        "UPDATE notify_endpoints SET failing_since = COALESCE(failing_since, $1)
         WHERE id = $2 RETURNING failing_since",
    )
    .bind(now)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(Some(since)) = failing_since else {
        return Ok(false);
    };
    if now - since < window {
        return Ok(false);
    }
    let days = window / 86_400;
    let reason = format!("no successful delivery for {days} days");
    // The order events stored while it was enabled are still owed to it.
    super::outbox::make_order_messages(conn, Some(id), None).await?;
    let url: Option<String> = sqlx::query_scalar(
        "UPDATE notify_endpoints SET enabled = 0, disabled_reason = $1
         WHERE id = $2 AND enabled = 1 RETURNING url",
    )
    .bind(&reason)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(url) = url else {
        return Ok(false);
    };
    audit::record(
        conn,
        now,
        "system",
        Action::EndpointDisabled,
        None,
        &format!("endpoint disabled: {reason}"),
        &[("url", &url)],
    )
    .await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_round_trip_and_refuse_unknown_names() {
        let only = Subscription::parse("install.created, order.status_changed").unwrap();
        assert_eq!(only.encode(), ",install.created,order.status_changed,");
        assert_eq!(Subscription::decode(&only.encode()), only);
        assert!(only.includes(EventType::OrderStatusChanged));
        assert!(!only.includes(EventType::InstallRevoked));
        assert_eq!(Subscription::parse("").unwrap(), Subscription::All);
        assert_eq!(Subscription::parse("*").unwrap(), Subscription::All);
        assert!(Subscription::parse("install.created,bogus").is_err());
        assert!(
            Subscription::parse("ping").is_err(),
            "ping is not subscribable"
        );
    }

    #[test]
    fn a_shown_secret_is_whsec_and_base64_of_32_bytes() {
        use secrecy::ExposeSecret as _;
        let secret = new_secret();
        let shown = show(&secret);
        let text = shown.expose_secret();
        let b64 = text.strip_prefix(SECRET_PREFIX).unwrap();
        assert_eq!(STANDARD.decode(b64).unwrap(), secret.as_slice());
    }
}
