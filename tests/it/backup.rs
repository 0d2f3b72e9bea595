//! `storelink backup PATH`: a copy of the live SQLite database taken during a flood of webhook
//! events holds every event acknowledged before it began, while the server keeps answering; the
//! copy is private, opens with storelink, and is never overwritten; PostgreSQL is refused.

use std::{
    collections::HashSet,
    process::Stdio,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use secrecy::ExposeSecret as _;

use crate::webhooks::{self, Hook, KEY, event_xml};

const BIN: &str = env!("CARGO_BIN_EXE_storelink");
/// Concurrent senders of the flood.
const SENDERS: u64 = 16;
/// Events stored before the flood, so the copy takes a while.
const EARLIER_EVENTS: i64 = 30_000;

/// `storelink backup PATH` (or `args`) with only `vars` in its environment, in `dir`.
fn storelink(dir: &std::path::Path, vars: &[(&str, &str)]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(BIN);
    command
        .env_clear()
        .envs(vars.iter().copied())
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// What the flood saw.
#[derive(Default)]
struct Flood {
    /// Event ids answered 200, with when the answer came.
    acked: Mutex<Vec<(String, Instant)>>,
    /// Answers other than 200 (or no answer).
    refused: AtomicU64,
    /// The slowest answer, in microseconds.
    slowest_us: AtomicU64,
}

/// Posts distinct events back to back from [`SENDERS`] tasks until `stop`.
fn flood(hook: &Hook, stop: Arc<AtomicBool>) -> (Arc<Flood>, Vec<tokio::task::JoinHandle<()>>) {
    let seen = Arc::new(Flood::default());
    let tasks = (0..SENDERS)
        .map(|sender| {
            let (client, url, stop, seen) = (
                hook.client.clone(),
                hook.hook_url(&hook.install_id),
                stop.clone(),
                seen.clone(),
            );
            tokio::spawn(async move {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let event_id = format!("{}", 1_000_000 + sender * 1_000_000 + n);
                    let started = Instant::now();
                    let answer = client
                        .post(url.clone())
                        .header("NETO_NOTIFICATION", "Order")
                        .header("NETOAPI_KEY", KEY)
                        .header("Content-Type", "application/xml")
                        .body(event_xml(&event_id, "Pick"))
                        .send()
                        .await;
                    let took = started.elapsed().as_micros() as u64;
                    seen.slowest_us.fetch_max(took, Ordering::Relaxed);
                    match answer {
                        Ok(r) if r.status() == 200 => {
                            seen.acked.lock().unwrap().push((event_id, Instant::now()));
                        }
                        _ => {
                            seen.refused.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    (seen, tasks)
}

/// The event ids stored in the SQLite file at `path`, read without changing it.
async fn stored_event_ids(path: &std::path::Path) -> HashSet<String> {
    use sqlx::Connection as _;
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .read_only(true);
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap();
    let ids: Vec<String> = sqlx::query_scalar("SELECT event_id FROM events")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    ids.into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_during_a_webhook_flood_holds_every_acknowledged_event_and_the_server_keeps_serving()
 {
    // Setup: the app on SQLite with one install, many earlier events, and a flood of new ones.
    let hook = webhooks::spawn_on(storelink::db::BUSY_TIMEOUT, true).await;
    sqlx::query(
        "INSERT INTO events (install_id, event_id, event_type, received_at, raw_body)
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $2)
         SELECT $1, 'earlier-' || i, 'Order', 0, printf('%.500c', 'x') FROM n",
    )
    .bind(&hook.install_id)
    .bind(EARLIER_EVENTS)
    .execute(&hook.db)
    .await
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (seen, senders) = flood(&hook, stop.clone());
    while seen.acked.lock().unwrap().len() < 300 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Exec: back up while the flood goes on.
    let copy = hook.dir.path().join("backup.db");
    let database_url = hook.database_url.clone();
    let vars = [("STORELINK_DATABASE_URL", database_url.as_str())];
    let acked_before: HashSet<String> = seen
        .acked
        .lock()
        .unwrap()
        .iter()
        .map(|(id, _)| id.clone())
        .collect();
    let began = Instant::now();
    let output = storelink(hook.dir.path(), &vars)
        .arg("backup")
        .arg(&copy)
        .output()
        .await
        .unwrap();
    let ended = Instant::now();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    for sender in senders {
        sender.await.unwrap();
    }

    // Check: the backup succeeded and said what it must.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("master key is not in the backup"),
        "{stdout}"
    );
    assert!(stdout.contains("To restore: stop storelink"), "{stdout}");
    assert!(
        stdout.contains("-wal"),
        "restoring removes the old WAL: {stdout}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the copy is private");
    }
    // Every event acknowledged before the backup began is in the copy, and so are the earlier ones.
    let in_copy = stored_event_ids(&copy).await;
    let missing: Vec<&String> = acked_before.difference(&in_copy).collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not in the copy: {missing:?}"
    );
    assert!(
        in_copy.contains("earlier-1") && in_copy.contains(&format!("earlier-{EARLIER_EVENTS}"))
    );
    // The server kept serving: no refusals, and events were acknowledged while the copy ran.
    assert_eq!(
        seen.refused.load(Ordering::Relaxed),
        0,
        "every event was answered 200"
    );
    let acked = seen.acked.lock().unwrap().clone();
    let during = acked
        .iter()
        .filter(|(_, at)| *at > began && *at < ended)
        .count();
    assert!(
        during > 0,
        "events were acknowledged during the backup ({:?})",
        ended - began
    );
    eprintln!(
        "backup took {:?}; {during} events acknowledged meanwhile; slowest answer {} ms",
        ended - began,
        seen.slowest_us.load(Ordering::Relaxed) / 1000
    );
    // The live database holds every acknowledged event.
    let live = hook.events().await;
    assert!(live >= EARLIER_EVENTS + acked.len() as i64);

    // A second backup to the same file is refused and leaves it as it was.
    let size = std::fs::metadata(&copy).unwrap().len();
    let again = storelink(hook.dir.path(), &vars)
        .arg("backup")
        .arg(&copy)
        .output()
        .await
        .unwrap();
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("exists") && stderr.contains("never overwrites"),
        "{stderr}"
    );
    assert_eq!(std::fs::metadata(&copy).unwrap().len(), size);

    // The copy opens with storelink, under the same master key.
    let copy_url = format!("sqlite://{}", copy.display());
    let mut running = crate::helpers::start_binary(
        hook.dir.path(),
        &[
            ("STORELINK_DATABASE_URL", copy_url.as_str()),
            ("STORELINK_MASTER_KEY", hook.master_key.expose_secret()),
        ],
    )
    .await;
    let ready = reqwest::get(format!("http://127.0.0.1:{}/readyz", running.port))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    running.child.kill().await.unwrap();
}

#[tokio::test]
async fn a_backup_on_postgresql_is_refused_naming_pg_dump_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let output = storelink(
        dir.path(),
        &[(
            "STORELINK_DATABASE_URL",
            "postgres://app:hunter2@127.0.0.1:5432/storelink",
        )],
    )
    .args(["backup", "copy.db"])
    .output()
    .await
    .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("pg_dump"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "no password shown: {stderr}");
    assert!(!dir.path().join("copy.db").exists());
}

#[tokio::test]
async fn a_backup_without_a_database_is_refused_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let output = storelink(
        dir.path(),
        &[("STORELINK_DATABASE_URL", "sqlite://none.db")],
    )
    .args(["backup", "copy.db"])
    .output()
    .await
    .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no database at"), "{stderr}");
    assert!(!dir.path().join("copy.db").exists());
    assert!(!dir.path().join("none.db").exists(), "nothing created");
}
