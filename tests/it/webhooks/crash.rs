//! The real binary, killed with SIGKILL in the middle of a flood of events: every event it
//! answered `200` must be in the database when it comes back.

use std::{
    collections::HashSet,
    path::Path,
    process::Stdio,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use secrecy::ExposeSecret as _;
use storelink::{
    crypto::{Keyring, MasterKey},
    db::{
        self,
        installs::{self, NewInstall},
    },
    domain::{Initiator, InstallingUser, Platform},
    platforms::kit::webhook_keys as webhooks,
};
use tokio::{
    io::{AsyncBufReadExt as _, BufReader},
    process::{Child, Command},
};

use super::{KEY, event_xml};

const BIN: &str = env!("CARGO_BIN_EXE_storelink");
/// Concurrent senders.
const SENDERS: u64 = 32;
/// Kill once this many events have been acknowledged.
const KILL_AFTER: usize = 1500;

/// Starts `storelink serve` in `dir` and returns it with the port it listens on. Its log is
/// drained in the background so it never blocks on a full pipe.
async fn start(dir: &Path, master_key: &str) -> (Child, u16) {
    let mut child = Command::new(BIN)
        .env_clear()
        .current_dir(dir)
        .env("STORELINK_BIND", "127.0.0.1:0")
        .env("STORELINK_DATABASE_URL", "sqlite://crash.db")
        .env("STORELINK_MASTER_KEY", master_key)
        .env("RUST_LOG", "storelink=info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let (port_tx, port_rx) = tokio::sync::oneshot::channel();
    let stderr = child.stderr.take().unwrap();
    tokio::spawn(async move {
        let mut port_tx = Some(port_tx);
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.split("address=127.0.0.1:").nth(1) {
                let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
                if let (Some(tx), Ok(port)) = (port_tx.take(), port.parse::<u16>()) {
                    let _ = tx.send(port);
                }
            }
        }
    });
    let port = tokio::time::timeout(Duration::from_secs(30), port_rx)
        .await
        .expect("the binary starts listening")
        .expect("a port in the log");
    (child, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_event_survives_a_sigkill_mid_flood() {
    // Setup: the schema, an install and its webhook key, written through the library under the
    // master key the binary will run with.
    let dir = tempfile::tempdir().unwrap();
    let master_key = MasterKey::generate_base64();
    let keyring = Keyring::new(MasterKey::from_base64(&master_key).unwrap());
    let database_url = format!("sqlite://{}", dir.path().join("crash.db").display());
    let pool = db::connect(&database_url).await.unwrap();
    db::migrate(&pool).await.unwrap();
    let install_id = installs::save(
        &pool,
        &keyring,
        &NewInstall {
            platform: Platform::Maropost,
            account_id: "crash-store",
            store_domain: Some("crash.example.com"),
            store_name: None,
            timezone: None,
            scope: None,
            user: InstallingUser::default(),
            billing_address: None,
            initiated_by: Initiator::Storelink,
            access_token: b"token",
        },
        0,
    )
    .await
    .unwrap()
    .id;
    webhooks::set_webhook_key(&pool, &keyring, &install_id, KEY, "system", 0)
        .await
        .unwrap();
    pool.close().await;
    let (mut child, port) = start(dir.path(), master_key.expose_secret()).await;

    // Exec: a flood of events (some of them repeats) from many connections...
    let url = format!("http://127.0.0.1:{port}/webhooks/maropost/{install_id}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let acknowledged = Arc::new(Mutex::new(Vec::<u64>::new()));
    let failed_after_kill = Arc::new(AtomicU64::new(0));
    let killed = Arc::new(AtomicBool::new(false));
    let next_id = Arc::new(AtomicU64::new(1));
    let senders: Vec<_> = (0..SENDERS)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            let (acknowledged, failed_after_kill, killed, next_id) = (
                acknowledged.clone(),
                failed_after_kill.clone(),
                killed.clone(),
                next_id.clone(),
            );
            tokio::spawn(async move {
                let mut sent = 0u64;
                // Each sender posts until a request fails, which only the kill may cause: so
                // every sender has a request cut off by it.
                loop {
                    let fresh = next_id.fetch_add(1, Ordering::SeqCst);
                    // One in eight is a retry of an earlier event.
                    sent += 1;
                    let id = if sent.is_multiple_of(8) && fresh > 10 {
                        fresh - 10
                    } else {
                        fresh
                    };
                    let response = client
                        .post(&url)
                        .header("NETOAPI_KEY", KEY)
                        .header("NETO_NOTIFICATION", "Order")
                        .body(event_xml(&id.to_string(), "Pick"))
                        .send()
                        .await;
                    match response {
                        Ok(r) if r.status() == 200 => acknowledged.lock().unwrap().push(id),
                        Ok(r) => panic!("unexpected answer {}", r.status()),
                        Err(_) if killed.load(Ordering::SeqCst) => {
                            failed_after_kill.fetch_add(1, Ordering::SeqCst);
                            break;
                        }
                        Err(e) => panic!("request failed before the kill: {e}"),
                    }
                }
            })
        })
        .collect();

    // ... killed mid-flood, with requests in flight.
    let deadline = Instant::now() + Duration::from_secs(120);
    while acknowledged.lock().unwrap().len() < KILL_AFTER {
        assert!(Instant::now() < deadline, "the flood is too slow");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    killed.store(true, Ordering::SeqCst);
    child.start_kill().unwrap(); // SIGKILL
    let status = child.wait().await.unwrap();
    assert!(!status.success(), "killed, not exited: {status:?}");
    for sender in senders {
        sender.await.unwrap();
    }
    let acknowledged: HashSet<u64> = acknowledged.lock().unwrap().iter().copied().collect();

    // Check: it starts again (recovering the WAL), and every acknowledged event is there.
    let (mut child, port) = start(dir.path(), master_key.expose_secret()).await;
    let pool = db::connect(&database_url).await.unwrap();
    let stored: Vec<String> = sqlx::query_scalar("SELECT event_id FROM events")
        .fetch_all(&pool)
        .await
        .unwrap();
    let stored: HashSet<u64> = stored.iter().map(|id| id.parse().unwrap()).collect();
    let missing: Vec<&u64> = acknowledged.difference(&stored).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged events lost after SIGKILL, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    // Some of the acknowledged requests were repeats.
    assert!(acknowledged.len() >= KILL_AFTER / 2);
    assert_eq!(
        failed_after_kill.load(Ordering::SeqCst),
        SENDERS,
        "the kill cut a request of every sender off"
    );
    eprintln!(
        "crash test: {} acknowledged, {} stored, {} requests cut off by the kill",
        acknowledged.len(),
        stored.len(),
        failed_after_kill.load(Ordering::SeqCst)
    );

    // And it takes events again.
    let response = client
        .post(format!(
            "http://127.0.0.1:{port}/webhooks/maropost/{install_id}"
        ))
        .header("NETOAPI_KEY", KEY)
        .body(event_xml("999999999", "Dispatched"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    pool.close().await;
    child.start_kill().unwrap();
    let _ = child.wait().await;
}
