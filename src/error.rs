//! `AppError`: every way a request can fail, each with its status and a page that says what
//! happened. A failure of ours is logged in full and shown without detail.

use askama::Template;
use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

pub(crate) use crate::render::render_or_plain;
use crate::{
    flow::{FlowError, StateError},
    platforms::kit::token::TokenError,
};

/// A failed request.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AppError {
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
    /// Something that was offered for a while and is no longer (an expired set-up window, a
    /// revoked install): `410`.
    #[error("{title}: {message}")]
    Gone {
        /// Page heading.
        title: &'static str,
        /// What ended, and what to do instead.
        message: String,
    },
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
    /// Too many requests of this kind from this client address: answered `429` with
    /// `Retry-After`.
    #[error("rate limited for {retry_after} s")]
    RateLimited {
        /// Seconds until the client may try again.
        retry_after: u64,
    },
    /// storelink cannot take this request now (too much of the same work is running): `503`
    /// with `Retry-After`.
    #[error("busy; retry after {retry_after} s")]
    Busy {
        /// Seconds after which trying again makes sense.
        retry_after: u64,
    },
    /// The database cannot be reached (down, or every connection busy past the acquire timeout):
    /// `503` with `Retry-After`.
    #[error("the database is unavailable")]
    Unavailable,
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
        if is_unavailable(&err) {
            tracing::error!(error = %err, "the database is unavailable");
            return Self::Unavailable;
        }
        Self::Internal(anyhow::Error::new(err).context("database error"))
    }
}

impl From<tower_sessions::session::Error> for AppError {
    fn from(err: tower_sessions::session::Error) -> Self {
        match err {
            // The session store is the database: it cannot be reached (or is refusing work).
            tower_sessions::session::Error::Store(e) => {
                tracing::error!(error = %e, "the session store is unavailable");
                Self::Unavailable
            }
            other => Self::Internal(anyhow::Error::new(other).context("session")),
        }
    }
}

/// Whether `err` says the database cannot be reached now (rather than that a query is wrong):
/// no connection within the acquire timeout, or a connection that failed or closed.
pub(crate) fn is_unavailable(err: &sqlx::Error) -> bool {
    matches!(
        err,
        sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
    )
}

/// Seconds after which a client may try again when the database is unavailable.
const UNAVAILABLE_RETRY_AFTER: u64 = 5;

/// The error page. A copy rides along in the response's extensions, so that a part of the site
/// with a layout of its own (the console) can show the same words in that layout.
#[derive(Debug, Clone, Template)]
#[template(path = "error.html")]
pub(crate) struct ErrorPage {
    /// HTTP status code.
    pub status: u16,
    /// Heading.
    pub title: String,
    /// Explanation.
    pub message: String,
    /// The way on, as `(href, label)`: "Start again" after a failed installation, the home page
    /// after a 404; none when waiting is the answer.
    pub next: Option<(&'static str, &'static str)>,
}

/// Where a merchant starts an installation again.
const START_AGAIN: Option<(&str, &str)> = Some(("/", "Start again"));

impl AppError {
    /// A short, stable name for the kind of failure (for metrics; never holds input).
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::BadRequest { .. } => "bad_request",
            Self::Forbidden { .. } => "forbidden",
            Self::NotFound => "not_found",
            Self::Gone { .. } => "gone",
            Self::State(_) => "state",
            Self::Token { .. } => "token",
            Self::ProviderError { .. } => "provider_error",
            Self::Unavailable => "unavailable",
            Self::Internal(_) => "internal",
            #[allow(unreachable_patterns)]
            _ => "other",
        }
    }
}

impl AppError {
    /// The status code this error is answered with.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Gone { .. } => StatusCode::GONE,
            Self::State(StateError::OtherBrowser) => StatusCode::FORBIDDEN,
            Self::State(_) => StatusCode::BAD_REQUEST,
            Self::Token { source, .. } if source.is_timeout() => StatusCode::GATEWAY_TIMEOUT,
            Self::Token { .. } | Self::ProviderError { .. } => StatusCode::BAD_GATEWAY,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Busy { .. } | Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn page(&self) -> ErrorPage {
        let status = self.status().as_u16();
        let (title, message, next) = match self {
            Self::BadRequest { title, message }
            | Self::Forbidden { title, message }
            | Self::Gone { title, message } => ((*title).to_owned(), message.clone(), START_AGAIN),
            Self::NotFound => (
                "Page not found".to_owned(),
                "There is nothing at this address.".to_owned(),
                Some(("/", "Go to the home page")),
            ),
            Self::State(e) => (
                "This installation link cannot be used".to_owned(),
                format!(
                    "{}. Nothing was installed. Start the installation again from the beginning.",
                    capitalize(&e.to_string())
                ),
                START_AGAIN,
            ),
            Self::Token { provider, source } => (
                format!("{provider} did not complete the installation"),
                format!(
                    "{provider}'s token endpoint {source}. Nothing was stored; you can try again."
                ),
                START_AGAIN,
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
                START_AGAIN,
            ),
            Self::RateLimited { retry_after } => (
                "Too many attempts".to_owned(),
                format!(
                    "Too many requests like this one have come from your network. Try again in \
                     {retry_after} second{}.",
                    if *retry_after == 1 { "" } else { "s" }
                ),
                None,
            ),
            Self::Busy { retry_after } => (
                "Busy".to_owned(),
                format!(
                    "storelink is handling too many requests like this one. Try again in \
                     {retry_after} second{}.",
                    if *retry_after == 1 { "" } else { "s" }
                ),
                None,
            ),
            Self::Unavailable => (
                "storelink is unavailable".to_owned(),
                format!(
                    "storelink cannot reach its database at the moment. Nothing was changed; try \
                     again in a minute (this page can be reloaded after {UNAVAILABLE_RETRY_AFTER} \
                     seconds)."
                ),
                None,
            ),
            Self::Internal(_) => (
                "Something went wrong on our side".to_owned(),
                "The request could not be completed. It has been logged; please try again later."
                    .to_owned(),
                None,
            ),
        };
        ErrorPage {
            status,
            title,
            message,
            next,
        }
    }
}

/// `s` with its first letter in upper case.
pub(crate) fn capitalize(s: &str) -> String {
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
        let page = self.page();
        let mut response = (status, render_or_plain(&page)).into_response();
        response.extensions_mut().insert(page);
        let retry_after = match self {
            Self::RateLimited { retry_after } | Self::Busy { retry_after } => Some(retry_after),
            Self::Unavailable => Some(UNAVAILABLE_RETRY_AFTER),
            _ => None,
        };
        if let Some(retry_after) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        }
        response
    }
}

/// Gives a failure that a layer answered with an empty body (the session layer, when the
/// session store cannot be read or written: the database is down) the usual error page, so a
/// visitor never sees a blank `500`.
pub(crate) async fn page_for_bare_failures(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let response = next.run(request).await;
    let bare = response.status().is_server_error()
        && !response.headers().contains_key(header::CONTENT_TYPE)
        && http_body::Body::size_hint(response.body()).exact() == Some(0);
    if !bare {
        return response;
    }
    tracing::warn!(
        status = response.status().as_u16(),
        "a layer failed the request (the session store is unreachable?)"
    );
    AppError::Unavailable.into_response()
}
