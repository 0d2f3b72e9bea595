//! What the vendor API answers with: the install object, the access-token answer, order events,
//! and the lists of them. None of them can hold a secret but the access-token answer.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub(crate) use crate::domain::{InstallObject, rfc3339};
use crate::{
    db::events::Event,
    domain::{EventType, OrderStatus},
};

/// One page of installs.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct InstallList {
    /// The installs, most recently changed first.
    pub data: Vec<InstallObject>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// What the vendor's backend needs to call the platform itself.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct AccessToken {
    /// The access token (Maropost: the `X_SECRET_KEY` header's value).
    pub access_token: String,
    /// How to send it: `Bearer` (bol.com, OrderCloud, commercetools: `Authorization: Bearer`;
    /// a Maropost add-on token: as `X_SECRET_KEY`, with `x_access_key` as `X_ACCESS_KEY`), or
    /// `NETOAPI_KEY` (a Maropost API key: as `NETOAPI_KEY`, with `netoapi_username` as
    /// `NETOAPI_USERNAME` when there is one).
    pub token_type: String,
    /// When it stops working (RFC 3339), or `null` when the platform gave no expiry.
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
    /// Where the platform's API is for this install.
    #[schema(example = "https://mystore.neto.com.au/do/WS/NetoAPI")]
    pub api_base_url: String,
    /// Maropost: the `X_ACCESS_KEY` header's value (the add-on's client id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x_access_key: Option<String>,
    /// Maropost API key: the `NETOAPI_USERNAME` header's value (a user-based key's user).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netoapi_username: Option<String>,
}

/// An order notification Maropost sent for an install.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct EventObject {
    /// storelink's id for the event: increasing; the feed's cursor.
    pub id: i64,
    /// The install it was sent for.
    pub install_id: String,
    /// Maropost's `EventID`.
    pub event_id: String,
    /// Maropost's `EventType`, e.g. `Order`.
    pub event_type: String,
    /// `OrderID`.
    pub order_id: Option<String>,
    /// `OrderStatus`.
    #[schema(value_type = Option<OrderStatus>)]
    pub order_status: Option<String>,
    /// `CurrentTime` exactly as Maropost wrote it (store time, no zone).
    pub current_time: Option<String>,
    /// When storelink stored it (RFC 3339).
    #[schema(format = DateTime)]
    pub received_at: String,
}

impl From<Event> for EventObject {
    fn from(e: Event) -> Self {
        Self {
            id: e.id,
            install_id: e.install_id,
            event_id: e.event_id,
            event_type: e.event_type,
            order_id: e.order_id,
            order_status: e.order_status.map(|s| s.as_str().to_owned()),
            current_time: e.sent_time,
            received_at: rfc3339(e.received_at),
        }
    }
}

/// A page of the events feed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct EventList {
    /// Events in the order they were stored, oldest first.
    pub data: Vec<EventObject>,
    /// Pass as `after` to get what came next; it never skips or repeats an event.
    pub next_cursor: String,
}

/// `POST /api/v1/installs/{id}/revoke`'s optional body.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevokeRequest {
    /// Why, for the audit log (at most 200 characters).
    #[serde(default)]
    pub reason: Option<String>,
}

/// A notification endpoint, as the API shows it: never its secret.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct EndpointObject {
    /// storelink's id for the endpoint.
    #[schema(example = "3f9a0c2d4e6b8a1c5d7e9f0b")]
    pub id: String,
    /// Where notifications are POSTed.
    #[schema(example = "https://backend.example.com/storelink")]
    pub url: String,
    /// The event types it receives; `["*"]`: every type, and any added later.
    #[schema(value_type = Vec<SubscribedType>)]
    pub event_types: Vec<String>,
    /// Whether messages are sent to it.
    pub enabled: bool,
    /// Why storelink disabled it (days without a success), when it did.
    pub disabled_reason: Option<String>,
    /// At most this many messages a second; `null`: no limit.
    pub rate_limit: Option<i64>,
    /// At most this many messages in flight at once.
    pub max_in_flight: i64,
    /// Nothing is sent to it before this time (it answered `Retry-After`); `null`: not paused.
    #[schema(format = DateTime)]
    pub paused_until: Option<String>,
    /// When it was added.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Its last 2xx answer.
    #[schema(format = DateTime)]
    pub last_success_at: Option<String>,
    /// Its first failure since the last success.
    #[schema(format = DateTime)]
    pub failing_since: Option<String>,
}

impl From<&crate::db::endpoints::Endpoint> for EndpointObject {
    fn from(e: &crate::db::endpoints::Endpoint) -> Self {
        use crate::db::endpoints::Subscription;
        let event_types = match e.subscription() {
            Subscription::All => vec!["*".to_owned()],
            Subscription::Only(types) => types.iter().map(|t| t.as_str().to_owned()).collect(),
        };
        Self {
            id: e.id.clone(),
            url: e.url.clone(),
            event_types,
            enabled: e.enabled,
            disabled_reason: e.disabled_reason.clone(),
            rate_limit: e.rate_limit,
            max_in_flight: e.max_in_flight,
            paused_until: e.paused_until.map(rfc3339),
            created_at: rfc3339(e.created_at),
            last_success_at: e.last_success_at.map(rfc3339),
            failing_since: e.failing_since.map(rfc3339),
        }
    }
}

/// Every endpoint.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct EndpointList {
    /// The endpoints, oldest first.
    pub data: Vec<EndpointObject>,
}

/// An event type an endpoint subscribes to, or `*` for every type (and any added later): the
/// document lists them, so a generated client and a tester send only names storelink knows.
pub(crate) struct SubscribedType;

impl utoipa::PartialSchema for SubscribedType {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        let names = std::iter::once("*").chain(EventType::subscribable().map(EventType::as_str));
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(names))
            .into()
    }
}

impl ToSchema for SubscribedType {}

/// An endpoint to add.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EndpointRequest {
    /// An `https` URL on a host that is not internal.
    #[schema(example = "https://backend.example.com/storelink")]
    pub url: String,
    /// The event types to send (default, or `["*"]`: all of them).
    #[schema(value_type = Option<Vec<SubscribedType>>, example = json!(["install.created", "install.revoked"]))]
    pub event_types: Option<Vec<String>>,
    /// Whether to send to it at once (default `true`).
    pub enabled: Option<bool>,
    /// At most this many messages a second, 1 to 1000 (default: no limit).
    #[schema(minimum = 1, maximum = 1000)]
    pub rate_limit: Option<i64>,
    /// At most this many messages in flight at once, 1 to 1000 (default 16).
    #[schema(minimum = 1, maximum = 1000)]
    pub max_in_flight: Option<i64>,
}

/// Reads a field that may be `null` apart from one that is absent.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// What to change on an endpoint; what is left out stays.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EndpointChange {
    /// The event types to send (`["*"]`: all of them).
    #[schema(value_type = Option<Vec<SubscribedType>>)]
    pub event_types: Option<Vec<String>>,
    /// Enable or disable it (enabling starts its failure window afresh).
    pub enabled: Option<bool>,
    /// At most this many messages a second, 1 to 1000; `null` removes the limit.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 1000)]
    pub rate_limit: Option<Option<i64>>,
    /// At most this many messages in flight at once, 1 to 1000.
    #[schema(minimum = 1, maximum = 1000)]
    pub max_in_flight: Option<i64>,
}

/// An endpoint just added, with its signing secret: shown this once.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct EndpointCreated {
    /// The endpoint.
    pub endpoint: EndpointObject,
    /// `whsec_` and base64 of 32 bytes: verify notifications with it. Shown this once.
    pub secret: String,
}

/// A new signing secret: shown this once.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct SecretObject {
    /// `whsec_` and base64 of 32 bytes. The previous one keeps signing for 24 hours.
    pub secret: String,
}

/// From when to send failed messages again.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RecoverRequest {
    /// RFC 3339: the failed messages created at or after this time are sent again.
    #[schema(format = DateTime, example = "2026-12-07T08:00:00Z")]
    pub since: String,
}

/// How many failed messages were queued again.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct Recovered {
    /// Messages queued again (each once).
    pub recovered: u64,
}

/// One attempt at delivering a message.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct AttemptObject {
    /// When it was made.
    #[schema(format = DateTime)]
    pub at: String,
    /// The answer's status code; `null` when no answer came (timeout, refused connection).
    pub status_code: Option<i64>,
    /// How long it took, in milliseconds.
    pub duration_ms: i64,
    /// What happened, in words.
    pub outcome: String,
}

/// A message to an endpoint, with its attempts.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct MessageObject {
    /// The `webhook-id` (the same on every attempt).
    #[schema(example = "msg_018f2a3b4c5d6e7f8a9b0c1d2e3f")]
    pub id: String,
    /// What it announces.
    pub event_type: String,
    /// The install it concerns, when one.
    pub install_id: Option<String>,
    /// When it was made.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// `pending`, `delivered` or `failed`.
    #[schema(value_type = crate::domain::MessageStatus)]
    pub status: String,
    /// Its next attempt, while pending.
    #[schema(format = DateTime)]
    pub next_attempt_at: Option<String>,
    /// Every attempt so far, oldest first.
    pub attempts: Vec<AttemptObject>,
}

impl MessageObject {
    /// The message with its attempts (picked out of `attempts`, those of several messages).
    pub(crate) fn new(
        m: crate::db::outbox::Message,
        attempts: &[crate::db::outbox::AttemptRow],
    ) -> Self {
        let pending = m.status == crate::domain::MessageStatus::Pending;
        Self {
            attempts: attempts
                .iter()
                .filter(|a| a.message_id == m.id)
                .map(|a| AttemptObject {
                    at: rfc3339(a.attempted_at),
                    status_code: a.status_code,
                    duration_ms: a.latency_ms,
                    outcome: a.outcome.clone(),
                })
                .collect(),
            id: m.id,
            event_type: m.event_type.as_str().to_owned(),
            install_id: m.install_id,
            created_at: rfc3339(m.created_at),
            status: m.status.as_str().to_owned(),
            next_attempt_at: pending.then(|| rfc3339(m.next_attempt_at)),
        }
    }
}

/// A page of an endpoint's messages.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct MessageList {
    /// The messages, newest first.
    pub data: Vec<MessageObject>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}
