//! For load balancers and orchestrators: `/healthz` (liveness: the process answers and its
//! database does) and `/readyz` (readiness: the same, and it is not stopping).

use axum::{Router, extract::State, http::StatusCode, routing::get};

use crate::state::AppState;

/// The health routes.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

async fn healthz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    database(&state).await
}

/// `503` once the instance has been asked to stop (see `STORELINK_DRAIN_DELAY`) or when its
/// database does not answer.
async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if state.readiness.draining() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    }
    database(&state).await
}

async fn database(state: &AppState) -> (StatusCode, &'static str) {
    match sqlx::query("SELECT 1").execute(&state.db).await {
        Ok(_) => (StatusCode::OK, "ok"),
        Err(e) => {
            tracing::error!(error = %e, "health check: database unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}
