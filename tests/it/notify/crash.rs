//! The real binary with a queue of notifications: killed with SIGKILL while messages are pending
//! and in flight, then restarted, every message still arrives (at least once); and a thousand
//! messages to a slow receiver keep its memory bounded.

use std::{collections::HashSet, path::Path, sync::Arc, time::Duration};

use secrecy::ExposeSecret as _;
use storelink::{
    clock::{Clock as _, SystemClock},
    crypto::{Keyring, MasterKey},
    db::{
        self,
        endpoints::{self, Subscription},
        outbox::{self, Change},
    },
    domain::EventType,
};
use wiremock::{Mock, MockServer, ResponseTemplate, matchers::method};

use crate::attacks::binary;

/// A database in `dir` (as `binary::serve` opens it) with one endpoint at `url` and `count`
/// messages queued for it; returns the master key.
async fn queued(dir: &Path, url: &str, count: usize) -> String {
    let master = MasterKey::generate_base64();
    let pool = db::connect(&format!("sqlite://{}", dir.join("attack.db").display()))
        .await
        .unwrap();
    db::migrate(&pool).await.unwrap();
    let keyring = Arc::new(Keyring::new(MasterKey::from_base64(&master).unwrap()));
    let now = SystemClock.unix();
    endpoints::add(
        &pool,
        &keyring,
        url,
        &Subscription::All,
        storelink::domain::EndpointLimits::default(),
        true,
        "system",
        now,
    )
    .await
    .unwrap();
    let changes: Vec<Change> = (0..count)
        .map(|i| Change {
            install_id: format!("install-{i}"),
            data: serde_json::json!({ "n": i }),
        })
        .collect();
    let mut tx = storelink::db::begin_write(&pool).await.unwrap();
    outbox::enqueue_many(&mut tx, EventType::OrderStatusChanged, &changes, now)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    pool.close().await;
    master.expose_secret().to_owned()
}

async fn receiver(delay: Duration) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(delay))
        .mount(&server)
        .await;
    server
}

/// The distinct `webhook-id`s and the number of requests the receiver got.
async fn received(server: &MockServer) -> (HashSet<String>, usize) {
    let requests = server.received_requests().await.unwrap_or_default();
    let ids = requests
        .iter()
        .filter_map(|r| r.headers.get("webhook-id"))
        .filter_map(|v| v.to_str().ok())
        .map(str::to_owned)
        .collect();
    (ids, requests.len())
}

async fn wait_until(
    server: &MockServer,
    what: &str,
    done: impl Fn(&HashSet<String>, usize) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (ids, requests) = received(server).await;
        if done(&ids, requests) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: {} distinct of {requests} requests",
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_arrives_after_a_sigkill_mid_delivery() {
    const MESSAGES: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let server = receiver(Duration::from_millis(300)).await;
    let master = queued(dir.path(), &format!("{}/hooks", server.uri()), MESSAGES).await;
    let vars = [
        ("STORELINK_MASTER_KEY", master.as_str()),
        ("STORELINK_ALLOW_PRIVATE_ENDPOINTS", "true"),
    ];
    let (mut child, _) = binary::serve(dir.path(), &vars, None).await;
    // Some delivered, a full window in flight, the rest pending.
    wait_until(&server, "before the kill", |_, requests| requests >= 100).await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let (before, _) = received(&server).await;
    assert!(before.len() < MESSAGES, "all were sent before the kill");

    let (_child, _) = binary::serve(dir.path(), &vars, None).await;
    // Pending ones go at once.
    wait_until(&server, "after the restart", |ids, _| ids.len() == MESSAGES).await;
    // The ones in flight at the kill may have reached the receiver, but storelink never heard
    // its answer: they are sent again when their claims run out, and then every message is
    // delivered as far as storelink knows too.
    let pool = db::connect(&format!(
        "sqlite://{}",
        dir.path().join("attack.db").display()
    ))
    .await
    .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let delivered: i64 =
            sqlx::query_scalar("SELECT count(*) FROM notify_messages WHERE status = 'delivered'")
                .fetch_one(&pool)
                .await
                .unwrap();
        if delivered == MESSAGES as i64 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{delivered} of {MESSAGES} delivered"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, requests) = received(&server).await;
    eprintln!("{MESSAGES} messages took {requests} requests across the kill");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_messages_to_a_slow_receiver_keep_memory_bounded() {
    const MESSAGES: usize = 1000;
    let dir = tempfile::tempdir().unwrap();
    let server = receiver(Duration::from_millis(200)).await;
    let master = queued(dir.path(), &format!("{}/slow", server.uri()), MESSAGES).await;
    let vars = [
        ("STORELINK_MASTER_KEY", master.as_str()),
        ("STORELINK_ALLOW_PRIVATE_ENDPOINTS", "true"),
    ];
    let (child, _) = binary::serve(dir.path(), &vars, None).await;
    let pid = child.id().unwrap();
    wait_until(&server, "all delivered", |ids, _| ids.len() == MESSAGES).await;
    let peak = binary::peak_rss(pid);
    eprintln!("peak RSS {} MiB for {MESSAGES} messages", peak >> 20);
    // 64 in flight at a time: the queue stays in the database, not in memory.
    assert!(peak < 120 * 1024 * 1024, "peak RSS {} MiB", peak >> 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_during_a_recover_loses_nothing_and_repeats_only_what_was_in_flight() {
    // Setup: 200 messages whose retries all failed during an outage.
    const MESSAGES: usize = 200;
    let dir = tempfile::tempdir().unwrap();
    let server = receiver(Duration::from_millis(300)).await;
    let url = format!("{}/hooks", server.uri());
    let master = queued(dir.path(), &url, MESSAGES).await;
    let path = format!("sqlite://{}", dir.path().join("attack.db").display());
    let pool = db::connect(&path).await.unwrap();
    sqlx::query("UPDATE notify_messages SET status = 'failed', finished_at = created_at")
        .execute(&pool)
        .await
        .unwrap();
    let endpoint = endpoints::find_by_url(&pool, &url).await.unwrap().unwrap();
    let vars = [
        ("STORELINK_MASTER_KEY", master.as_str()),
        ("STORELINK_ALLOW_PRIVATE_ENDPOINTS", "true"),
    ];
    let (mut child, _) = binary::serve(dir.path(), &vars, None).await;

    // Exec: recover (as the CLI does, in one statement), then SIGKILL mid-delivery.
    let mut tx = db::begin_write(&pool).await.unwrap();
    let recovered = outbox::recover(&mut tx, &endpoint.id, 0, SystemClock.unix())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(recovered, MESSAGES as u64);
    wait_until(&server, "before the kill", |_, requests| requests >= 50).await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let (_, before) = received(&server).await;
    assert!(before < MESSAGES, "all were sent before the kill");
    let (_child, _) = binary::serve(dir.path(), &vars, None).await;

    // Check: every message arrives; only those in flight at the kill (at most the endpoint's
    // most-in-flight) arrive twice; a second recover finds nothing failed.
    wait_until(&server, "after the restart", |ids, _| ids.len() == MESSAGES).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let delivered: i64 =
            sqlx::query_scalar("SELECT count(*) FROM notify_messages WHERE status = 'delivered'")
                .fetch_one(&pool)
                .await
                .unwrap();
        if delivered == MESSAGES as i64 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{delivered} delivered"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, requests) = received(&server).await;
    let in_flight = usize::try_from(endpoint.max_in_flight).unwrap();
    assert!(
        requests <= MESSAGES + in_flight,
        "{requests} requests for {MESSAGES} messages"
    );
    let mut tx = db::begin_write(&pool).await.unwrap();
    let again = outbox::recover(&mut tx, &endpoint.id, 0, SystemClock.unix())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(again, 0);
}
