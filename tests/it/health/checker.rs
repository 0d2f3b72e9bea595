//! The checker's schedule: installs are checked spread over the interval (not all at start-up),
//! each once per interval; with two instances on one database, still once per interval, not
//! once per instance; and an instance killed mid-check loses nothing: its claim runs out and
//! the other instance checks the install.
//!
//! The instances run in this process on the test's clock, which the tests move; the second is
//! built from the same settings on the same database (PostgreSQL in the suite's second pass).
//! An instance is killed by dropping the runtime it runs on: its tasks stop where they are, as
//! a process's do, with nothing cleaned up.

use std::{collections::HashMap, sync::Arc, time::Duration};

use storelink::{app::Application, clock::ManualClock, config::Settings, state::AppState};
use wiremock::{Request, Respond};

use super::*;

/// The interval of these tests, in seconds.
const INTERVAL: i64 = 600;

async fn spawn_checking() -> Notified {
    spawn_health(
        Some(Duration::from_secs(INTERVAL as u64)),
        Duration::from_secs(5),
    )
    .await
}

/// The store ids the stand-in Maropost API was asked about, with how often (each install's
/// check asks for its own store's orders with its own token).
async fn checks_by_token(app: &TestApp) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for request in app.requests_to(&maropost_api()).await {
        let token = crate::bol::header(&request, "x_secret_key");
        *seen.entry(token).or_default() += 1;
    }
    seen
}

/// Waits until the stand-in got `n` API calls in all (and a little more, to see no more come).
async fn wait_for_checks(app: &TestApp, n: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while app.maropost_api_calls().await < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {n} checks",
            app.maropost_api_calls().await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
}

/// `count` Maropost installs, each with its own token `token-{i}`.
async fn installs(app: &TestApp, count: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..count {
        let saved = storelink::db::installs::save(
            &app.db,
            &app.state.keyring,
            &storelink::db::installs::NewInstall {
                platform: storelink::domain::Platform::Maropost,
                account_id: &format!("S{i}"),
                store_domain: Some(DOMAIN),
                store_name: Some("Shop"),
                timezone: None,
                scope: None,
                user: Default::default(),
                billing_address: None,
                initiated_by: storelink::domain::Initiator::Storelink,
                access_token: format!("token-{i}").as_bytes(),
            },
            now(app),
        )
        .await
        .unwrap();
        ids.push(saved.id);
    }
    ids
}

/// When each install's next check is due.
async fn schedule(app: &TestApp) -> Vec<Option<i64>> {
    sqlx::query_scalar("SELECT next_check_at FROM install_health ORDER BY install_id")
        .fetch_all(&app.db)
        .await
        .unwrap()
}

/// Waits until every install has a check scheduled; returns when each is due.
async fn scheduled(app: &TestApp, count: usize) -> Vec<i64> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let due: Vec<i64> = schedule(app).await.into_iter().flatten().collect();
        if due.len() == count {
            return due;
        }
        assert!(tokio::time::Instant::now() < deadline, "{due:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn checks_spread_over_the_interval_and_come_once_per_interval() {
    let n = spawn_checking().await;
    let app = &n.app;
    app.maropost_api_answers(orders(0)).await;
    let start = now(app);
    let ids = installs(app, 40).await;

    // Each is first due at a random moment within the interval: not all at once.
    let due = scheduled(app, ids.len()).await;
    assert!(
        due.iter()
            .all(|at| (start + 1..=start + INTERVAL).contains(at)),
        "{start}: {due:?}"
    );
    let mut distinct = due.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(distinct.len() >= 20, "spread: {due:?}");
    let in_first_tenth = due
        .iter()
        .filter(|at| **at <= start + INTERVAL / 10)
        .count();
    assert!(in_first_tenth < 20, "no burst at start-up: {due:?}");

    // Half-way through the interval, those due by then have been checked.
    app.advance(INTERVAL / 2);
    let half = due.iter().filter(|at| **at <= start + INTERVAL / 2).count();
    wait_for_checks(app, half).await;
    assert_eq!(app.maropost_api_calls().await, half);

    // By the end of the interval, every install once.
    app.advance(INTERVAL / 2);
    wait_for_checks(app, ids.len()).await;
    let seen = checks_by_token(app).await;
    assert_eq!(seen.len(), ids.len());
    assert!(seen.values().all(|n| *n == 1), "{seen:?}");

    // And once more in the next interval: never more often.
    app.advance(INTERVAL);
    wait_for_checks(app, 2 * ids.len()).await;
    let seen = checks_by_token(app).await;
    assert!(seen.values().all(|n| *n == 2), "{seen:?}");
    for id in &ids {
        assert_eq!(app.health(id).await.last_ok_at, Some(now(app)));
    }
    // Working checks said nothing to the vendor's backend.
    n.still(ids.len()).await;
}

/// A second instance on the test app's database and clock, started in this runtime.
async fn second_instance(settings: &Settings, clock: &ManualClock) -> AppState {
    let app = Application::build(settings.clone(), Arc::new(clock.clone()))
        .await
        .unwrap();
    let state = app.state();
    tokio::spawn(app.run_until(std::future::pending()));
    state
}

#[tokio::test]
async fn two_instances_on_one_database_check_each_install_once_per_interval() {
    let n = spawn_checking().await;
    let app = &n.app;
    app.maropost_api_answers(orders(0)).await;
    let _b = second_instance(&app.settings, &app.clock).await;
    let ids = installs(app, 20).await;
    scheduled(app, ids.len()).await;

    for round in 1..=3 {
        app.advance(INTERVAL);
        wait_for_checks(app, round * ids.len()).await;
        let seen = checks_by_token(app).await;
        assert_eq!(seen.len(), ids.len());
        assert!(
            seen.values().all(|n| *n == round),
            "round {round}: {seen:?}"
        );
    }
}

/// The stand-in Maropost API: holds its first answer (the check in flight when its instance
/// dies), answers the others at once.
struct FirstHangs {
    seen: std::sync::atomic::AtomicUsize,
}

impl Respond for FirstHangs {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        let answer = orders(1);
        match self.seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
            0 => answer.set_delay(Duration::from_secs(30)),
            _ => answer,
        }
    }
}

/// An instance on its own runtime (as a process of its own would be), and the way to kill it.
struct Doomed {
    kill: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Doomed {
    fn start(settings: Settings, clock: ManualClock) -> Self {
        let (kill, killed) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let app = Application::build(settings, Arc::new(clock)).await.unwrap();
                tokio::spawn(app.run_until(std::future::pending()));
                let _ = killed.await;
            });
            // Every task stops where it is: no shutdown, no claim given back.
            runtime.shutdown_background();
        });
        Self { kill, thread }
    }

    fn kill(self) {
        let _ = self.kill.send(());
        self.thread.join().unwrap();
    }
}

#[tokio::test]
async fn an_instance_killed_mid_check_loses_nothing() {
    // The test app itself does not check: instance A does, then B.
    let n = spawn_health(None, Duration::from_secs(60)).await;
    let app = &n.app;
    app.maropost.reset().await;
    Mock::given(method("POST"))
        .and(path(maropost_api()))
        .respond_with(FirstHangs {
            seen: Default::default(),
        })
        .mount(&app.maropost)
        .await;
    let id = installs(app, 1).await.remove(0);
    let mut settings = app.settings.clone();
    settings.health.interval = Some(Duration::from_secs(INTERVAL as u64));
    settings.health.poll = Duration::from_millis(20);

    let a = Doomed::start(settings.clone(), app.clock.clone());
    scheduled(app, 1).await;
    app.advance(INTERVAL);
    wait_for_checks(app, 1).await;
    assert_eq!(app.health(&id).await.checked_at, None, "A's check hangs");
    a.kill();

    // B runs; the install is A's until A's claim runs out, then B checks it.
    let _b = second_instance(&settings, &app.clock).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(app.maropost_api_calls().await, 1, "A's claim holds");
    app.advance(121);
    wait_for_checks(app, 2).await;
    let health = app.health(&id).await;
    assert_eq!(health.checked_at, Some(now(app)));
    assert_eq!(health.last_ok_at, Some(now(app)));
    assert_eq!(app.maropost_api_calls().await, 2, "checked once by B");
}
