//! The install object: a connected store (or account) as the vendor's backend sees it, in API
//! answers and notifications alike. It never holds a secret.

use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use utoipa::ToSchema;

use super::{AuthKind, HealthState, InstallStatus, Platform, Reason};

/// Unix seconds as RFC 3339 (UTC).
pub fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// RFC 3339 text (`2026-12-07T08:00:00Z`, any offset) as Unix seconds, rounded down; `None`
/// for anything else.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    OffsetDateTime::parse(text.trim(), &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
}

/// A connected store (or retailer account), as the API shows it. Never holds a secret.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InstallObject {
    /// storelink's id for the install (32 hex characters).
    #[schema(example = "9f0c2d4e6a8b1c3d5e7f9a0b2c4d6e8f")]
    pub id: String,
    /// The platform.
    #[schema(value_type = Platform)]
    pub platform: String,
    /// Where the install stands.
    #[schema(value_type = InstallStatus)]
    pub status: String,
    /// How it gets its access tokens.
    #[schema(value_type = AuthKind)]
    pub auth_kind: String,
    /// The store's host name, when the platform has one.
    #[schema(example = "mystore.example.com")]
    pub store_domain: Option<String>,
    /// The platform's id for the store or account.
    pub account_id: String,
    /// The store's name.
    pub name: Option<String>,
    /// The scopes the platform granted.
    pub scopes: Vec<String>,
    /// First installed (RFC 3339).
    #[schema(format = DateTime)]
    pub installed_at: String,
    /// Last changed (RFC 3339); lists are ordered by it, newest first.
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// Why it needs attention, when `status` is `needs_attention`; `null` otherwise.
    #[schema(value_type = Option<Reason>)]
    pub reason: Option<String>,
    /// How its credentials are doing, as its checks (and calls through storelink) say.
    pub health: HealthObject,
}

/// An install's health, in the install object.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HealthObject {
    /// `ok`, `degraded` (three checks or calls in a row failed for a reason that may pass) or
    /// `unknown` (not checked yet).
    #[schema(value_type = HealthState)]
    pub state: String,
    /// The last check (RFC 3339), `null` before the first.
    #[schema(format = DateTime)]
    pub checked_at: Option<String>,
    /// The last check or call that worked (RFC 3339).
    #[schema(format = DateTime)]
    pub last_ok_at: Option<String>,
    /// Checks or calls that failed in a row.
    pub consecutive_failures: i64,
    /// The last failure in a line, for operators (storelink's words and the platform's status,
    /// never a secret nor a raw body); `null` once a check or call works.
    pub last_error: Option<String>,
}

impl HealthObject {
    /// Before the first check.
    pub fn unknown() -> Self {
        Self {
            state: HealthState::Unknown.as_str().to_owned(),
            checked_at: None,
            last_ok_at: None,
            consecutive_failures: 0,
            last_error: None,
        }
    }
}
