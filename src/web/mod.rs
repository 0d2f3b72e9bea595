//! The web: one module per audience.

pub mod console;
pub mod health;
pub mod install;
pub mod webhooks;

use axum::response::{IntoResponse, Response};

use crate::error::AppError;

/// The answer for any route that does not exist.
pub async fn not_found() -> Response {
    AppError::NotFound.into_response()
}
