//! Turning an askama template into an answer. Below everything that renders pages (the web
//! layer, the sandbox stand-ins), so none of them reaches up for it.

use askama::Template;
use axum::{
    http::StatusCode,
    response::{Html, IntoResponse, Response},
};

/// Renders a template, falling back to plain text if rendering fails (it should not: templates
/// are checked at compile time, but a page must never turn into a panic).
pub(crate) fn render_or_plain(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}
