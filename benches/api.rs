//! Load benchmark of the vendor API: `POST /api/v1/installs/{id}/access-token` for a stored
//! token, beside a bare axum route answering the same JSON in the same run; and the proxy to a
//! local fake platform, beside calling that fake directly.
//!
//! ```sh
//! cargo bench --bench api                          # 64 connections, 5 s a scenario
//! cargo bench --bench api -- --connections 32 --seconds 10 --dir /var/tmp
//! cargo bench --bench api -- --platform-latency-ms 50
//! ```
//!
//! The proxy is measured twice against the fake platform: once answering after
//! `--platform-latency-ms` (default 20 ms; real platforms' APIs take longer than that), where
//! what the proxy adds shows as a share of the platform's own throughput; and once answering at
//! once, where the platform costs nothing and the proxy's own cost per call is laid bare. Last,
//! `GET /healthz` (the middleware every route pays and one `SELECT 1`) against the bare route,
//! and `GET /favicon.ico` (the same middleware, no query).
//!
//! It starts the real app (release build, its own Tokio runtime) on 127.0.0.1 with a fresh SQLite
//! database, one Maropost install with a sealed access token, an API key, the API's rate limit
//! off (`STORELINK_API_RATE_LIMIT=0`), as a vendor's own backend would run it, and no ceiling of
//! ours on the stores' API (`MAROPOST_API_RATE_LIMIT=0`: each call still draws on its budget).
//! The fake platform runs on a runtime of its own, as a separate service would. Each scenario
//! opens N keep-alive HTTP/1.1 connections and sends requests back to back; after a warm-up it
//! measures throughput and latency percentiles. Only 127.0.0.1 is contacted.
//!
//! Run by `cargo test --all-targets` (without `--bench`), it does a short smoke run instead.
// The library is `pub(crate)` by default and documented (Cargo.toml [lints]); a test or
// benchmark binary is nobody's API.
#![allow(unreachable_pub, missing_docs)]

#[path = "support/cpu.rs"]
mod cpu;

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context as _;
use axum::{Json, Router, body::Bytes, extract::Path as UrlPath, http::StatusCode, routing::post};
use cpu::storelink_cpu;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use storelink::{
    app::Application,
    clock::SystemClock,
    config::Settings,
    crypto::MasterKey,
    db::{
        api_keys,
        installs::{self, NewInstall},
    },
    domain::{Initiator, InstallingUser, Platform, api_key::ApiKeySecret},
};

/// What the fake platform answers: a NetoAPI answer of a realistic size (about 1 KiB).
const PLATFORM_ANSWER: &str = r#"{"Ack":"Success","CurrentTime":"2026-11-23 12:00:00","Order":[{"OrderID":"N10154","OrderStatus":"Pick","DatePlaced":"2024-01-03 01:11:12","Email":"alex@example.com","GrandTotal":"129.95","ShipFirstName":"Alex","ShipLastName":"Citizen","ShipStreetLine1":"1 Beach Rd","ShipCity":"Brisbane","ShipState":"QLD","ShipPostCode":"4000","ShipCountry":"AU"},{"OrderID":"N10155","OrderStatus":"New","DatePlaced":"2024-01-03 02:20:05","Email":"sam@example.com","GrandTotal":"42.00","ShipFirstName":"Sam","ShipLastName":"Example","ShipStreetLine1":"2 Hill St","ShipCity":"Sydney","ShipState":"NSW","ShipPostCode":"2000","ShipCountry":"AU"},{"OrderID":"N10156","OrderStatus":"Dispatched","DatePlaced":"2024-01-02 23:59:41","Email":"kim@example.com","GrandTotal":"310.10","ShipFirstName":"Kim","ShipLastName":"Sample","ShipStreetLine1":"3 River Ln","ShipCity":"Perth","ShipState":"WA","ShipPostCode":"6000","ShipCountry":"AU"}]}"#;

#[derive(Debug, Clone)]
struct Options {
    connections: usize,
    seconds: f64,
    warmup: f64,
    dir: Option<PathBuf>,
    platform_latency: Duration,
    smoke: bool,
}

fn options() -> anyhow::Result<Options> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this without it.
    let smoke = !args.iter().any(|a| a == "--bench");
    let mut options = Options {
        connections: if smoke { 4 } else { 64 },
        seconds: if smoke { 0.3 } else { 5.0 },
        warmup: if smoke { 0.1 } else { 1.0 },
        dir: None,
        platform_latency: Duration::from_millis(20),
        smoke,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--bench" => {}
            "--connections" => options.connections = value("--connections")?.parse()?,
            "--seconds" => options.seconds = value("--seconds")?.parse()?,
            "--warmup" => options.warmup = value("--warmup")?.parse()?,
            "--dir" => options.dir = Some(PathBuf::from(value("--dir")?)),
            "--platform-latency-ms" => {
                options.platform_latency =
                    Duration::from_millis(value("--platform-latency-ms")?.parse()?)
            }
            other => anyhow::bail!(
                "unknown argument {other}; use --connections N --seconds S --warmup S --dir PATH \
                 --platform-latency-ms MS"
            ),
        }
    }
    anyhow::ensure!(options.connections > 0, "--connections must be at least 1");
    Ok(options)
}

/// A request to send, again and again.
#[derive(Clone)]
struct Target {
    address: SocketAddr,
    method: hyper::Method,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Bytes,
}

struct Figures {
    requests: u64,
    errors: u64,
    measured: Duration,
    latencies_us: Vec<u32>,
    /// CPU time storelink's threads (its runtime and SQLite's worker threads) used while
    /// measuring, when the system says (Linux): steadier than answers/s on a noisy machine,
    /// since neither the load generator nor another guest's steal time is in it.
    storelink_cpu: Option<Duration>,
}

impl Figures {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.measured.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let rank = ((p / 100.0) * (self.latencies_us.len() - 1) as f64).round() as usize;
        f64::from(self.latencies_us[rank]) / 1000.0
    }

    /// storelink's CPU time per answer, in microseconds.
    fn cpu_us_per_answer(&self) -> Option<f64> {
        let cpu = self.storelink_cpu?;
        (self.requests > 0).then(|| cpu.as_secs_f64() * 1e6 / self.requests as f64)
    }

    fn line(&self, name: &str) -> String {
        let cpu = self.cpu_us_per_answer().map_or_else(String::new, |us| {
            format!("  storelink {us:>5.0} us CPU/answer")
        });
        format!(
            "  {name:<28} {:>8.0} answers/s   p50 {:>6.2} ms  p99 {:>6.2} ms{cpu}  ({} requests, {} errors)",
            self.rate(),
            self.percentile(50.0),
            self.percentile(99.0),
            self.requests,
            self.errors
        )
    }
}

fn main() -> anyhow::Result<()> {
    let options = options()?;
    let dir = match &options.dir {
        Some(parent) => tempfile::tempdir_in(parent)?,
        None => tempfile::tempdir()?,
    };
    let database_url = format!("sqlite://{}", dir.path().join("bench.db").display());

    // The fake platform and the bare route: a runtime of their own, like separate services.
    let platform_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .thread_name("platform")
        .build()?;
    let platform = platform_runtime.block_on(start_platform(options.platform_latency))?;
    let bare = platform_runtime.block_on(start_bare())?;

    let server = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("server")
        .build()?;
    let (storelink, install_id, slow_install_id, key) =
        server.block_on(start_storelink(&database_url, platform))?;

    let client = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("client")
        .build()?;
    let bearer = format!("Bearer {key}");
    let token_path = format!("/api/v1/installs/{install_id}/access-token");
    let scenarios = [
        (
            "bare axum route",
            Target {
                address: bare,
                method: hyper::Method::POST,
                path: "/token".into(),
                headers: vec![("authorization", bearer.clone())],
                body: Bytes::new(),
            },
        ),
        (
            "access-token (stored)",
            Target {
                address: storelink,
                method: hyper::Method::POST,
                path: token_path,
                headers: vec![("authorization", bearer.clone())],
                body: Bytes::new(),
            },
        ),
        (
            "one install (GET, 2 queries)",
            Target {
                address: storelink,
                method: hyper::Method::GET,
                path: format!("/api/v1/installs/{install_id}"),
                headers: vec![("authorization", bearer.clone())],
                body: Bytes::new(),
            },
        ),
        (
            "slow platform, directly",
            Target {
                address: platform,
                method: hyper::Method::POST,
                path: "/maropost/slow.example.com/do/WS/NetoAPI".into(),
                headers: vec![
                    ("netoapi_action", "GetOrder".into()),
                    ("content-type", "application/json".into()),
                ],
                body: Bytes::from_static(br#"{"Filter":{"OrderStatus":["New"]}}"#),
            },
        ),
        (
            "slow platform, via proxy",
            Target {
                address: storelink,
                method: hyper::Method::POST,
                path: format!("/api/v1/installs/{slow_install_id}/proxy"),
                headers: vec![
                    ("authorization", bearer.clone()),
                    ("netoapi_action", "GetOrder".into()),
                    ("content-type", "application/json".into()),
                ],
                body: Bytes::from_static(br#"{"Filter":{"OrderStatus":["New"]}}"#),
            },
        ),
        (
            "instant platform, directly",
            Target {
                address: platform,
                method: hyper::Method::POST,
                path: "/maropost/bench.example.com/do/WS/NetoAPI".into(),
                headers: vec![
                    ("netoapi_action", "GetOrder".into()),
                    ("content-type", "application/json".into()),
                ],
                body: Bytes::from_static(br#"{"Filter":{"OrderStatus":["New"]}}"#),
            },
        ),
        (
            "instant platform, via proxy",
            Target {
                address: storelink,
                method: hyper::Method::POST,
                path: format!("/api/v1/installs/{install_id}/proxy"),
                headers: vec![
                    ("authorization", bearer),
                    ("netoapi_action", "GetOrder".into()),
                    ("content-type", "application/json".into()),
                ],
                body: Bytes::from_static(br#"{"Filter":{"OrderStatus":["New"]}}"#),
            },
        ),
        (
            // The floor under every route: the middleware and one `SELECT 1`.
            "GET /healthz",
            Target {
                address: storelink,
                method: hyper::Method::GET,
                path: "/healthz".into(),
                headers: Vec::new(),
                body: Bytes::new(),
            },
        ),
        (
            // The same middleware without the query: what the `SELECT 1` costs shows apart.
            "GET /favicon.ico",
            Target {
                address: storelink,
                method: hyper::Method::GET,
                path: "/favicon.ico".into(),
                headers: Vec::new(),
                body: Bytes::new(),
            },
        ),
    ];
    let mut results = Vec::new();
    for (name, target) in scenarios {
        let figures = client.block_on(load(target, &options))?;
        results.push((name, figures));
    }
    server.shutdown_timeout(Duration::from_secs(5));
    platform_runtime.shutdown_timeout(Duration::from_secs(1));

    println!(
        "storelink vendor API benchmark{}",
        if options.smoke {
            " (smoke run; use `cargo bench --bench api` for real figures)"
        } else {
            ""
        }
    );
    println!(
        "  {} connections, {:.1} s measured per scenario after {:.1} s warm-up, {} cores",
        options.connections,
        options.seconds,
        options.warmup,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for (name, figures) in &results {
        println!("{}", figures.line(name));
    }
    let (bare, token) = (&results[0].1, &results[1].1);
    let (slow_direct, slow_proxied) = (&results[3].1, &results[4].1);
    let (direct, proxied) = (&results[5].1, &results[6].1);
    let healthz = &results[7].1;
    let verdict = |met: bool| if met { "met" } else { "NOT met" };
    println!(
        "  access-token: {:.0}% of the bare route; target at least 15,000 answers/s with p99 \
         under 10 ms: {}",
        100.0 * token.rate() / bare.rate(),
        verdict(token.rate() >= 15_000.0 && token.percentile(99.0) < 10.0)
    );
    println!(
        "  proxy, platform answering in {} ms: {:.0}% of calling it directly; target at least \
         70%: {}",
        options.platform_latency.as_millis(),
        100.0 * slow_proxied.rate() / slow_direct.rate(),
        verdict(slow_proxied.rate() >= 0.7 * slow_direct.rate())
    );
    println!(
        "  proxy, platform answering at once: {:.0}% of calling it directly (the proxy's own \
         cost: about {:.0} us of the machine per call{})",
        100.0 * proxied.rate() / direct.rate(),
        1e6 / proxied.rate() - 1e6 / direct.rate(),
        proxied
            .cpu_us_per_answer()
            .map_or_else(String::new, |us| format!(
                ", {us:.0} us of it storelink's CPU"
            ))
    );
    println!(
        "  /healthz: {:.0}% of the bare route; target at least 40%: {}",
        100.0 * healthz.rate() / bare.rate(),
        verdict(healthz.rate() >= 0.4 * bare.rate())
    );
    println!(
        "  access-token against the bare route: target at least 20% with p99 under 10 ms: {}; \
         the proxy's own cost: target at most 60 us: {}",
        verdict(token.rate() >= 0.2 * bare.rate() && token.percentile(99.0) < 10.0),
        verdict(1e6 / proxied.rate() - 1e6 / direct.rate() <= 60.0)
    );
    for (name, figures) in &results {
        anyhow::ensure!(
            figures.errors == 0,
            "{name}: {} requests failed",
            figures.errors
        );
    }
    Ok(())
}

/// A fake Maropost: answers every NetoAPI call with [`PLATFORM_ANSWER`]; a store whose domain
/// starts with `slow` gets it after `latency`, as from a real platform's API.
async fn start_platform(latency: Duration) -> anyhow::Result<SocketAddr> {
    let router = Router::new().route(
        "/maropost/{store}/do/WS/NetoAPI",
        post(move |UrlPath(store): UrlPath<String>| async move {
            if store.starts_with("slow") {
                tokio::time::sleep(latency).await;
            }
            ([("content-type", "application/json")], PLATFORM_ANSWER)
        }),
    );
    serve(router).await
}

/// A bare axum route answering what the access-token endpoint answers, without any work.
async fn start_bare() -> anyhow::Result<SocketAddr> {
    let router = Router::new().route(
        "/token",
        post(|| async {
            (
                StatusCode::OK,
                [("cache-control", "no-store")],
                Json(serde_json::json!({
                    "access_token": "bench-store-access-token",
                    "token_type": "Bearer",
                    "expires_at": null,
                    "api_base_url": "https://bench.example.com/do/WS/NetoAPI",
                    "x_access_key": "storelink-sandbox",
                })),
            )
        }),
    );
    serve(router).await
}

async fn serve(router: Router) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(address)
}

/// Starts storelink with two Maropost installs, `bench.example.com` (its platform answers at
/// once) and `slow.example.com` (after the latency), and a key.
async fn start_storelink(
    database_url: &str,
    platform: SocketAddr,
) -> anyhow::Result<(SocketAddr, String, String, String)> {
    let mut settings = Settings::sandbox_defaults(database_url.to_owned());
    settings.master_key = Some(MasterKey::generate_base64());
    settings.api.rate_limit = 0;
    // No ceiling of ours on the stores' API (the fake platform has none): every call is
    // admitted, and the budget's bookkeeping is still paid on each.
    settings.env.set("MAROPOST_API_RATE_LIMIT", "0");
    settings.env.set(
        "MAROPOST_API_URL_TEMPLATE",
        format!("http://{platform}/maropost/{{store_domain}}/do/WS/NetoAPI"),
    );
    let app = Application::build(settings, Arc::new(SystemClock)).await?;
    let state = app.state();
    let install_id = install(&state, "bench-store", "bench.example.com").await?;
    let slow_install_id = install(&state, "slow-store", "slow.example.com").await?;
    let key = ApiKeySecret::generate();
    api_keys::create(
        &state.db,
        "bench",
        &key.hash(),
        &key.shown_prefix(),
        "bench",
        0,
    )
    .await?;
    let address = SocketAddr::from(([127, 0, 0, 1], app.port()));
    tokio::spawn(app.run_until(std::future::pending()));
    Ok((
        address,
        install_id,
        slow_install_id,
        key.expose().to_owned(),
    ))
}

/// Stores a Maropost install of `domain` with an access token.
async fn install(
    state: &storelink::state::AppState,
    account: &str,
    domain: &str,
) -> anyhow::Result<String> {
    Ok(installs::save(
        &state.db,
        &state.keyring,
        &NewInstall {
            platform: Platform::Maropost,
            account_id: account,
            store_domain: Some(domain),
            store_name: Some("Bench"),
            timezone: None,
            scope: Some("api"),
            user: InstallingUser::default(),
            billing_address: None,
            initiated_by: Initiator::Storelink,
            access_token: b"bench-store-access-token",
        },
        0,
    )
    .await?
    .id)
}

/// Runs N connections at `target`: warm-up, then the measured window.
async fn load(target: Target, options: &Options) -> anyhow::Result<Figures> {
    let measuring = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::with_capacity(options.connections);
    for _ in 0..options.connections {
        tasks.push(tokio::spawn(connection(
            target.clone(),
            measuring.clone(),
            done.clone(),
        )));
    }
    tokio::time::sleep(Duration::from_secs_f64(options.warmup)).await;
    let cpu_before = storelink_cpu();
    measuring.store(true, Ordering::SeqCst);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(options.seconds)).await;
    measuring.store(false, Ordering::SeqCst);
    let measured = started.elapsed();
    let storelink_cpu = match (cpu_before, storelink_cpu()) {
        (Some(before), Some(after)) => after.checked_sub(before),
        _ => None,
    };
    done.store(true, Ordering::SeqCst);
    let mut figures = Figures {
        requests: 0,
        errors: 0,
        measured,
        latencies_us: Vec::new(),
        storelink_cpu,
    };
    for task in tasks {
        let (latencies, errors) = task.await??;
        figures.requests += latencies.len() as u64;
        figures.latencies_us.extend(latencies);
        figures.errors += errors;
    }
    figures.latencies_us.sort_unstable();
    Ok(figures)
}

/// One keep-alive connection sending `target` back to back until `done`; latencies are kept
/// only while `measuring`.
async fn connection(
    target: Target,
    measuring: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
) -> anyhow::Result<(Vec<u32>, u64)> {
    let stream = tokio::net::TcpStream::connect(target.address).await?;
    stream.set_nodelay(true)?;
    let (mut sender, driver) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(driver);
    let mut latencies = Vec::with_capacity(64 * 1024);
    let mut errors = 0;
    while !done.load(Ordering::Relaxed) {
        let mut request = hyper::Request::builder()
            .method(target.method.clone())
            .uri(target.path.as_str())
            .header("host", "127.0.0.1");
        for (name, value) in &target.headers {
            request = request.header(*name, value.as_str());
        }
        let request = request.body(Full::new(target.body.clone()))?;
        let measure = measuring.load(Ordering::Relaxed);
        let started = Instant::now();
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        response.into_body().collect().await?;
        let took = started.elapsed();
        if status != StatusCode::OK {
            errors += 1;
        }
        if measure {
            latencies.push(took.as_micros().min(u32::MAX as u128) as u32);
        }
    }
    Ok((latencies, errors))
}
