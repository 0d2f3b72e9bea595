//! Metrics: nothing a client sends adds a series (item 1); `/metrics` on the main port gets the
//! headers, log and request id every answer gets (item 5); the separate metrics listener is held
//! to the main port's timeouts and connection cap (item 6).

use std::time::Duration;

use std::sync::Arc;

use rand::{Rng as _, distributions::Alphanumeric};
use storelink::{app::Application, clock::SystemClock, config::Settings};
use tokio::io::AsyncWriteExt as _;

use crate::{attacks::app_with, helpers::*};

const TOKEN: &str = "metrics-token-0123456789";

/// A random string of `n` letters and digits (an HTTP token: a valid method, a path segment).
fn random_token(n: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

/// The resident memory (`VmRSS`) of `pid`, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap();
    kib * 1024
}

/// How many series `/metrics` holds (every sample line).
async fn series(client: &reqwest::Client, port: u16) -> usize {
    let text = client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count()
}

/// `n` requests with made-up methods (1,000 characters) and random paths, eight at a time.
async fn made_up_requests(client: &reqwest::Client, port: u16, n: usize) {
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let client = client.clone();
        tasks.spawn(async move {
            for i in (worker..n).step_by(8) {
                let method = reqwest::Method::from_bytes(random_token(1000).as_bytes()).unwrap();
                let path = match i % 3 {
                    0 => format!("/api/{}", random_token(200)),
                    1 => format!("/{}", random_token(200)),
                    _ => "/console".to_owned(),
                };
                let answer = client
                    .request(method, format!("http://127.0.0.1:{port}{path}"))
                    .send()
                    .await
                    .unwrap();
                assert!(answer.status().is_client_error(), "{}", answer.status());
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

#[tokio::test]
async fn made_up_methods_and_paths_add_no_series_and_no_memory() {
    let dir = tempfile::tempdir().unwrap();
    let mut running = start_binary(
        dir.path(),
        &[
            ("STORELINK_DATABASE_URL", "sqlite://labels.db"),
            ("STORELINK_METRICS_TOKEN", TOKEN),
        ],
    )
    .await;
    tokio::spawn(async move { while let Ok(Some(_)) = running.lines.next_line().await {} });
    let pid = running.child.id().unwrap();
    let port = running.port;
    let client = reqwest::Client::new();

    // Warm up: every label the flood can reach exists after this, and the allocator has its
    // working set.
    made_up_requests(&client, port, 1_000).await;
    // The first scrape is counted once it has answered: only the second one holds its series.
    series(&client, port).await;
    let series_before = series(&client, port).await;
    let rss_before = rss(pid);

    made_up_requests(&client, port, 10_000).await;
    let series_after = series(&client, port).await;
    let rss_after = rss(pid);

    assert_eq!(
        series_after, series_before,
        "10,000 made-up methods and paths add no series"
    );
    let grown = rss_after.saturating_sub(rss_before);
    assert!(
        grown < 8 << 20,
        "memory stays flat: {rss_before} -> {rss_after} bytes (+{grown})"
    );
    let text = client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"method="other""#),
        "made-up methods are counted as other"
    );
    assert!(
        text.lines().all(|l| l.len() < 400),
        "no label carries what a client sent"
    );
    running.child.kill().await.unwrap();
}

#[tokio::test]
async fn metrics_on_the_main_port_carry_the_headers_and_the_request_id() {
    let app = app_with(|s| {
        s.metrics.token = Some(secrecy::SecretString::from(TOKEN));
    })
    .await;
    let client = reqwest::Client::new();
    for (token, status) in [
        (Some(TOKEN), 200),
        (Some("metrics-token-wrong"), 401),
        (None, 401),
    ] {
        let mut request = client
            .get(app.url("/metrics"))
            .header("x-request-id", "scrape-42");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status(), status);
        let headers = answer.headers();
        for name in [
            "content-security-policy",
            "x-content-type-options",
            "referrer-policy",
            "x-frame-options",
            "cache-control",
        ] {
            assert!(headers.contains_key(name), "{status}: {name} is missing");
        }
        assert_eq!(headers["x-request-id"], "scrape-42", "{status}");
    }
}

#[tokio::test]
async fn the_metrics_listener_is_held_to_the_same_limits_as_the_main_port() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings =
        Settings::sandbox_defaults(format!("sqlite://{}", dir.path().join("m.db").display()));
    settings.metrics.bind = Some("127.0.0.1:0".parse().unwrap());
    settings.server.header_timeout = Duration::from_millis(500);
    settings.server.idle_timeout = Duration::from_millis(500);
    settings.server.max_connections = 16;
    let app = Application::build(settings, Arc::new(SystemClock))
        .await
        .unwrap();
    let metrics = app.metrics_address().expect("a metrics listener");
    let main = app.port();
    tokio::spawn(app.run_until(std::future::pending()));

    // Its answers carry the same headers as the main port's.
    let answer = reqwest::get(format!("http://{metrics}/metrics"))
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert!(answer.headers().contains_key("content-security-policy"));
    assert!(answer.headers().contains_key("x-request-id"));

    // A half-sent request is cut off at the header timeout.
    let mut half = tokio::net::TcpStream::connect(metrics).await.unwrap();
    half.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        use tokio::io::AsyncReadExt as _;
        loop {
            match half.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "a half-sent request is closed within the header timeout"
    );

    // Many half-sent requests there take places in the one connection cap, whose oldest idle
    // ones make room: the main port still answers.
    let mut held = Vec::new();
    for _ in 0..40 {
        if let Ok(mut stream) = tokio::net::TcpStream::connect(metrics).await {
            let _ = stream.write_all(b"GET /metrics HTTP/1.1\r\n").await;
            held.push(stream);
        }
    }
    let main = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
        .get(format!("http://127.0.0.1:{main}/healthz"))
        .send()
        .await
        .expect("the main port answers while the metrics port is flooded");
    assert_eq!(main.status(), 200);
    drop(held);
}
