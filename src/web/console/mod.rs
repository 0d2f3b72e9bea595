//! The operator console: log in, see connected stores, their history, and revoke them.
//!
//! Every route but the login page requires an operator (the [`auth::Operator`] extractor); every
//! state change is a POST carrying the session's CSRF token.

pub mod audit;
pub mod auth;
pub mod connections;
pub mod events;
pub mod installs;
pub mod login;

use axum::{
    Router,
    routing::{get, post},
};
use time::{OffsetDateTime, format_description::BorrowedFormatItem, macros::format_description};

use crate::app::AppState;

/// The console's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/login", get(login::page).post(login::submit))
        .route("/console/logout", post(login::logout))
        .route("/console", get(installs::list))
        .route("/console/installs/{id}", get(installs::detail))
        .route(
            "/console/installs/{id}/revoke",
            get(installs::confirm_revoke).post(installs::revoke),
        )
        .route("/console/audit", get(audit::list))
        .route(
            "/console/installs/{id}/test",
            post(connections::test_connection),
        )
        .route(
            "/console/connections/bol/new",
            get(connections::new_bol_connection),
        )
        .route(
            "/console/connections/bol",
            post(connections::create_bol_connection),
        )
        .route("/console/events", get(events::list))
        .route(
            "/console/installs/{id}/webhook-key",
            post(events::set_webhook_key),
        )
}

/// What every console page's header needs.
pub struct Nav {
    /// The operator's email.
    pub email: String,
    /// For the logout form.
    pub csrf_token: String,
}

impl From<&auth::Operator> for Nav {
    fn from(operator: &auth::Operator) -> Self {
        Self {
            email: operator.email.clone(),
            csrf_token: operator.csrf_token.clone(),
        }
    }
}

const TIME_FORMAT: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");

/// Unix seconds as `2026-11-23 12:07:00 UTC`.
pub fn fmt_time(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(TIME_FORMAT).ok())
        .unwrap_or_else(|| unix.to_string())
}

/// A query string from the pairs whose value is present.
pub fn query_string(pairs: &[(&str, Option<&str>)]) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            serializer.append_pair(key, value);
        }
    }
    serializer.finish()
}

/// An optional query parameter: empty means absent.
pub fn non_empty(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| crate::providers::shorten(v, 200))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_queries() {
        assert_eq!(fmt_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(
            query_string(&[("a", Some("x y")), ("b", None), ("c", Some(""))]),
            "a=x+y"
        );
    }
}
