//! The vendor API: what storelink holds, for the add-on vendor's backend, as JSON under
//! `/api/v1/`. Every endpoint but the OpenAPI document takes a key ([`caller::ApiCaller`]);
//! every error is a problem ([`problem::Problem`]); the document is generated from the handlers
//! ([`openapi`]).

mod body;
mod caller;
mod connections;
mod endpoints;
mod events;
mod installs;
pub(crate) mod objects;
pub(crate) mod openapi;
mod params;
pub(crate) mod problem;
mod proxy;
mod responses;

use axum::{
    Router,
    routing::{any, get, post},
};

use crate::state::AppState;

/// The API's routes.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/installs", get(installs::list))
        .route("/api/v1/installs/{id}", get(installs::get))
        .route(
            "/api/v1/installs/{id}/access-token",
            post(installs::access_token),
        )
        .route("/api/v1/installs/{id}/revoke", post(installs::revoke))
        // The methods the document names (and HEAD, with GET); any other is a 405 with `Allow`,
        // answered here, never sent on to a platform.
        .route("/api/v1/installs/{id}/proxy", proxy_methods())
        .route("/api/v1/installs/{id}/proxy/{*path}", proxy_methods())
        .route("/api/v1/connections", post(connections::create))
        .route("/api/v1/events", get(events::feed))
        .route("/api/v1/openapi.json", get(openapi::document))
        .route(
            "/api/v1/endpoints",
            get(endpoints::list).post(endpoints::create),
        )
        .route(
            "/api/v1/endpoints/{id}",
            get(endpoints::get)
                .patch(endpoints::update)
                .delete(endpoints::delete),
        )
        .route(
            "/api/v1/endpoints/{id}/rotate-secret",
            post(endpoints::rotate_secret),
        )
        .route("/api/v1/endpoints/{id}/recover", post(endpoints::recover))
        .route("/api/v1/endpoints/{id}/messages", get(endpoints::messages))
        .route(
            "/api/v1/endpoints/{id}/messages/{msg}/resend",
            post(endpoints::resend),
        )
        // Anything else under /api answers as the API does, not with a page.
        .route("/api/{*rest}", any(not_found))
        .method_not_allowed_fallback(method_not_allowed)
}

async fn not_found() -> problem::Problem {
    problem::Problem::not_found("There is no such API endpoint.")
}

/// The proxy's methods: GET (and HEAD), POST, PUT, PATCH, DELETE.
fn proxy_methods() -> axum::routing::MethodRouter<AppState> {
    get(proxy::proxy)
        .post(proxy::proxy)
        .put(proxy::proxy)
        .patch(proxy::proxy)
        .delete(proxy::proxy)
}

async fn method_not_allowed() -> problem::Problem {
    problem::Problem::method_not_allowed()
}
