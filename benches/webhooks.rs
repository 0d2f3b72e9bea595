//! Load benchmark of the Maropost webhook: durable events per second and latency percentiles.
//!
//! ```sh
//! scripts/bench-webhooks                     # = cargo bench --bench webhooks -- 64 connections, 10 s
//! cargo bench --bench webhooks -- --connections 128 --seconds 20 --dir /var/tmp
//! cargo bench --bench webhooks -- --mode naive   # one commit per request, for comparison
//! cargo bench --bench webhooks -- --log 2>/dev/null   # with request logging, as in production
//! cargo bench --bench webhooks -- --endpoint       # without, then with one notification
//!                                                  # endpoint, 3 rounds, median ratio
//! cargo bench --bench webhooks -- --postgres postgres://postgres@127.0.0.1:5432/postgres
//! cargo bench --bench webhooks -- --postgres postgres://postgres@127.0.0.1:5432/postgres \
//!     --backend both                               # SQLite, then PostgreSQL: both figures
//! ```
//!
//! It starts the real app (release build, its own Tokio runtime) on 127.0.0.1 with a fresh SQLite
//! database (WAL, `synchronous=FULL`), creates one install with a webhook key, then opens N
//! keep-alive HTTP/1.1 connections to it and posts valid order notifications as fast as each
//! connection gets its answers: fresh EventIDs, and every tenth request a repeat of a recent one.
//! After a one-second warm-up it measures for the given time, then checks that the database holds
//! exactly the distinct events that were answered 200.
//!
//! With `--endpoint` it alternates, `--rounds` times (3), a run with no notification endpoint
//! and one with an enabled endpoint (a receiver on 127.0.0.1 answering `204`) subscribed to
//! `order.status_changed`, so every stored event is also to be delivered (the worker makes
//! its message from the events table and sends it) while the load runs; each run on a fresh
//! database. After a run with the endpoint it waits until every stored event's message is
//! delivered and says how many were when the load stopped and how long the rest took (delivery
//! makes room for ingest while the writers are busy, then catches up). It prints each pair's
//! ratio and their median (the machine's speed drifts between runs).
//!
//! With `--postgres URL` (an administrator URL: its user may create databases) it runs on
//! PostgreSQL instead: each run creates a database of its own on that server
//! (`storelink_bench_<random hex>`), starts the app on it exactly as on SQLite, and drops it
//! afterwards (`DROP DATABASE ... WITH (FORCE)`), also when the run fails. `--backend both` runs
//! on SQLite, then on PostgreSQL, with the same options, and prints both figures at the end.
//! PostgreSQL is used as configured: its `synchronous_commit` and `fsync` are printed (and a
//! warning when either is off, since commits then are not durable).
//!
//! Only 127.0.0.1 (and the PostgreSQL server named) is ever contacted. The database must be on a
//! real disk (not tmpfs), or the fsyncs cost nothing and the figure means nothing: the file
//! system is printed.
//!
//! Run by `cargo test --all-targets` (without `--bench`), it does a short smoke run instead.
// The library is `pub(crate)` by default and documented (Cargo.toml [lints]); a test or
// benchmark binary is nobody's API.
#![allow(unreachable_pub, missing_docs)]

#[path = "support/cpu.rs"]
mod cpu;
#[path = "support/database.rs"]
mod database;

use std::{
    net::SocketAddr,
    path::PathBuf,
    str::FromStr as _,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context as _;
use axum::{
    Router,
    body::Bytes,
    extract::{Path as UrlPath, State},
    http::StatusCode,
    routing::post,
};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use storelink::{
    app::Application,
    clock::SystemClock,
    config::Settings,
    crypto::MasterKey,
    db::{
        endpoints::Subscription,
        installs::{self, NewInstall},
    },
    domain::{EventType, Initiator, InstallingUser, Platform},
    platforms::kit::webhook_keys as webhooks,
};

use database::{Backend, BenchDatabase};

const KEY: &str = "bench-webhook-key-6d1f0a";

#[derive(Debug, Clone)]
struct Options {
    connections: usize,
    seconds: f64,
    warmup: f64,
    repeat_every: u64,
    dir: Option<PathBuf>,
    naive: bool,
    log: bool,
    smoke: bool,
    endpoint: bool,
    rounds: usize,
    /// The PostgreSQL administrator URL (`--postgres`).
    postgres: Option<String>,
    /// The backends to run on, in order.
    backends: Vec<Backend>,
}

fn options() -> anyhow::Result<Options> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this without it.
    let smoke = !args.iter().any(|a| a == "--bench");
    let mut options = Options {
        connections: if smoke { 4 } else { 64 },
        seconds: if smoke { 0.5 } else { 10.0 },
        warmup: if smoke { 0.2 } else { 1.0 },
        repeat_every: 10,
        dir: None,
        naive: false,
        log: false,
        smoke,
        endpoint: false,
        rounds: 3,
        postgres: None,
        backends: Vec::new(),
    };
    let mut backend = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--bench" => {}
            "--log" => options.log = true,
            "--endpoint" => options.endpoint = true,
            "--rounds" => options.rounds = value("--rounds")?.parse()?,
            "--connections" => options.connections = value("--connections")?.parse()?,
            "--seconds" => options.seconds = value("--seconds")?.parse()?,
            "--warmup" => options.warmup = value("--warmup")?.parse()?,
            "--repeat-every" => options.repeat_every = value("--repeat-every")?.parse()?,
            "--dir" => options.dir = Some(PathBuf::from(value("--dir")?)),
            "--postgres" => options.postgres = Some(value("--postgres")?),
            "--backend" => {
                backend = Some(match value("--backend")?.as_str() {
                    "sqlite" => vec![Backend::Sqlite],
                    "postgres" => vec![Backend::Postgres],
                    "both" => vec![Backend::Sqlite, Backend::Postgres],
                    other => anyhow::bail!("--backend: sqlite, postgres or both, not {other}"),
                })
            }
            "--mode" => {
                options.naive = match value("--mode")?.as_str() {
                    "storelink" => false,
                    "naive" => true,
                    other => anyhow::bail!("--mode: storelink or naive, not {other}"),
                }
            }
            other => anyhow::bail!(
                "unknown argument {other}; use --connections N --seconds S --warmup S \
                 --repeat-every K --dir PATH --mode storelink|naive --log --endpoint --rounds N \
                 --postgres URL --backend sqlite|postgres|both"
            ),
        }
    }
    // --postgres alone means PostgreSQL only; without it, SQLite.
    options.backends = backend.unwrap_or_else(|| match options.postgres {
        Some(_) => vec![Backend::Postgres],
        None => vec![Backend::Sqlite],
    });
    anyhow::ensure!(
        options.postgres.is_some() || !options.backends.contains(&Backend::Postgres),
        "--backend postgres and both need --postgres URL, an administrator URL such as \
         postgres://postgres@127.0.0.1:5432/postgres"
    );
    anyhow::ensure!(options.connections > 0, "--connections must be at least 1");
    anyhow::ensure!(
        options.repeat_every > 1,
        "--repeat-every must be at least 2"
    );
    Ok(options)
}

fn main() -> anyhow::Result<()> {
    let options = options()?;
    if options.log {
        // As `storelink serve` logs: a line per request on stderr (RUST_LOG, default info).
        storelink::telemetry::init();
    }
    anyhow::ensure!(
        !(options.endpoint && options.naive),
        "--endpoint measures storelink, not --mode naive"
    );
    let mut summary = Vec::new();
    if !options.endpoint {
        for &backend in &options.backends {
            let figure = phase(&options, backend, None)?;
            summary.push(format!(
                "{:<11} {:>6.0} events/s  ({} connections, {:.1} s measured, p99 {:.2} ms)",
                name(backend),
                figure.rate,
                options.connections,
                figure.seconds,
                figure.p99_ms
            ));
        }
    } else {
        // The vendor's backend: a runtime of its own, answering at once.
        let receiver = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .thread_name("receiver")
            .build()?;
        let url = receiver.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let address = listener.local_addr()?;
            let router = Router::new().route("/hooks", post(|| async { StatusCode::NO_CONTENT }));
            tokio::spawn(async move { axum::serve(listener, router).await });
            Ok::<_, anyhow::Error>(format!("http://{address}/hooks"))
        })?;
        for &backend in &options.backends {
            summary.push(with_and_without(&options, backend, &url)?);
        }
    }
    if summary.len() > 1 {
        println!("both backends, one after the other in this run (same machine, same options):");
        for line in summary {
            println!("  {line}");
        }
    }
    Ok(())
}

/// The backend's name, for the output.
fn name(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
    }
}

/// `--endpoint` on one backend: without, then with an endpoint, `--rounds` times; prints each
/// round and the median ratio, and returns that as one line for the summary.
fn with_and_without(options: &Options, backend: Backend, url: &str) -> anyhow::Result<String> {
    // Without, then with, several times: the machine's speed drifts between runs, so a single
    // pair can mislead; the median of the pairs' ratios is the figure.
    let mut ratios = Vec::new();
    let mut withouts = Vec::new();
    for round in 1..=options.rounds.max(1) {
        let without = phase(options, backend, None)?.rate;
        let with = phase(options, backend, Some(url))?.rate;
        let ratio = 100.0 * with / without;
        println!(
            "{} round {round}: {without:.0} events/s without, {with:.0} with one endpoint: \
             {ratio:.0}%",
            name(backend)
        );
        ratios.push(ratio);
        withouts.push(without);
    }
    ratios.sort_by(f64::total_cmp);
    withouts.sort_by(f64::total_cmp);
    let ratios_shown = ratios
        .iter()
        .map(|r| format!("{r:.0}%"))
        .collect::<Vec<_>>()
        .join(", ");
    println!(
        "{}: with one endpoint subscribed to order.status_changed: median {:.0}% of the \
         throughput without ({} rounds: {ratios_shown})",
        name(backend),
        ratios[ratios.len() / 2],
        ratios.len(),
    );
    Ok(format!(
        "{:<11} median {:.0}% with one endpoint ({ratios_shown}); without: median {:.0} \
         events/s ({} connections, {:.1} s a run)",
        name(backend),
        ratios[ratios.len() / 2],
        withouts[withouts.len() / 2],
        options.connections,
        options.seconds
    ))
}

/// What one measured run gave.
struct Figure {
    /// Events per second (answered requests, repeats included).
    rate: f64,
    /// The measured window.
    seconds: f64,
    p99_ms: f64,
}

/// One measured run on a fresh database of `backend`, with a notification endpoint at
/// `endpoint` if given.
fn phase(options: &Options, backend: Backend, endpoint: Option<&str>) -> anyhow::Result<Figure> {
    // Declared before the server's runtime, so it is dropped (the PostgreSQL database dropped)
    // after the runtime is, on every way out of this function.
    let database = match backend {
        Backend::Sqlite => BenchDatabase::sqlite(options.dir.as_deref())?,
        Backend::Postgres => {
            let admin_url = options
                .postgres
                .as_deref()
                .context("PostgreSQL needs --postgres URL")?;
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(BenchDatabase::postgres(admin_url))?
        }
    };

    // The server gets a runtime of its own, as it would in its own process.
    let server = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("server")
        .build()?;
    let (address, install_id, db, stop) =
        server.block_on(start_server(&database.url, options, endpoint))?;

    let client = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("client")
        .build()?;
    let report = client.block_on(load(address, &install_id, options))?;

    // Check: exactly the distinct events answered 200 are stored.
    let stored: i64 = server.block_on(async {
        sqlx::query_scalar("SELECT COUNT(*) FROM events")
            .fetch_one(&db)
            .await
    })?;
    // With an endpoint: every stored event must reach it. How many had by the end of the load,
    // and how long the rest took once the load stopped, tell whether delivery kept up.
    let delivery = match endpoint {
        Some(_) => Some(server.block_on(drain(&db, stored))?),
        None => None,
    };
    let described = server.block_on(database.describe(&db))?;
    let _ = stop.send(());
    server.shutdown_timeout(Duration::from_secs(5));

    report.print(options, backend, &described);
    match (endpoint, &delivery) {
        (Some(url), Some(d)) => println!(
            "  notified    one endpoint ({url}): {} of {stored} events delivered when the load \
             stopped, all {} {:.2} s later",
            d.at_end,
            d.delivered,
            d.after.as_secs_f64()
        ),
        _ => println!("  notified    no endpoint"),
    }
    anyhow::ensure!(report.errors == 0, "{} requests failed", report.errors);
    anyhow::ensure!(
        stored as u64 == report.distinct_stored,
        "the database holds {stored} events, but {} distinct events were acknowledged",
        report.distinct_stored
    );
    if let Some(d) = &delivery {
        anyhow::ensure!(
            d.delivered == stored && d.messages == stored,
            "{stored} events stored but {} messages made and {} delivered",
            d.messages,
            d.delivered
        );
    }
    Ok(Figure {
        rate: report.requests as f64 / report.measured.as_secs_f64(),
        seconds: report.measured.as_secs_f64(),
        p99_ms: report.percentile(99.0),
    })
}

/// How delivery went in a run with an endpoint.
struct Delivery {
    /// Messages delivered when the load stopped.
    at_end: i64,
    /// Messages delivered in the end.
    delivered: i64,
    /// Messages made (one per stored event, or something is wrong).
    messages: i64,
    /// How long after the load stopped the last one was delivered.
    after: Duration,
}

/// Waits (at most two minutes) until the `stored` events' messages are delivered.
async fn drain(db: &storelink::db::Db, stored: i64) -> anyhow::Result<Delivery> {
    let delivered = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM notify_messages WHERE status = 'delivered'",
        )
        .fetch_one(db)
        .await
    };
    let started = Instant::now();
    let at_end = delivered().await?;
    let mut now = at_end;
    while now < stored && started.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        now = delivered().await?;
    }
    let after = started.elapsed();
    let messages = sqlx::query_scalar("SELECT COUNT(*) FROM notify_messages")
        .fetch_one(db)
        .await?;
    Ok(Delivery {
        at_end,
        delivered: now,
        messages,
        after,
    })
}

/// Starts storelink (or the naive comparison server) and creates the install events are sent to.
async fn start_server(
    database_url: &str,
    options: &Options,
    endpoint: Option<&str>,
) -> anyhow::Result<(
    SocketAddr,
    String,
    storelink::db::Db,
    tokio::sync::oneshot::Sender<()>,
)> {
    let mut settings = Settings::sandbox_defaults(database_url.to_owned());
    settings.master_key = Some(MasterKey::generate_base64());
    let app = Application::build(settings, Arc::new(SystemClock)).await?;
    let state = app.state();
    let install_id = installs::save(
        &state.db,
        &state.keyring,
        &NewInstall {
            platform: Platform::Maropost,
            account_id: "bench-store",
            store_domain: Some("bench.example.com"),
            store_name: Some("Bench"),
            timezone: None,
            scope: None,
            user: InstallingUser::default(),
            billing_address: None,
            initiated_by: Initiator::Storelink,
            access_token: b"token",
        },
        0,
    )
    .await?
    .id;
    webhooks::set_webhook_key(&state.db, &state.keyring, &install_id, KEY, "system", 0).await?;
    if let Some(url) = endpoint {
        storelink::notify::endpoints::add(
            &state.notify(),
            url,
            &Subscription::Only(vec![EventType::OrderStatusChanged]),
            // No limits of its own: the bench measures the worker.
            storelink::domain::EndpointLimits::new(None, 1000).expect("valid limits"),
            true,
            "bench",
        )
        .await?;
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let address = if options.naive {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let router = Router::new()
            .route("/webhooks/maropost/{install_id}", post(naive))
            .with_state(state.db.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        address
    } else {
        let address = SocketAddr::from_str(&format!("127.0.0.1:{}", app.port()))?;
        tokio::spawn(app.run_until(async {
            let _ = stopped.await;
        }));
        address
    };
    Ok((address, install_id, state.db.clone(), stop))
}

/// The comparison: parse, then one transaction and one fsync per request.
async fn naive(
    State(db): State<storelink::db::Db>,
    UrlPath(install_id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    let Ok(event) = storelink::platforms::maropost::webhooks::order_xml::parse(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let order = event.order.as_ref();
    let result = sqlx::query(
        "INSERT INTO events (install_id, event_id, event_type, sent_time, order_id, order_status,
             received_at, raw_body)
         VALUES ($1, $2, $3, $4, $5, $6, 0, $7) ON CONFLICT (install_id, event_id) DO NOTHING",
    )
    .bind(&install_id)
    .bind(&event.event_id)
    .bind(&event.event_type)
    .bind(&event.current_time)
    .bind(order.map(|o| o.order_id.clone()))
    .bind(order.map(|o| o.status.as_str()))
    .bind(String::from_utf8_lossy(&body).into_owned())
    .execute(&db)
    .await;
    match result {
        Ok(_) => StatusCode::OK,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

fn event_xml(event_id: u64) -> Bytes {
    Bytes::from(format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Event><CurrentTime>2024-01-03 01:11:12</CurrentTime>\
         <EventID>{event_id}</EventID><EventType>Order</EventType><Order><OrderID>N{}</OrderID>\
         <OrderStatus>Pick</OrderStatus></Order></Event>",
        10_000 + event_id % 5_000
    ))
}

struct ConnectionResult {
    latencies_us: Vec<u32>,
    acknowledged: Vec<u64>,
    repeats: u64,
    errors: u64,
}

struct Report {
    measured: Duration,
    /// storelink's CPU time while measuring ([`cpu::storelink_cpu`]), where it can be read.
    storelink_cpu: Option<Duration>,
    latencies_us: Vec<u32>,
    requests: u64,
    repeats: u64,
    errors: u64,
    distinct_stored: u64,
}

/// Runs the connections: warm-up, then the measured window.
async fn load(address: SocketAddr, install_id: &str, options: &Options) -> anyhow::Result<Report> {
    let next_id = Arc::new(AtomicU64::new(1));
    let measuring = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let path = format!("/webhooks/maropost/{install_id}");
    let mut tasks = Vec::with_capacity(options.connections);
    for _ in 0..options.connections {
        tasks.push(tokio::spawn(connection(
            address,
            path.clone(),
            options.repeat_every,
            next_id.clone(),
            measuring.clone(),
            done.clone(),
        )));
    }
    tokio::time::sleep(Duration::from_secs_f64(options.warmup)).await;
    measuring.store(true, Ordering::SeqCst);
    let cpu_before = cpu::storelink_cpu();
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(options.seconds)).await;
    measuring.store(false, Ordering::SeqCst);
    let measured = started.elapsed();
    let storelink_cpu = cpu_before
        .zip(cpu::storelink_cpu())
        .map(|(before, after)| after.saturating_sub(before));
    done.store(true, Ordering::SeqCst);

    let mut latencies_us = Vec::new();
    let mut acknowledged = Vec::new();
    let (mut requests, mut repeats, mut errors) = (0, 0, 0);
    for task in tasks {
        let result = task.await??;
        requests += result.latencies_us.len() as u64;
        latencies_us.extend(result.latencies_us);
        acknowledged.extend(result.acknowledged);
        repeats += result.repeats;
        errors += result.errors;
    }
    acknowledged.sort_unstable();
    acknowledged.dedup();
    latencies_us.sort_unstable();
    Ok(Report {
        measured,
        storelink_cpu,
        latencies_us,
        requests,
        repeats,
        errors,
        distinct_stored: acknowledged.len() as u64,
    })
}

/// One keep-alive connection posting events back to back until `done`; records latencies only
/// while `measuring`, and every acknowledged EventID always.
async fn connection(
    address: SocketAddr,
    path: String,
    repeat_every: u64,
    next_id: Arc<AtomicU64>,
    measuring: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
) -> anyhow::Result<ConnectionResult> {
    let stream = tokio::net::TcpStream::connect(address).await?;
    stream.set_nodelay(true)?;
    let (mut sender, driver) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(driver);
    let mut result = ConnectionResult {
        latencies_us: Vec::with_capacity(64 * 1024),
        acknowledged: Vec::with_capacity(64 * 1024),
        repeats: 0,
        errors: 0,
    };
    let mut sent = 0u64;
    while !done.load(Ordering::Relaxed) {
        sent += 1;
        let fresh = next_id.fetch_add(1, Ordering::Relaxed);
        let repeat = sent.is_multiple_of(repeat_every) && fresh > 1_000;
        let event_id = if repeat { fresh - 1_000 } else { fresh };
        let request = hyper::Request::post(path.as_str())
            .header("host", "127.0.0.1")
            .header("content-type", "application/xml")
            .header("NETO_NOTIFICATION", "Order")
            .header("NETOAPI_KEY", KEY)
            .body(Full::new(event_xml(event_id)))?;
        let measure = measuring.load(Ordering::Relaxed);
        let started = Instant::now();
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        response.into_body().collect().await?;
        let took = started.elapsed();
        if status == StatusCode::OK {
            result.acknowledged.push(event_id);
        } else {
            result.errors += 1;
        }
        if measure {
            result
                .latencies_us
                .push(took.as_micros().min(u32::MAX as u128) as u32);
            result.repeats += u64::from(repeat);
        }
    }
    Ok(result)
}

impl Report {
    fn percentile(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let rank = ((p / 100.0) * (self.latencies_us.len() - 1) as f64).round() as usize;
        f64::from(self.latencies_us[rank]) / 1000.0
    }

    fn print(&self, options: &Options, backend: Backend, database: &[String]) {
        let rate = self.requests as f64 / self.measured.as_secs_f64();
        println!(
            "storelink webhook benchmark on {}{}",
            name(backend),
            if options.smoke {
                " (smoke run; use `cargo bench --bench webhooks` for real figures)"
            } else {
                ""
            }
        );
        println!(
            "  server      {} ({} cores)",
            if options.naive {
                "naive: one commit per request"
            } else {
                "storelink: group commit"
            },
            std::thread::available_parallelism().map_or(0, |n| n.get()),
        );
        for (n, line) in database.iter().enumerate() {
            println!("  {:<11} {line}", if n == 0 { "database" } else { "" });
        }
        println!(
            "  logging     {}",
            if options.log {
                "on (--log): a line per request on stderr, as `storelink serve`"
            } else {
                "off (no log subscriber; --log turns it on)"
            }
        );
        println!(
            "  load        {} connections, {:.1} s measured after {:.1} s warm-up, 1 in {} a repeated EventID",
            options.connections,
            self.measured.as_secs_f64(),
            options.warmup,
            options.repeat_every
        );
        println!(
            "  throughput  {:.0} events/s ({} requests, {} of them repeats, {} errors)",
            rate, self.requests, self.repeats, self.errors
        );
        if let Some(cpu) = self.storelink_cpu.filter(|_| self.requests > 0) {
            println!(
                "  cpu         {:.0} us of storelink's CPU per request (its runtime and SQLite \
                 threads; steadier than events/s on a shared machine)",
                cpu.as_secs_f64() * 1e6 / self.requests as f64
            );
        }
        println!(
            "  latency ms  p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
            self.percentile(50.0),
            self.percentile(90.0),
            self.percentile(99.0),
            self.percentile(99.9),
            self.percentile(100.0)
        );
        println!(
            "  stored      {} distinct events, each answered 200 only after its commit",
            self.distinct_stored
        );
    }
}
