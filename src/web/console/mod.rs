//! The operator console: log in, see connected stores, their history, and revoke them.
//!
//! Every route but the login page requires an operator (the [`auth::Operator`] extractor); every
//! state change is a POST carrying the session's CSRF token. Each page module serves one part of
//! the console; what they share is in [`shared`].

pub(crate) mod api_keys;
pub(crate) mod audit;
pub(crate) mod auth;
pub(crate) mod budgets;
pub(crate) mod connections;
pub(crate) mod dashboard;
mod endpoint_delivery;
pub(crate) mod endpoints;
pub(crate) mod errors;
pub(crate) mod installs;
pub(crate) mod login;
pub(crate) mod order_events;
pub(crate) mod rename;
pub(crate) mod shared;

use axum::{
    Router,
    routing::{any, get, post},
};

use crate::state::AppState;

/// The console's routes.
pub(crate) fn router() -> Router<AppState> {
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
        .route("/console/connections/new", get(connections::choose))
        .route(
            "/console/connections/{kind}/new",
            get(connections::new_connection),
        )
        .route(
            "/console/connections/{kind}",
            post(connections::create_connection),
        )
        .route("/console/events", get(order_events::list))
        .route(
            "/console/api-keys",
            get(api_keys::list).post(api_keys::create),
        )
        .route(
            "/console/api-keys/{id}/revoke",
            get(api_keys::confirm_revoke).post(api_keys::revoke),
        )
        .route("/console/installs/{id}/rename", post(rename::rename))
        .route(
            "/console/installs/{id}/webhook-key",
            post(order_events::set_webhook_key),
        )
        .route(
            "/console/endpoints",
            get(endpoints::list).post(endpoints::add),
        )
        .route("/console/endpoints/{id}", get(endpoints::detail))
        .route("/console/endpoints/{id}/test", post(endpoints::send_test))
        .route("/console/endpoints/{id}/rotate", post(endpoints::rotate))
        .route("/console/endpoints/{id}/enable", post(endpoints::enable))
        .route("/console/endpoints/{id}/disable", post(endpoints::disable))
        .route(
            "/console/endpoints/{id}/limits",
            post(endpoint_delivery::set_limits),
        )
        .route(
            "/console/endpoints/{id}/recover",
            post(endpoint_delivery::recover),
        )
        .route(
            "/console/endpoints/{id}/remove",
            get(endpoints::confirm_remove).post(endpoints::remove),
        )
        .route(
            "/console/endpoints/{id}/messages/{message}/send-again",
            post(endpoints::send_again),
        )
        .route("/console/{*rest}", any(errors::not_found))
        .layer(axum::middleware::from_fn(errors::in_console_layout))
}
