//! The web: one module per audience (merchants: [`install`], [`installed`]; operators: [`console`]; platforms
//! sending webhooks: [`receiving`]; load balancers: [`health`]).

pub(crate) mod api;
pub(crate) mod assets;
pub(crate) mod client;
pub(crate) mod console;
pub(crate) mod health;
pub(crate) mod install;
pub(crate) mod installed;
pub(crate) mod metrics;

use axum::{
    extract::Request,
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::error::AppError;

tokio::task_local! {
    /// Whether the request being answered is served in sandbox mode (set by
    /// [`mark_sandbox_mode`] for every request of a sandbox-mode app).
    static SANDBOX_MODE: bool;
}

/// Whether the page being rendered belongs to an app in sandbox mode: `base.html` then says so
/// on every page. Read from the request's task, so several apps in one process (tests) each
/// show their own mode.
pub(crate) fn sandbox_mode() -> bool {
    SANDBOX_MODE.try_with(|on| *on).unwrap_or(false)
}

/// Marks every request of a sandbox-mode app as such, for [`sandbox_mode`].
pub(crate) async fn mark_sandbox_mode(request: Request, next: Next) -> Response {
    SANDBOX_MODE.scope(true, next.run(request)).await
}

/// The answer for any route that does not exist.
pub(crate) async fn not_found() -> Response {
    AppError::NotFound.into_response()
}
