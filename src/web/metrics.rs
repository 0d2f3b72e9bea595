//! `GET /metrics`: Prometheus text, on the main port to `Authorization: Bearer
//! <STORELINK_METRICS_TOKEN>`, or without a token on `STORELINK_METRICS_BIND` (a separate,
//! private address). With neither set there is no such route.

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use secrecy::{ExposeSecret as _, SecretString};

use crate::{crypto::constant_time_eq, measure, state::AppState};

/// `/metrics` for the main port, behind `token`.
pub(crate) fn behind_token(token: SecretString) -> Router<AppState> {
    Router::new().route(
        "/metrics",
        get(move |state: State<AppState>, headers: HeaderMap| {
            let token = token.clone();
            async move {
                let presented = headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .unwrap_or_default();
                if !constant_time_eq(presented.as_bytes(), token.expose_secret().as_bytes()) {
                    return (
                        StatusCode::UNAUTHORIZED,
                        [(header::WWW_AUTHENTICATE, "Bearer realm=\"metrics\"")],
                        "a metrics token is required\n",
                    )
                        .into_response();
                }
                scrape(state).await
            }
        }),
    )
}

/// `/metrics` for a separate, private listener.
pub(crate) fn open() -> Router<AppState> {
    Router::new().route("/metrics", get(scrape))
}

async fn scrape(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        measure::render(&state.db).await,
    )
        .into_response()
}
