//! Logs. Requests are logged by method and path only: queries carry OAuth codes and states,
//! so they never reach a log line. Every line of a request carries its id (`x-request-id`, the
//! caller's when it sends a sensible one, else a new one), which the answer carries back.
//! `STORELINK_LOG_FORMAT=json` writes one JSON object per line instead of text.

use axum::{
    body::Body,
    http::{HeaderName, HeaderValue, Request},
    middleware::Next,
    response::Response,
};
use tower_http::{
    classify::{ServerErrorsAsFailures, SharedClassifier},
    trace::{DefaultOnResponse, MakeSpan, TraceLayer},
};
use tracing::{Level, Span};
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::crypto::random_hex;

/// The header that carries a request's id.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Longest request id taken from a caller.
const MAX_REQUEST_ID: usize = 128;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (coloured on a terminal).
    Text,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// `STORELINK_LOG_FORMAT`: `text` (default) or `json`.
    pub fn from_env() -> Result<Self, String> {
        match std::env::var("STORELINK_LOG_FORMAT") {
            Err(_) => Ok(Self::Text),
            Ok(v) => match v.trim().to_ascii_lowercase().as_str() {
                "" | "text" => Ok(Self::Text),
                "json" => Ok(Self::Json),
                _ => Err(format!(
                    "STORELINK_LOG_FORMAT: expected text or json, got {:?}",
                    crate::domain::text::shorten(&v, 40)
                )),
            },
        }
    }
}

/// Installs the global subscriber: `RUST_LOG` if set, else info for storelink.
pub fn init() {
    init_with(LogFormat::Text);
}

/// [`init`], writing `format`.
pub fn init_with(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("storelink=info,tower_http=info"));
    // A second call (tests) finds a subscriber already set; that is fine.
    let _ = match format {
        LogFormat::Text => tracing_subscriber::registry()
            .with(filter)
            .with(
                fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
            )
            .try_init(),
        LogFormat::Json => tracing_subscriber::registry()
            .with(filter)
            .with(
                fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
}

/// Names a request's span by method, path and id, never by the full URI.
#[derive(Clone, Copy, Debug)]
pub struct PathOnlySpan;

impl MakeSpan<Body> for PathOnlySpan {
    fn make_span(&mut self, request: &Request<Body>) -> Span {
        let id = request
            .headers()
            .get(REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        tracing::info_span!(
            "request",
            // A client may send any token as its method, of any length: the log names the usual
            // seven and calls the rest `other`.
            method = crate::measure::method_label(request.method()),
            path = %request.uri().path(),
            request_id = %id,
        )
    }
}

/// Request logging: one line per response with its status and latency.
pub fn trace_layer() -> TraceLayer<SharedClassifier<ServerErrorsAsFailures>, PathOnlySpan> {
    TraceLayer::new_for_http()
        .make_span_with(PathOnlySpan)
        .on_response(DefaultOnResponse::new().level(Level::INFO))
}

/// Gives every request an id: the caller's `x-request-id` when it is a sensible one (1 to 128
/// letters, digits, `-`, `_`, `.`), else a new random one; the answer carries it back.
pub async fn request_id(mut request: Request<Body>, next: Next) -> Response {
    let id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| sensible_id(v))
        .map(str::to_owned)
        .unwrap_or_else(|| random_hex(16));
    // Made of header-safe characters only (checked or hex), so this cannot fail; if it did,
    // the request would simply go on without an id.
    let value = HeaderValue::from_str(&id).ok();
    if let Some(value) = &value {
        request.headers_mut().insert(REQUEST_ID, value.clone());
    }
    let mut response = next.run(request).await;
    if let Some(value) = value {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

fn sensible_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sensible_request_ids_are_taken() {
        assert!(sensible_id("req-42_a.b"));
        assert!(sensible_id(&"a".repeat(128)));
        assert!(!sensible_id(""));
        assert!(!sensible_id(&"a".repeat(129)));
        assert!(!sensible_id("a b"));
        assert!(!sensible_id("a\"b"));
    }
}
