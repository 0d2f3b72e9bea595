//! The health checker at 10,000 installs with a 1-minute interval: are the checks spread over
//! the interval (no burst), does memory stay flat, and do the console and the API answer as
//! fast while it runs as without it?
//!
//! ```sh
//! cargo bench --bench health                        # SQLite, 10,000 installs, 60 s, 150 s run
//! cargo bench --bench health -- --installs 20000 --interval 120 --seconds 300
//! cargo bench --bench health -- --postgres postgres://postgres@127.0.0.1:5432/postgres
//! ```
//!
//! It seeds a fresh database with Maropost installs (each its own store and token), and starts a
//! stand-in Maropost API on 127.0.0.1 that answers every `GetOrder` at once and counts the checks
//! by second and by store. Then, on the same database and in the same run:
//!
//! 1. **Baseline**: the real app with checks off; it times the console's first page, the API's
//!    installs list and one install (`--probes` requests each), and notes the process's RSS.
//! 2. **Checker on**: the app again with the interval on and the default concurrency; for
//!    `--seconds` it probes the same pages continuously and samples the RSS each second.
//!
//! It reports the checks per second (mean, lowest and highest second, each interval apart),
//! how many stores were checked how often, the RSS over the run, and the latencies of both
//! phases side by side. Run by `cargo test --all-targets` (without `--bench`), it does a short
//! smoke run instead.
// The library is `pub(crate)` by default and documented (Cargo.toml [lints]); a test or
// benchmark binary is nobody's API.
#![allow(unreachable_pub, missing_docs)]

#[path = "support/database.rs"]
mod database;

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use axum::{Json, Router, extract::Path as UrlPath, routing::post};
use secrecy::SecretString;
use storelink::{
    app::Application,
    clock::{Clock as _, SystemClock},
    config::Settings,
    crypto::MasterKey,
    db::{
        api_keys,
        installs::{self, NewInstall},
        operators,
    },
    domain::{Initiator, Platform, api_key::ApiKeySecret},
    password,
};

use database::BenchDatabase;

const EMAIL: &str = "bench@example.com";
const PASSWORD: &str = "benchmark password";

struct Options {
    installs: usize,
    interval: u64,
    seconds: u64,
    probes: usize,
    postgres: Option<String>,
}

fn options() -> anyhow::Result<Options> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this without it.
    let smoke = !args.iter().any(|a| a == "--bench");
    let mut options = Options {
        installs: if smoke { 200 } else { 10_000 },
        interval: if smoke { 2 } else { 60 },
        seconds: if smoke { 3 } else { 150 },
        probes: if smoke { 10 } else { 300 },
        postgres: None,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--bench" => {}
            "--installs" => options.installs = value("--installs")?.parse()?,
            "--interval" => options.interval = value("--interval")?.parse()?,
            "--seconds" => options.seconds = value("--seconds")?.parse()?,
            "--probes" => options.probes = value("--probes")?.parse()?,
            "--postgres" => options.postgres = Some(value("--postgres")?),
            other => anyhow::bail!(
                "unknown argument {other}; use --installs N --interval S --seconds S --probes N \
                 --postgres URL"
            ),
        }
    }
    anyhow::ensure!(options.interval > 0, "--interval must be at least 1");
    Ok(options)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = options()?;
    let database = match &options.postgres {
        Some(admin_url) => BenchDatabase::postgres(admin_url).await?,
        None => BenchDatabase::sqlite(None)?,
    };
    let platform = StandIn::start().await?;
    let mut settings = Settings::sandbox_defaults(database.url.clone());
    settings.sandbox = false;
    settings.master_key = Some(MasterKey::generate_base64());
    settings.allow_private_endpoints = true;
    // The probes are not what is measured against the API's per-key limit.
    settings.api.rate_limit = 0;
    let base = format!("http://{}", platform.address);
    let env = &mut settings.env;
    env.set("MAROPOST_CLIENT_ID", "bench-client");
    env.set("MAROPOST_CLIENT_SECRET", "bench-client-secret");
    env.set("MAROPOST_AUTHORIZE_URL", format!("{base}/oauth/v2/auth"));
    env.set("MAROPOST_TOKEN_URL", format!("{base}/oauth/v2/token"));
    env.set(
        "MAROPOST_API_URL_TEMPLATE",
        format!("{base}/{{store_domain}}/do/WS/NetoAPI"),
    );

    // 1. Checks off: seed, then the baseline.
    settings.health.interval = None;
    let (state, port, stop) = start(settings.clone()).await?;
    let started = Instant::now();
    let first_install = seed(&state, options.installs).await?;
    println!(
        "seeded {} installs in {:.1} s; {}",
        options.installs,
        started.elapsed().as_secs_f64(),
        database.describe(&state.db).await?.join("; ")
    );
    let probe = Probe::new(&state, port, &first_install).await?;
    let baseline = probe.times(options.probes).await?;
    let rss_before = rss_kib();
    let _ = stop.send(());
    drop(state);

    // 2. The checker on, on the same database.
    settings.health.interval = Some(Duration::from_secs(options.interval));
    let (state, port, _stop) = start(settings).await?;
    let probe = probe.at(port);
    let run = Duration::from_secs(options.seconds);
    let began = Instant::now();
    platform.reset(began);
    let sampler = tokio::spawn(async move {
        let mut samples = Vec::new();
        while began.elapsed() < run {
            samples.push(rss_kib());
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        samples
    });
    let mut during = Times::default();
    while began.elapsed() < run {
        during.add(probe.times(1).await?);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rss = sampler.await?;
    drop(state);

    report(&options, &platform, &baseline, &during, rss_before, &rss);
    Ok(())
}

/// Starts the app; its state, port, and the way to stop it.
async fn start(
    settings: Settings,
) -> anyhow::Result<(
    storelink::state::AppState,
    u16,
    tokio::sync::oneshot::Sender<()>,
)> {
    let app = Application::build(settings, Arc::new(SystemClock)).await?;
    let state = app.state();
    let port = app.port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    Ok((state, port, stop))
}

/// `count` Maropost installs in one transaction, each its own store (`shop-{i}.example.com`)
/// and token; the first one's id.
async fn seed(state: &storelink::state::AppState, count: usize) -> anyhow::Result<String> {
    let now = SystemClock.unix();
    let mut tx = storelink::db::begin_write(&state.db).await?;
    let mut first = None;
    for i in 0..count {
        let domain = format!("shop-{i}.example.com");
        let saved = installs::save_in(
            &mut tx,
            &state.keyring,
            &NewInstall {
                platform: Platform::Maropost,
                account_id: &format!("store-{i}"),
                store_domain: Some(&domain),
                store_name: Some(&format!("Shop number {i}")),
                timezone: None,
                scope: None,
                user: Default::default(),
                billing_address: None,
                initiated_by: Initiator::Storelink,
                access_token: format!("token-{i}").as_bytes(),
            },
            now,
            "merchant",
        )
        .await?;
        first.get_or_insert(saved.id);
    }
    tx.commit().await?;
    sqlx::query("ANALYZE").execute(&state.db).await?;
    first.context("no installs")
}

/// The stand-in Maropost API: answers every call at once, counting checks by second (since
/// [`StandIn::reset`]) and by store.
#[derive(Clone)]
struct StandIn {
    address: SocketAddr,
    seen: Arc<Mutex<Seen>>,
}

struct Seen {
    began: Instant,
    by_second: Vec<u32>,
    by_store: HashMap<String, u32>,
}

impl StandIn {
    async fn start() -> anyhow::Result<Self> {
        let seen = Arc::new(Mutex::new(Seen {
            began: Instant::now(),
            by_second: Vec::new(),
            by_store: HashMap::new(),
        }));
        let counted = seen.clone();
        let router = Router::new().route(
            "/{store}/do/WS/NetoAPI",
            post(move |UrlPath(store): UrlPath<String>| {
                let counted = counted.clone();
                async move {
                    if let Ok(mut seen) = counted.lock() {
                        let second = seen.began.elapsed().as_secs() as usize;
                        if seen.by_second.len() <= second {
                            seen.by_second.resize(second + 1, 0);
                        }
                        seen.by_second[second] += 1;
                        *seen.by_store.entry(store).or_default() += 1;
                    }
                    Json(serde_json::json!({"Ack": "Success", "Order": []}))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Self { address, seen })
    }

    fn reset(&self, began: Instant) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.began = began;
            seen.by_second.clear();
            seen.by_store.clear();
        }
    }
}

/// The pages timed: the console's first page, the API's installs list, one install.
#[derive(Clone)]
struct Probe {
    client: reqwest::Client,
    base: String,
    key: String,
    install: String,
}

/// Latencies in milliseconds, by page.
#[derive(Default)]
struct Times(HashMap<&'static str, Vec<f64>>);

impl Times {
    fn add(&mut self, other: Times) {
        for (page, times) in other.0 {
            self.0.entry(page).or_default().extend(times);
        }
    }

    fn percentile(&self, page: &str, p: f64) -> f64 {
        let Some(times) = self.0.get(page).filter(|t| !t.is_empty()) else {
            return f64::NAN;
        };
        let mut sorted = times.clone();
        sorted.sort_by(f64::total_cmp);
        sorted[((sorted.len() - 1) as f64 * p) as usize]
    }

    fn count(&self, page: &str) -> usize {
        self.0.get(page).map_or(0, Vec::len)
    }
}

const PAGES: [&str; 3] = ["console first page", "API installs list", "API one install"];

impl Probe {
    async fn new(
        state: &storelink::state::AppState,
        port: u16,
        install: &str,
    ) -> anyhow::Result<Self> {
        let hash = password::hash(&SecretString::from(PASSWORD))?;
        operators::add(&state.db, EMAIL, &hash, 0).await?;
        let key = ApiKeySecret::generate();
        api_keys::create(
            &state.db,
            "bench",
            &key.hash(),
            &key.shown_prefix(),
            "bench",
            SystemClock.unix(),
        )
        .await?;
        let probe = Self {
            client: reqwest::Client::new(),
            base: String::new(),
            key: key.expose().to_owned(),
            install: install.to_owned(),
        };
        Ok(probe.at(port))
    }

    /// The same probe against the app on `port` (logged in anew: sessions are in the database,
    /// but a new client keeps the run's phases apart).
    fn at(&self, port: u16) -> Self {
        Self {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
            base: format!("http://localhost:{port}"),
            ..self.clone()
        }
    }

    async fn log_in(&self) -> anyhow::Result<()> {
        let page = self
            .client
            .get(format!("{}/console/login", self.base))
            .send()
            .await?
            .text()
            .await?;
        let marker = r#"name="csrf_token" value=""#;
        let start = page.find(marker).context("no csrf token")? + marker.len();
        let token = page[start..].split('"').next().unwrap_or_default();
        let response = self
            .client
            .post(format!("{}/console/login", self.base))
            .form(&[
                ("email", EMAIL),
                ("password", PASSWORD),
                ("csrf_token", token),
            ])
            .send()
            .await?;
        anyhow::ensure!(response.status() == 303, "login: {}", response.status());
        Ok(())
    }

    /// Times each page `runs` times.
    async fn times(&self, runs: usize) -> anyhow::Result<Times> {
        let console = self
            .client
            .get(format!("{}/console", self.base))
            .send()
            .await?;
        if console.status() != 200 {
            self.log_in().await?;
        }
        let mut times = Times::default();
        for _ in 0..runs {
            for page in PAGES {
                let request = match page {
                    "console first page" => self.client.get(format!("{}/console", self.base)),
                    "API installs list" => self
                        .client
                        .get(format!("{}/api/v1/installs", self.base))
                        .bearer_auth(&self.key),
                    _ => self
                        .client
                        .get(format!("{}/api/v1/installs/{}", self.base, self.install))
                        .bearer_auth(&self.key),
                };
                let t = Instant::now();
                let response = request.send().await?;
                anyhow::ensure!(response.status() == 200, "{page}: {}", response.status());
                response.bytes().await?;
                times
                    .0
                    .entry(page)
                    .or_default()
                    .push(t.elapsed().as_secs_f64() * 1000.0);
            }
        }
        Ok(times)
    }
}

/// This process's resident set, KiB (Linux; 0 elsewhere).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn report(
    options: &Options,
    platform: &StandIn,
    baseline: &Times,
    during: &Times,
    rss_before: u64,
    rss: &[u64],
) {
    let Ok(seen) = platform.seen.lock() else {
        return;
    };
    let interval = options.interval as usize;
    let expected = options.installs as f64 / options.interval as f64;
    println!(
        "\nchecks per second (expected {expected:.1}: {} installs over {} s)",
        options.installs, options.interval
    );
    for (n, window) in seen.by_second.chunks(interval).enumerate() {
        let total: u32 = window.iter().sum();
        let mean = f64::from(total) / window.len() as f64;
        let low = window.iter().min().copied().unwrap_or(0);
        let high = window.iter().max().copied().unwrap_or(0);
        let first = n * interval;
        println!(
            "  seconds {first:>4}-{:<4} {total:>7} checks   mean {mean:>7.1}/s   lowest second {low:>5}   highest {high:>5}   (highest/mean {:.2})",
            first + window.len(),
            f64::from(high) / mean.max(f64::MIN_POSITIVE)
        );
    }
    let mut how_often: HashMap<u32, usize> = HashMap::new();
    for n in seen.by_store.values() {
        *how_often.entry(*n).or_default() += 1;
    }
    let mut how_often: Vec<_> = how_often.into_iter().collect();
    how_often.sort_unstable();
    let unchecked = options.installs.saturating_sub(seen.by_store.len());
    println!("stores checked n times over the run: {how_often:?} (never: {unchecked})");

    let mb = |kib: u64| kib as f64 / 1024.0;
    let after_first = rss.get(interval).copied().unwrap_or_default();
    println!(
        "RSS: baseline {:.1} MiB; checker on: after {} s {:.1} MiB, at the end {:.1} MiB, highest {:.1} MiB",
        mb(rss_before),
        interval,
        mb(after_first),
        mb(rss.last().copied().unwrap_or_default()),
        mb(rss.iter().copied().max().unwrap_or_default())
    );

    println!(
        "\n{:<22} {:>14} {:>14} {:>14} {:>14}",
        "latency, ms", "baseline p50", "checks on p50", "baseline p95", "checks on p95"
    );
    for page in PAGES {
        println!(
            "{page:<22} {:>14.2} {:>14.2} {:>14.2} {:>14.2}   ({} and {} requests)",
            baseline.percentile(page, 0.5),
            during.percentile(page, 0.5),
            baseline.percentile(page, 0.95),
            during.percentile(page, 0.95),
            baseline.count(page),
            during.count(page)
        );
    }
}
