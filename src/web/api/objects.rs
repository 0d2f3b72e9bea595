//! What the vendor API answers with: the install object, the access-token answer, order events,
//! and the lists of them. None of them can hold a secret but the access-token answer.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub(crate) use crate::domain::{InstallObject, rfc3339};
use crate::{db::events::Event, domain::OrderStatus};

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
