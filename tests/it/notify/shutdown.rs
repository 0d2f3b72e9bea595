//! Shutdown: sends in flight finish within the bound and are recorded; nothing new is claimed;
//! what is not sent stays pending, with its claim given back so any instance sends it at once.

use std::{sync::Arc, time::Duration};

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
use wiremock::{Mock, MockServer, ResponseTemplate, matchers::method};

const MESSAGES: usize = 40;
const IN_FLIGHT: usize = 4;

/// A database with [`MESSAGES`] messages for an endpoint that answers after `delay`, and a
/// worker sending at most [`IN_FLIGHT`] at a time that waits `drain` at shutdown.
async fn worker(
    delay: Duration,
    drain: Duration,
) -> (crate::database::Scratch, db::Db, MockServer, Notifier) {
    let (dir, pool) = crate::database::Scratch::create().await;
    let keyring = Arc::new(Keyring::new(
        MasterKey::from_base64(&MasterKey::generate_base64()).unwrap(),
    ));
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(delay))
        .mount(&server)
        .await;
    let now = SystemClock.unix();
    let url = format!("{}/hooks", server.uri());
    endpoints::add(
        &pool,
        &keyring,
        &url,
        &Subscription::All,
        storelink::domain::EndpointLimits::default(),
        true,
        "system",
        now,
    )
    .await
    .unwrap();
    let changes: Vec<Change> = (0..MESSAGES)
        .map(|i| Change {
            install_id: format!("i{i}"),
            data: serde_json::json!({ "n": i }),
        })
        .collect();
    let mut tx = db::begin_write(&pool).await.unwrap();
    outbox::enqueue_many(&mut tx, EventType::OrderStatusChanged, &changes, now)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let notifier = Notifier::start(
        NotifyContext {
            db: pool.clone(),
            keyring,
            clock: Arc::new(SystemClock),
            outbound: Outbound::new(Duration::from_secs(10), true).unwrap(),
        },
        NotifyConfig {
            concurrency: IN_FLIGHT,
            drain,
            poll: Duration::from_millis(20),
            ..NotifyConfig::default()
        },
    );
    // Wait until a full window is in flight.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while server.received_requests().await.unwrap_or_default().len() < IN_FLIGHT {
        assert!(tokio::time::Instant::now() < deadline, "nothing was sent");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (dir, pool, server, notifier)
}

async fn counts(pool: &db::Db) -> (i64, i64, i64, i64) {
    sqlx::query_as(
        "SELECT
             COUNT(CASE WHEN status = 'delivered' THEN 1 END),
             COUNT(CASE WHEN status = 'pending' THEN 1 END),
             COUNT(CASE WHEN status = 'pending' AND lease_until IS NOT NULL THEN 1 END),
             COUNT(CASE WHEN status = 'pending' AND attempts > 0 THEN 1 END)
         FROM notify_messages",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn shutdown_lets_sends_in_flight_finish_and_leaves_the_rest_pending() {
    let (_dir, pool, server, notifier) =
        worker(Duration::from_millis(500), Duration::from_secs(5)).await;
    let started = std::time::Instant::now();
    notifier.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let sent = server.received_requests().await.unwrap().len() as i64;
    let (delivered, pending, leased, tried) = counts(&pool).await;
    // Every send that started was allowed to finish and was recorded; none started after.
    assert_eq!(delivered, sent, "{sent} sent");
    assert!(delivered < MESSAGES as i64);
    assert_eq!(pending, MESSAGES as i64 - delivered);
    assert_eq!(
        (leased, tried),
        (0, 0),
        "the rest is pending as if never claimed"
    );
}

#[tokio::test]
async fn shutdown_gives_back_sends_that_outlast_the_bound() {
    let (_dir, pool, _server, notifier) =
        worker(Duration::from_secs(5), Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    notifier.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let (delivered, pending, leased, tried) = counts(&pool).await;
    assert_eq!(delivered, 0);
    assert_eq!(pending, MESSAGES as i64);
    // Given back: due at once on the next start (or another instance), not after a lease.
    assert_eq!((leased, tried), (0, 0));
}
