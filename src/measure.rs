//! Prometheus metrics: the recorder, what storelink counts, and the text `/metrics` answers.
//!
//! Counted where it happens: HTTP requests by route and status with a latency histogram (a
//! middleware), flows started, completed and failed by reason (the install pages), bol.com token
//! refreshes by outcome (the lifecycle), webhook events by answer (the receiving route), and the
//! webhook writer's batch sizes and commit latency. Read when scraped: installs by platform and
//! status, and the database pool's use. The recorder is process-wide (`metrics` is a facade), so
//! several apps in one process (tests) share it; each scrape renders what all of them counted.

use std::{sync::OnceLock, time::Instant};

use axum::{
    extract::MatchedPath,
    http::{Method, Request},
    middleware::Next,
    response::Response,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::db::Db;

/// Seconds: from a millisecond to ten seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Events per committed batch.
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process's recorder (once); `None` if another recorder was installed first.
pub(crate) fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("storelink_webhook_batch_size".into()),
                        BATCH_BUCKETS,
                    )
                });
            match builder.map(PrometheusBuilder::install_recorder) {
                Ok(Ok(handle)) => Some(handle),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "metrics: no recorder installed");
                    None
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics: bad bucket settings");
                    None
                }
            }
        })
        .as_ref()
}

/// The metrics in Prometheus' text format, after reading the gauges that are read at scrape
/// time from `db`.
pub(crate) async fn render(db: &Db) -> String {
    let Some(handle) = install() else {
        return String::new();
    };
    install_gauges(db).await;
    metrics::gauge!("storelink_db_pool_connections").set(f64::from(db.size()));
    metrics::gauge!("storelink_db_pool_idle_connections").set(db.num_idle() as f64);
    handle.render()
}

/// Sets the install gauges from `db`: every combination of platform, status (and health) is
/// set, to 0 when no install has it, so a series whose last install moved on drops to 0
/// instead of keeping its last count.
async fn install_gauges(db: &Db) {
    use crate::domain::{HealthState, InstallStatus, Platform};
    match crate::db::installs::count_by_platform_and_status(db).await {
        Ok(counts) => {
            for platform in Platform::ALL {
                for status in InstallStatus::ALL {
                    let n = counts
                        .iter()
                        .find(|(p, s, _)| p == platform && s == status)
                        .map_or(0, |(_, _, n)| *n);
                    metrics::gauge!(
                        "storelink_installs",
                        "platform" => platform.as_str(),
                        "status" => status.as_str()
                    )
                    .set(n as f64);
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: cannot count installs"),
    }
    match crate::db::health::count_by_platform_status_and_health(db).await {
        Ok(counts) => {
            for platform in Platform::ALL {
                for status in InstallStatus::ALL {
                    for health in HealthState::ALL {
                        let n: i64 = counts
                            .iter()
                            .filter(|(p, s, h, _)| {
                                p == platform.as_str()
                                    && s == status.as_str()
                                    && HealthState::parse(h).unwrap_or(HealthState::Unknown)
                                        == *health
                            })
                            .map(|(_, _, _, n)| n)
                            .sum();
                        metrics::gauge!(
                            "storelink_installs_by_health",
                            "platform" => platform.as_str(),
                            "status" => status.as_str(),
                            "health" => health.as_str()
                        )
                        .set(n as f64);
                    }
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: cannot count installs by health"),
    }
}

/// Counts every request by route (the matched pattern, never the raw path), method and status,
/// with its latency. Every label comes from a small, fixed set ([`method_label`], the router's
/// own patterns, the status codes): nothing a client sends can add a series, so a flood of
/// made-up methods or paths cannot grow the recorder's memory.
pub(crate) async fn http(request: Request<axum::body::Body>, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!(
        "storelink_http_requests_total",
        "route" => route.clone(),
        "method" => method,
        "status" => status
    )
    .increment(1);
    metrics::histogram!(
        "storelink_http_request_duration_seconds",
        "route" => route,
        "method" => method
    )
    .record(started.elapsed().as_secs_f64());
    response
}

/// A request method as a label: one of the usual seven, else `other`. HTTP lets a client send any
/// token as its method (hyper accepts them), so the raw method must never become a label or a
/// log field of unbounded size.
pub(crate) fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// An authorization flow was started for `platform`.
pub(crate) fn flow_started(platform: &'static str) {
    metrics::counter!("storelink_flows_started_total", "platform" => platform).increment(1);
}

/// A flow ended with a stored install.
pub(crate) fn flow_completed(platform: &'static str) {
    metrics::counter!("storelink_flows_completed_total", "platform" => platform).increment(1);
}

/// A flow ended without an install, for `reason` (`denied`, `state`, `token`, `provider`, ...).
pub(crate) fn flow_failed(platform: &'static str, reason: &'static str) {
    metrics::counter!(
        "storelink_flows_failed_total",
        "platform" => platform,
        "reason" => reason
    )
    .increment(1);
}

/// A token refresh ended with `outcome` (`refreshed`, `failed`, `needs_attention`).
pub(crate) fn token_refresh(platform: &'static str, outcome: &'static str) {
    metrics::counter!(
        "storelink_token_refreshes_total",
        "platform" => platform,
        "outcome" => outcome
    )
    .increment(1);
}

/// A webhook event was answered `status`.
pub(crate) fn webhook_answered(status: u16) {
    metrics::counter!("storelink_webhook_events_total", "status" => status.to_string())
        .increment(1);
}

/// The webhook writer committed `events` in one transaction, taking `seconds`.
pub(crate) fn webhook_batch(events: usize, seconds: f64) {
    metrics::histogram!("storelink_webhook_batch_size").record(events as f64);
    metrics::histogram!("storelink_webhook_commit_seconds").record(seconds);
}

/// A health check of a `platform` install ended with `outcome` (`ok`, `failed`, `rejected`,
/// `needs_attention`).
pub(crate) fn health_check(platform: &'static str, outcome: &'static str) {
    metrics::counter!(
        "storelink_health_checks_total",
        "platform" => platform,
        "outcome" => outcome
    )
    .increment(1);
}

/// A call on a `platform` budget (`group`: an endpoint group, `api` or `token`) was admitted
/// at once (`now`), after waiting its turn (`waited`, taking `seconds`), or refused (`refused`:
/// storelink answered "too many requests" itself, or its own call gave up).
pub(crate) fn budget_admission(
    platform: &'static str,
    group: &'static str,
    outcome: &'static str,
    seconds: f64,
) {
    metrics::counter!(
        "storelink_platform_calls_total",
        "platform" => platform,
        "group" => group,
        "outcome" => outcome
    )
    .increment(1);
    match outcome {
        "waited" => metrics::histogram!("storelink_budget_wait_seconds", "platform" => platform)
            .record(seconds),
        "refused" => rate_limited(platform, "storelink"),
        _ => {}
    }
}

/// `platform` answered a call with a "slow down": `429` (counted as the platform's), or `503`
/// with `Retry-After` or an exhausted `X-RateLimit-Remaining` (which stop the budget too).
pub(crate) fn platform_slowed(platform: &'static str, status: u16) {
    if status == 429 {
        rate_limited(platform, "platform");
    }
}

/// A call to `platform` was refused as too many, `by` storelink's budget or the platform.
fn rate_limited(platform: &'static str, by: &'static str) {
    metrics::counter!(
        "storelink_rate_limited_total",
        "platform" => platform,
        "by" => by
    )
    .increment(1);
}

/// A notification attempt ended: delivered (a 2xx) or not.
pub(crate) fn notification(delivered: bool) {
    let outcome = if delivered { "delivered" } else { "failed" };
    metrics::counter!("storelink_notification_attempts_total", "outcome" => outcome).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_become_one_of_eight_labels() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::DELETE), "DELETE");
        assert_eq!(method_label(&Method::TRACE), "other");
        assert_eq!(method_label(&Method::CONNECT), "other");
        let made_up = Method::from_bytes("X".repeat(20_000).as_bytes()).unwrap();
        assert_eq!(method_label(&made_up), "other");
    }
}
