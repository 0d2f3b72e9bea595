//! The connected-stores page at 100,000 installs.
//!
//! ```sh
//! cargo bench --bench console                      # SQLite, 100,000 installs
//! cargo bench --bench console -- 200000            # another size
//! cargo bench --bench console -- --postgres postgres://postgres@127.0.0.1:5432/postgres
//! ```
//!
//! It seeds a fresh database in one transaction, starts the real app on a random port, logs an
//! operator in, and times the pages the console serves most: the first page, a filtered page, a
//! deep page, a search and a short search. Timings are measured on the client over loopback, so
//! they include HTTP; the target is under 20 ms for the first page and for a search, on either
//! backend.
//!
//! With `--postgres URL` (an administrator URL: its user may create databases) it runs on
//! PostgreSQL: a database of its own on that server (`storelink_bench_<random hex>`), dropped
//! afterwards (`DROP DATABASE ... WITH (FORCE)`), also when the run fails.
// The library is `pub(crate)` by default and documented (Cargo.toml [lints]); a test or
// benchmark binary is nobody's API.
#![allow(unreachable_pub, missing_docs)]

#[path = "support/database.rs"]
mod database;

use std::{sync::Arc, time::Instant};

use anyhow::Context as _;
use secrecy::SecretString;
use storelink::{
    app::Application, clock::SystemClock, config::Settings, crypto::MasterKey, db::operators,
    password,
};

use database::BenchDatabase;

const EMAIL: &str = "bench@example.com";
const PASSWORD: &str = "benchmark password";
const RUNS: usize = 200;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut size = 100_000;
    let mut postgres = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            // `cargo bench` passes --bench; `cargo test --all-targets` runs this without it.
            "--bench" => {}
            "--postgres" => postgres = Some(args.next().context("--postgres needs a URL")?),
            number if number.parse::<usize>().is_ok() => size = number.parse()?,
            other => anyhow::bail!(
                "unknown argument {other}; use a number of installs and --postgres URL"
            ),
        }
    }
    // Dropped last, on every way out (the PostgreSQL database with it).
    let database = match &postgres {
        Some(admin_url) => BenchDatabase::postgres(admin_url).await?,
        None => BenchDatabase::sqlite(None)?,
    };
    let mut settings = Settings::sandbox_defaults(database.url.clone());
    // A key of its own: sandbox mode would otherwise keep a development key in a file beside a
    // SQLite database, or in the working directory on PostgreSQL.
    settings.master_key = Some(MasterKey::generate_base64());
    let app = Application::build(settings, Arc::new(SystemClock)).await?;
    let state = app.state();
    let port = app.port();
    tokio::spawn(app.run_until(std::future::pending()));

    let started = Instant::now();
    seed(&state.db, size).await?;
    println!(
        "seeded {size} installs in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for (n, line) in database.describe(&state.db).await?.iter().enumerate() {
        println!("{:<9} {line}", if n == 0 { "database:" } else { "" });
    }

    let hash = password::hash(&SecretString::from(PASSWORD))?;
    operators::add(&state.db, EMAIL, &hash, 0).await?;
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let base = format!("http://localhost:{port}");
    log_in(&client, &base).await?;

    let deep_cursor = format!("{}.{}", 1_700_000_000 + size as i64 / 2, "f".repeat(32));
    let pages = [
        ("first page", "/console".to_owned()),
        ("status filter", "/console?status=revoked".to_owned()),
        (
            "provider + status",
            "/console?provider=bol&status=active".to_owned(),
        ),
        (
            "deep page (keyset)",
            format!("/console?after={deep_cursor}"),
        ),
        ("search (trigram)", "/console?q=shop-04217".to_owned()),
        ("search, no match", "/console?q=zzzznothing".to_owned()),
        ("search, common", "/console?q=example".to_owned()),
        ("short search (LIKE)", "/console?q=42".to_owned()),
    ];
    println!(
        "{:<22} {:>9} {:>9} {:>9}   ({RUNS} requests each)",
        "page", "p50 ms", "p95 ms", "max ms"
    );
    for (name, path) in pages {
        let mut times = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            let t = Instant::now();
            let response = client.get(format!("{base}{path}")).send().await?;
            anyhow::ensure!(response.status() == 200, "{path}: {}", response.status());
            response.bytes().await?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        let pct = |p: f64| times[((times.len() as f64 - 1.0) * p) as usize];
        println!(
            "{name:<22} {:>9.2} {:>9.2} {:>9.2}",
            pct(0.5),
            pct(0.95),
            pct(1.0)
        );
    }
    Ok(())
}

/// `size` installs in one transaction: every third revoked, every fifth on bol.com.
async fn seed(db: &storelink::db::Db, size: usize) -> anyhow::Result<()> {
    let mut tx = storelink::db::begin_write(db).await?;
    for i in 0..size {
        let status = match i % 3 {
            0 => "revoked",
            1 if i % 7 == 0 => "needs_attention",
            _ => "active",
        };
        let provider = if i % 5 == 0 { "bol" } else { "maropost" };
        sqlx::query(
            "INSERT INTO installs (id, provider, account_id, store_domain, store_name, status,
                 initiated_by, installed_at, last_installed_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, 'storelink', $7, $7, $7)",
        )
        .bind(storelink::crypto::random_hex(16))
        .bind(provider)
        .bind(format!("acct-{i}"))
        .bind(format!("shop-{i:05}.example.com"))
        .bind(format!("Shop number {i}"))
        .bind(status)
        .bind(1_700_000_000 + i as i64)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    // Statistics for the query planner, as a real deployment has them: SQLite's ANALYZE feeds
    // its planner's choice of index; on PostgreSQL, autovacuum would analyze a table that grew
    // like this soon after, and without statistics the planner guesses between the pg_trgm GIN
    // indexes and the ordered scan for a search (src/db/dialect.rs) from defaults.
    sqlx::query("ANALYZE").execute(db).await?;
    Ok(())
}

async fn log_in(client: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    let page = client
        .get(format!("{base}/console/login"))
        .send()
        .await?
        .text()
        .await?;
    let marker = r#"name="csrf_token" value=""#;
    let start = page
        .find(marker)
        .ok_or_else(|| anyhow::anyhow!("no csrf token"))?
        + marker.len();
    let token = page[start..].split('"').next().unwrap_or_default();
    let response = client
        .post(format!("{base}/console/login"))
        .form(&[
            ("email", EMAIL),
            ("password", PASSWORD),
            ("csrf_token", token),
        ])
        .send()
        .await?;
    anyhow::ensure!(
        response.status() == 303,
        "login failed: {}",
        response.status()
    );
    Ok(())
}
