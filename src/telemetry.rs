//! Logs. Requests are logged by method and path only: queries carry OAuth codes and states,
//! so they never reach a log line.

use axum::{body::Body, http::Request};
use tower_http::{
    classify::{ServerErrorsAsFailures, SharedClassifier},
    trace::{DefaultOnResponse, MakeSpan, TraceLayer},
};
use tracing::{Level, Span};
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// Installs the global subscriber: `RUST_LOG` if set, else info for storelink.
pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("storelink=info,tower_http=info"));
    // A second call (tests) finds a subscriber already set; that is fine.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(
            fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .try_init();
}

/// Names a request's span by method and path, never by the full URI.
#[derive(Clone, Copy, Debug)]
pub struct PathOnlySpan;

impl MakeSpan<Body> for PathOnlySpan {
    fn make_span(&mut self, request: &Request<Body>) -> Span {
        tracing::info_span!(
            "request",
            method = %request.method(),
            path = %request.uri().path(),
        )
    }
}

/// Request logging: one line per response with its status and latency.
pub fn trace_layer() -> TraceLayer<SharedClassifier<ServerErrorsAsFailures>, PathOnlySpan> {
    TraceLayer::new_for_http()
        .make_span_with(PathOnlySpan)
        .on_response(DefaultOnResponse::new().level(Level::INFO))
}
