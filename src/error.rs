//! `AppError`: every way a request can fail, each with its status and a page that says what
//! happened. A failure of ours is logged in full and shown without detail.

use askama::Template;
use axum::{
    http::StatusCode,
    response::{Html, IntoResponse, Response},
};

use crate::{
    flow::{FlowError, StateError},
    providers::TokenError,
};

/// A failed request.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Input we refuse; the message says why.
    #[error("{title}: {message}")]
    BadRequest {
        /// Page heading.
        title: &'static str,
        /// What was wrong.
        message: String,
    },
    /// Something we will not do, for a reason the message gives.
    #[error("{title}: {message}")]
    Forbidden {
        /// Page heading.
        title: &'static str,
        /// Why not.
        message: String,
    },
    /// No such page or thing.
    #[error("not found")]
    NotFound,
    /// A callback's state failed a check.
    #[error("state refused: {0}")]
    State(#[from] StateError),
    /// The platform's token endpoint failed.
    #[error("{provider} token exchange failed: {source}")]
    Token {
        /// The platform's display name.
        provider: &'static str,
        /// What went wrong.
        source: TokenError,
    },
    /// The platform sent the merchant back with an error other than a denial.
    #[error("{provider} reported an error: {error}")]
    ProviderError {
        /// The platform's display name.
        provider: &'static str,
        /// The `error` parameter, shortened.
        error: String,
        /// The `error_description` parameter, shortened.
        description: Option<String>,
    },
    /// A failure of ours.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<FlowError> for AppError {
    fn from(err: FlowError) -> Self {
        match err {
            FlowError::State(e) => Self::State(e),
            FlowError::Internal(e) => Self::Internal(e),
        }
    }
}

impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> Self {
        Self::Internal(anyhow::Error::new(err).context("database error"))
    }
}

/// The error page.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    /// HTTP status code.
    pub status: u16,
    /// Heading.
    pub title: String,
    /// Explanation.
    pub message: String,
    /// Whether to offer "start again".
    pub offer_restart: bool,
}

impl AppError {
    /// The status code this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::State(StateError::OtherBrowser) => StatusCode::FORBIDDEN,
            Self::State(_) => StatusCode::BAD_REQUEST,
            Self::Token { source, .. } if source.is_timeout() => StatusCode::GATEWAY_TIMEOUT,
            Self::Token { .. } | Self::ProviderError { .. } => StatusCode::BAD_GATEWAY,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn page(&self) -> ErrorPage {
        let status = self.status().as_u16();
        let (title, message, offer_restart) = match self {
            Self::BadRequest { title, message } | Self::Forbidden { title, message } => {
                ((*title).to_owned(), message.clone(), true)
            }
            Self::NotFound => (
                "Page not found".to_owned(),
                "There is nothing at this address.".to_owned(),
                true,
            ),
            Self::State(e) => (
                "This installation link cannot be used".to_owned(),
                format!(
                    "{}. Nothing was installed. Start the installation again from the beginning.",
                    capitalize(&e.to_string())
                ),
                true,
            ),
            Self::Token { provider, source } => (
                format!("{provider} did not complete the installation"),
                format!(
                    "{provider}'s token endpoint {source}. Nothing was stored; you can try again."
                ),
                true,
            ),
            Self::ProviderError {
                provider,
                error,
                description,
            } => (
                format!("{provider} reported an error"),
                match description {
                    Some(d) => format!(
                        "{provider} answered \u{201c}{error}\u{201d}: {d}. Nothing was installed."
                    ),
                    None => format!(
                        "{provider} answered \u{201c}{error}\u{201d}. Nothing was installed."
                    ),
                },
                true,
            ),
            Self::Internal(_) => (
                "Something went wrong on our side".to_owned(),
                "The request could not be completed. It has been logged; please try again later."
                    .to_owned(),
                false,
            ),
        };
        ErrorPage {
            status,
            title,
            message,
            offer_restart,
        }
    }
}

/// `s` with its first letter in upper case.
pub fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            // `{:#}` prints the whole cause chain; nothing secret is ever put into one.
            Self::Internal(e) => tracing::error!(error = format!("{e:#}"), "request failed"),
            _ if status.is_server_error() => tracing::warn!(error = %self, "request failed"),
            _ => tracing::info!(error = %self, "request refused"),
        }
        (status, render_or_plain(&self.page())).into_response()
    }
}

/// Renders a template, falling back to plain text if rendering fails (it should not: templates
/// are checked at compile time, but a page must never turn into a panic).
pub fn render_or_plain(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}
