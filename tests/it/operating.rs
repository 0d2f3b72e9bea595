//! Operating storelink behind a load balancer: `/readyz` says when an instance is stopping,
//! every answer carries a request id (the caller's or a new one), and logs can be JSON lines
//! that carry it.

use std::{sync::Arc, time::Duration};

use storelink::{app::Application, clock::SystemClock, config::Settings};

use crate::helpers::*;

#[tokio::test]
async fn readyz_answers_503_while_draining_and_healthz_stays_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings =
        Settings::sandbox_defaults(format!("sqlite://{}", dir.path().join("s.db").display()));
    settings.server.drain_delay = Duration::from_millis(1500);
    let app = Application::build(settings, Arc::new(SystemClock))
        .await
        .unwrap();
    let base = url::Url::parse(&format!("http://localhost:{}/", app.port())).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let status = |path: &'static str| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            client
                .get(base.join(path).unwrap())
                .send()
                .await
                .map(|r| r.status().as_u16())
        }
    };
    assert_eq!(status("/readyz").await.unwrap(), 200);
    assert_eq!(status("/healthz").await.unwrap(), 200);
    stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(status("/readyz").await.unwrap(), 503, "stopping: not ready");
    assert_eq!(
        status("/healthz").await.unwrap(),
        200,
        "but alive and serving"
    );
    tokio::time::timeout(Duration::from_secs(10), served)
        .await
        .expect("it stops after the drain delay")
        .unwrap()
        .unwrap();
    assert!(status("/healthz").await.is_err(), "and then it is gone");
}

#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let app = spawn_app().await;
    let client = reqwest::Client::new();
    let generated = client.get(app.url("/healthz")).send().await.unwrap();
    let id = generated.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    let another = client.get(app.url("/no-such-page")).send().await.unwrap();
    assert_ne!(another.headers()["x-request-id"].to_str().unwrap(), id);

    let honoured = client
        .get(app.url("/healthz"))
        .header("x-request-id", "lb-7f3a.42_x")
        .send()
        .await
        .unwrap();
    assert_eq!(honoured.headers()["x-request-id"], "lb-7f3a.42_x");
    for junk in ["has space", "quote\"d", &"x".repeat(129)] {
        let replaced = client
            .get(app.url("/healthz"))
            .header("x-request-id", junk)
            .send()
            .await
            .unwrap();
        let id = replaced.headers()["x-request-id"].to_str().unwrap();
        assert_ne!(id, junk);
        assert_eq!(id.len(), 32, "a new one instead of {junk:?}");
    }
}

#[tokio::test]
async fn json_logs_are_one_object_per_line_with_the_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut running = start_binary(
        dir.path(),
        &[("STORELINK_LOG_FORMAT", "json"), ("RUST_LOG", "info")],
    )
    .await;
    for line in running.log.lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|_| panic!("not JSON: {line}"));
    }
    let (port, lines) = (running.port, &mut running.lines);
    let answer = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.headers()["x-request-id"], "trace-me-42");
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(Some(line)) = lines.next_line().await {
            let json: serde_json::Value =
                serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"));
            if json["span"]["request_id"] == "trace-me-42" {
                return json;
            }
        }
        panic!("no line of the request");
    })
    .await
    .expect("the request is logged");
    assert_eq!(found["span"]["path"], "/healthz");
    running.child.kill().await.unwrap();

    let refused = tokio::process::Command::new(env!("CARGO_BIN_EXE_storelink"))
        .env_clear()
        .env("STORELINK_LOG_FORMAT", "yaml")
        .current_dir(dir.path())
        .output()
        .await
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("STORELINK_LOG_FORMAT"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
}

/// The value of the first sample of `name` whose labels include every one of `labels`.
fn sample(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter(|l| labels.iter().all(|label| l.contains(label)))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .next()
        .unwrap_or(0.0)
}

/// Every line is a comment or `name{labels} value` as Prometheus' text format has it.
fn parses_as_prometheus_text(text: &str) {
    for line in text.lines().filter(|l| !l.is_empty()) {
        if line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        assert!(value.parse::<f64>().is_ok() || value == "+Inf", "{line}");
        let name = series.split('{').next().unwrap();
        assert!(
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':'),
            "{line}"
        );
        if let Some(labels) = series.strip_prefix(name) {
            assert!(
                labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')),
                "{line}"
            );
        }
    }
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text_and_move_with_their_events() {
    let app = spawn_with(Options {
        configure: Some(Box::new(|s: &mut Settings| {
            s.metrics.token = Some(secrecy::SecretString::from("metrics-token-0123456789"));
        })),
        ..Options::default()
    })
    .await;
    let client = reqwest::Client::new();
    let scrape = || async {
        let answer = client
            .get(app.url("/metrics"))
            .bearer_auth("metrics-token-0123456789")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        assert!(
            answer.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        answer.text().await.unwrap()
    };
    let refused = client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(refused.status(), 401, "not without the token");
    let wrong = client
        .get(app.url("/metrics"))
        .bearer_auth("metrics-token-wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);

    let before = scrape().await;
    parses_as_prometheus_text(&before);
    client.get(app.url("/healthz")).send().await.unwrap();
    let unknown = client
        .post(app.url("/webhooks/maropost/0123456789abcdef0123456789abcdef"))
        .body("<Event/>")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    app.install(&browser(), "m-1", "metrics.example.com", "tok")
        .await;
    let after = scrape().await;
    parses_as_prometheus_text(&after);
    let moved =
        |name: &str, labels: &[&str]| sample(&after, name, labels) - sample(&before, name, labels);
    assert!(
        moved(
            "storelink_http_requests_total",
            &["route=\"/healthz\"", "status=\"200\""]
        ) >= 1.0
    );
    assert!(moved("storelink_flows_started_total", &["platform=\"maropost\""]) >= 1.0);
    assert!(
        moved(
            "storelink_flows_completed_total",
            &["platform=\"maropost\""]
        ) >= 1.0
    );
    assert!(after.contains("storelink_http_request_duration_seconds_bucket"));
    assert!(moved("storelink_webhook_events_total", &["status=\"404\""]) >= 1.0);
    assert!(
        sample(
            &after,
            "storelink_installs",
            &["platform=\"maropost\"", "status=\"active\""]
        ) >= 1.0,
        "installs by platform and status"
    );
    assert!(after.contains("storelink_db_pool_connections"));
    assert!(
        !after.contains("metrics.example.com"),
        "routes, not raw paths or data"
    );

    // A failed flow is counted by its reason. Other tests in this process count too (the
    // recorder is process-wide), which only ever adds.
    let state_failures = ["platform=\"maropost\"", "reason=\"state\""];
    let failed_before = sample(&after, "storelink_flows_failed_total", &state_failures);
    let forged = browser()
        .get(app.url("/oauth/maropost/callback?code=x&state=forged"))
        .send()
        .await
        .unwrap();
    assert!(forged.status().is_client_error());
    let last = scrape().await;
    assert!(sample(&last, "storelink_flows_failed_total", &state_failures) > failed_before);
}

#[tokio::test]
async fn metrics_can_be_served_on_a_separate_address_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings =
        Settings::sandbox_defaults(format!("sqlite://{}", dir.path().join("m.db").display()));
    settings.metrics.bind = Some("127.0.0.1:0".parse().unwrap());
    let app = Application::build(settings, Arc::new(SystemClock))
        .await
        .unwrap();
    let metrics = app.metrics_address().unwrap();
    let main = app.port();
    tokio::spawn(app.run_until(std::future::pending()));
    let client = reqwest::Client::new();
    let apart = client
        .get(format!("http://{metrics}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(apart.status(), 200);
    parses_as_prometheus_text(&apart.text().await.unwrap());
    let on_main = client
        .get(format!("http://127.0.0.1:{main}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(on_main.status(), 404, "no token set: not on the main port");
}
