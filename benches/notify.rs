//! Delivery benchmark of notifications: messages per second from the outbox to a local receiver.
//!
//! ```sh
//! cargo bench --bench notify                          # 20,000 messages, 64 in flight
//! cargo bench --bench notify -- --messages 50000 --in-flight 128 --dir /var/tmp
//! ```
//!
//! It queues the messages in a fresh SQLite database (WAL, `synchronous=FULL`) for one endpoint
//! on 127.0.0.1, starts the delivery worker (its own Tokio runtime, as in `storelink serve`),
//! and times until every message is recorded as delivered. The receiver (another runtime)
//! answers `204` at once and counts the distinct `webhook-id`s, which must be all of them.
//! Every message is signed, sent over HTTP/1.1 through the outbound guard, and its attempt
//! recorded, exactly as in production.
//!
//! Run by `cargo test --all-targets` (without `--bench`), it does a short smoke run instead.
// The library is `pub(crate)` by default and documented (Cargo.toml [lints]); a test or
// benchmark binary is nobody's API.
#![allow(unreachable_pub, missing_docs)]

use std::{
    collections::HashSet,
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use axum::{Router, extract::State, http::HeaderMap, http::StatusCode, routing::post};
use storelink::{
    clock::{Clock as _, SystemClock},
    crypto::{Keyring, MasterKey},
    db::{
        self,
        endpoints::{self, Subscription},
        outbox::{self, Change},
    },
    domain::EventType,
    notify::{NotifyConfig, NotifyContext, worker::Notifier},
    platforms::kit::outbound::Outbound,
};

struct Options {
    messages: usize,
    in_flight: usize,
    dir: Option<PathBuf>,
    smoke: bool,
}

fn options() -> anyhow::Result<Options> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let smoke = !args.iter().any(|a| a == "--bench");
    let mut options = Options {
        messages: if smoke { 300 } else { 20_000 },
        in_flight: 64,
        dir: None,
        smoke,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--bench" => {}
            "--messages" => options.messages = value("--messages")?.parse()?,
            "--in-flight" => options.in_flight = value("--in-flight")?.parse()?,
            "--dir" => options.dir = Some(PathBuf::from(value("--dir")?)),
            other => {
                anyhow::bail!("unknown argument {other}; use --messages N --in-flight N --dir PATH")
            }
        }
    }
    anyhow::ensure!(options.messages > 0 && options.in_flight > 0);
    Ok(options)
}

type Seen = Arc<Mutex<HashSet<String>>>;

async fn receive(State(seen): State<Seen>, headers: HeaderMap) -> StatusCode {
    if let Some(id) = headers.get("webhook-id").and_then(|v| v.to_str().ok()) {
        seen.lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_owned());
    }
    StatusCode::NO_CONTENT
}

fn main() -> anyhow::Result<()> {
    let options = options()?;
    let dir = match &options.dir {
        Some(parent) => tempfile::tempdir_in(parent)?,
        None => tempfile::tempdir()?,
    };

    // The receiver: a runtime of its own, as the vendor's backend would be elsewhere.
    let receiver = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .thread_name("receiver")
        .build()?;
    let seen: Seen = Arc::default();
    let address: SocketAddr = receiver.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let router = Router::new()
            .route("/hooks", post(receive))
            .with_state(seen.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Ok::<_, anyhow::Error>(address)
    })?;

    let server = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("storelink")
        .build()?;
    let (took, delivered) = server.block_on(async {
        let pool = db::connect(&format!(
            "sqlite://{}",
            dir.path().join("bench.db").display()
        ))
        .await?;
        db::migrate(&pool).await?;
        let keyring = Arc::new(Keyring::new(MasterKey::from_base64(
            &MasterKey::generate_base64(),
        )?));
        let now = SystemClock.unix();
        let url = format!("http://{address}/hooks");
        endpoints::add(
            &pool,
            &keyring,
            &url,
            &Subscription::All,
            storelink::domain::EndpointLimits::new(None, 1000).expect("valid limits"),
            true,
            "bench",
            now,
        )
        .await?;
        let changes: Vec<Change> = (0..options.messages)
            .map(|i| Change {
                install_id: format!("{i:032x}"),
                data: serde_json::json!({
                    "install_id": format!("{i:032x}"),
                    "event_id": format!("evt-{i}"),
                    "event_type": "Order",
                    "order_id": format!("N{i}"),
                    "order_status": "Pick",
                    "current_time": "2024-01-03 01:11:12",
                }),
            })
            .collect();
        let mut tx = storelink::db::begin_write(&pool).await?;
        outbox::enqueue_many(&mut tx, EventType::OrderStatusChanged, &changes, now).await?;
        tx.commit().await?;

        let ctx = NotifyContext {
            db: pool.clone(),
            keyring,
            clock: Arc::new(SystemClock),
            outbound: Outbound::new(Duration::from_secs(10), true)?,
        };
        let started = Instant::now();
        let notifier = Notifier::start(
            ctx,
            NotifyConfig {
                concurrency: options.in_flight,
                ..NotifyConfig::default()
            },
        );
        let delivered = loop {
            let delivered: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM notify_messages WHERE status = 'delivered'",
            )
            .fetch_one(&pool)
            .await?;
            if delivered as usize >= options.messages
                || started.elapsed() > Duration::from_secs(600)
            {
                break delivered;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let took = started.elapsed();
        notifier.shutdown().await;
        pool.close().await;
        Ok::<_, anyhow::Error>((took, delivered))
    })?;
    let distinct = seen.lock().unwrap_or_else(|p| p.into_inner()).len();
    println!(
        "storelink notification delivery benchmark{}",
        if options.smoke {
            " (smoke run; use `cargo bench --bench notify` for real figures)"
        } else {
            ""
        }
    );
    println!(
        "  setup       {} messages queued for one endpoint on 127.0.0.1, {} in flight, {} cores",
        options.messages,
        options.in_flight,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "  throughput  {:.0} messages/s ({delivered} delivered in {:.2} s: signed, sent, answered 204, recorded)",
        delivered as f64 / took.as_secs_f64(),
        took.as_secs_f64()
    );
    println!("  received    {distinct} distinct webhook-ids");
    anyhow::ensure!(
        delivered as usize == options.messages,
        "only {delivered} of {} delivered",
        options.messages
    );
    anyhow::ensure!(
        distinct == options.messages,
        "the receiver saw {distinct} distinct messages of {}",
        options.messages
    );
    Ok(())
}
