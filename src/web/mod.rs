//! The web: one module per audience (merchants: [`install`], [`installed`]; operators: [`console`]; platforms
//! sending webhooks: [`receiving`]; load balancers: [`health`]).

pub mod api;
pub mod assets;
pub mod client;
pub mod console;
pub mod health;
pub mod install;
pub mod installed;
pub mod metrics;
pub mod receiving;

use axum::response::{IntoResponse, Response};

use crate::error::AppError;

/// The answer for any route that does not exist.
pub async fn not_found() -> Response {
    AppError::NotFound.into_response()
}
