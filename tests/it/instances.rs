//! Two real `storelink` processes on one PostgreSQL database, as two instances behind a load
//! balancer: what one instance does, the other sees at once, and no guarantee rests on memory
//! of one process. An install made through A is listed and revoked through B, and A then
//! answers its webhooks `410`; twenty Test connections split over A and B on an expiring
//! bol.com token spend its refresh token once; failed logins through both lock the account;
//! and when A is killed mid-flood every event either acknowledged is stored and B kept
//! answering; an API key revoked through B is refused by A from the next request.
//!
//! They run when the suite does on PostgreSQL (`STORELINK_TEST_BACKEND=postgres`, as
//! `scripts/test`'s second pass); on SQLite they pass without doing anything (one process
//! writes a SQLite file).

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use secrecy::{ExposeSecret as _, SecretString};
use storelink::{
    clock::{Clock as _, ManualClock, SystemClock},
    crypto::{Keyring, MasterKey},
    db::{
        self, Db,
        installs::{self, NewInstall},
        operators,
    },
    domain::{Initiator, InstallingUser, Platform},
    password,
    platforms::kit::webhook_keys as webhooks,
};
use url::Url;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path},
};

use crate::{
    bol::{RETAILER, TokenIssuer},
    database::{FreshDatabase, on_postgres},
    helpers::{
        AUTHORIZE_PATH, BOL_API_PATH, BOL_AUTHORIZE_PATH, BOL_CLIENT_ID, BOL_CLIENT_SECRET,
        BOL_TOKEN_PATH, CLIENT_ID, CLIENT_SECRET, TOKEN_PATH, browser, location, start_binary,
        token_answer,
    },
    operator::{ConsoleSession, EMAIL, PASSWORD, login_attempt},
    webhooks::{KEY, event_xml},
};

/// One running instance: its base URL, the process, and its log so far (for failures).
struct Instance {
    base: Url,
    child: tokio::process::Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Instance {
    fn url(&self, path: &str) -> Url {
        self.base.join(path).unwrap()
    }

    /// The last lines it logged, to show when an assertion about it fails.
    fn tail(&self) -> String {
        let log = self.log.lock().unwrap();
        log[log.len().saturating_sub(30)..].join("\n")
    }
}

/// Instances A and B on one fresh PostgreSQL database, with a stand-in Maropost and bol.com.
struct Pair {
    a: Instance,
    b: Instance,
    stand_in: MockServer,
    /// The test's own pool on the shared database.
    db: Db,
    keyring: Keyring,
    _dir: tempfile::TempDir,
    /// Last: the database goes after the processes.
    _database: FreshDatabase,
}

impl Pair {
    /// Starts A and B at once (both migrate the empty database at start-up: one does, the other
    /// waits), and adds the operator. `None` when the suite is not on PostgreSQL.
    async fn start() -> Option<Self> {
        if !on_postgres() {
            eprintln!("two-instance tests run on PostgreSQL only (STORELINK_TEST_BACKEND)");
            return None;
        }
        let database = FreshDatabase::create().await?;
        let stand_in = MockServer::start().await;
        let dir = tempfile::tempdir().unwrap();
        let master_key = MasterKey::generate_base64();
        let at = |path: &str| format!("{}{path}", stand_in.uri());
        // What must match on every instance: the database, the master key, the platforms.
        let vars: Vec<(&str, String)> = vec![
            ("STORELINK_DATABASE_URL", database.url.clone()),
            (
                "STORELINK_MASTER_KEY",
                master_key.expose_secret().to_owned(),
            ),
            ("STORELINK_SANDBOX", "off".into()),
            ("STORELINK_ALLOW_PRIVATE_ENDPOINTS", "on".into()),
            ("MAROPOST_CLIENT_ID", CLIENT_ID.into()),
            ("MAROPOST_CLIENT_SECRET", CLIENT_SECRET.into()),
            ("MAROPOST_AUTHORIZE_URL", at(AUTHORIZE_PATH)),
            ("MAROPOST_TOKEN_URL", at(TOKEN_PATH)),
            ("BOL_CLIENT_ID", BOL_CLIENT_ID.into()),
            ("BOL_CLIENT_SECRET", BOL_CLIENT_SECRET.into()),
            ("BOL_AUTHORIZE_URL", at(BOL_AUTHORIZE_PATH)),
            ("BOL_TOKEN_URL", at(BOL_TOKEN_PATH)),
            ("BOL_API_URL", at(BOL_API_PATH)),
        ];
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (a, b) = tokio::join!(
            start_binary(dir.path(), &vars),
            start_binary(dir.path(), &vars)
        );
        let db = db::connect(&database.url).await.unwrap();
        let hash = password::hash(&SecretString::from(PASSWORD)).unwrap();
        operators::add(&db, EMAIL, &hash, SystemClock.unix())
            .await
            .unwrap();
        Some(Self {
            a: instance(a),
            b: instance(b),
            stand_in,
            db,
            keyring: Keyring::new(MasterKey::from_base64(&master_key).unwrap()),
            _dir: dir,
            _database: database,
        })
    }
}

/// Keeps reading the process's log, so a full pipe never stalls it.
fn instance(running: crate::helpers::RunningBinary) -> Instance {
    let base = Url::parse(&format!("http://localhost:{}/", running.port)).unwrap();
    let log = Arc::new(Mutex::new(
        running.log.lines().map(str::to_owned).collect::<Vec<_>>(),
    ));
    let mut lines = running.lines;
    let kept = log.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            let mut kept = kept.lock().unwrap();
            if kept.len() >= 1000 {
                kept.drain(..500);
            }
            kept.push(line);
        }
    });
    Instance {
        base,
        child: running.child,
        log,
    }
}

impl Pair {
    /// A Maropost install whose webhook key is [`KEY`], stored through the library.
    async fn webhook_install(&self, account: &str) -> String {
        let install_id = installs::save(
            &self.db,
            &self.keyring,
            &NewInstall {
                platform: Platform::Maropost,
                account_id: account,
                store_domain: Some("flood.example.com"),
                store_name: None,
                timezone: None,
                scope: None,
                user: InstallingUser::default(),
                billing_address: None,
                initiated_by: Initiator::Storelink,
                access_token: b"token",
            },
            SystemClock.unix(),
        )
        .await
        .unwrap()
        .id;
        webhooks::set_webhook_key(&self.db, &self.keyring, &install_id, KEY, "system", 0)
            .await
            .unwrap();
        install_id
    }
}

/// One login attempt through `instance` in `browser`; the answer's status.
async fn login(browser: &reqwest::Client, instance: &Instance, password: &str) -> u16 {
    login_attempt(&instance.base, browser, EMAIL, password)
        .await
        .status()
        .as_u16()
}

/// The page at `path` through `instance`, which must answer 200.
async fn page(browser: &reqwest::Client, instance: &Instance, path: &str) -> String {
    let response = browser.get(instance.url(path)).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}\n{}", instance.tail());
    response.text().await.unwrap()
}

/// Posts a Maropost order notification for `install_id` to `instance`; the answer's status.
async fn notify(client: &reqwest::Client, instance: &Instance, install_id: &str, id: u64) -> u16 {
    client
        .post(instance.url(&format!("/webhooks/maropost/{install_id}")))
        .header("NETOAPI_KEY", KEY)
        .header("NETO_NOTIFICATION", "Order")
        .body(event_xml(&id.to_string(), "Pick"))
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}

#[tokio::test]
async fn an_install_through_a_is_listed_and_revoked_through_b_then_a_answers_410() {
    let Some(pair) = Pair::start().await else {
        return;
    };
    // The merchant starts the install through A.
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_answer(
            "s1",
            "shared.example.com",
            "token-1",
        )))
        .mount(&pair.stand_in)
        .await;
    let merchant = browser();
    let start = merchant
        .get(pair.a.url("/install/maropost"))
        .query(&[("store_domain", "shared.example.com")])
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 303, "{}", pair.a.tail());
    let authorize = Url::parse(&location(&start)).unwrap();
    let state: HashMap<String, String> = authorize.query_pairs().into_owned().collect();
    // The platform sends the merchant back through the load balancer, to B this time: the
    // flow (its state, the sealed PKCE verifier, the browser it belongs to) is in the database.
    let done = merchant
        .get(pair.b.url("/oauth/maropost/callback"))
        .query(&[("code", "code-1"), ("state", state["state"].as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303, "{}", pair.b.tail());
    assert_eq!(location(&done), "/installed");
    let id: String = sqlx::query_scalar("SELECT id FROM installs")
        .fetch_one(&pair.db)
        .await
        .unwrap();

    // The operator logs in on A; the session holds on B (the cookie names no port), which
    // lists the store and takes its webhook key.
    let mut operator = ConsoleSession::log_in(&pair.a.base, EMAIL, PASSWORD)
        .await
        .at(&pair.b.base);
    let list = page(&operator.client, &pair.b, "/console").await;
    assert!(list.contains("shared.example.com"), "{list}");
    let detail = page(
        &operator.client,
        &pair.b,
        &format!("/console/installs/{id}"),
    )
    .await;
    operator.refresh_csrf(&detail);
    let set = operator
        .post_form(
            &format!("/console/installs/{id}/webhook-key"),
            &[("webhook_key", KEY)],
        )
        .await;
    assert_eq!(set.status(), 303, "{}", pair.b.tail());

    // A takes the store's notifications (and now remembers its key)...
    let client = reqwest::Client::new();
    assert_eq!(notify(&client, &pair.a, &id, 1).await, 200);
    assert_eq!(notify(&client, &pair.a, &id, 2).await, 200);

    // ...B revokes it...
    let confirm = page(
        &operator.client,
        &pair.b,
        &format!("/console/installs/{id}/revoke"),
    )
    .await;
    operator.refresh_csrf(&confirm);
    let revoked = operator
        .post_form(&format!("/console/installs/{id}/revoke"), &[])
        .await;
    assert_eq!(revoked.status(), 303, "{}", pair.b.tail());

    // ...and A refuses the next one at once: nothing it remembered outlives the revoke.
    assert_eq!(
        notify(&client, &pair.a, &id, 3).await,
        410,
        "{}",
        pair.a.tail()
    );
    let stored: Vec<String> = sqlx::query_scalar("SELECT event_id FROM events ORDER BY id")
        .fetch_all(&pair.db)
        .await
        .unwrap();
    assert_eq!(stored, ["1", "2"]);
    let status: String = sqlx::query_scalar("SELECT status FROM installs WHERE id = $1")
        .bind(&id)
        .fetch_one(&pair.db)
        .await
        .unwrap();
    assert_eq!(status, "revoked");
}

#[tokio::test]
async fn twenty_test_connections_over_a_and_b_refresh_an_expiring_bol_token_once() {
    let Some(pair) = Pair::start().await else {
        return;
    };
    // Connected through A with a token that lives 30 s: inside the minute before expiry in
    // which storelink renews, so the first use must refresh.
    let issuer = |lifetime: i64, delay: Duration| TokenIssuer {
        clock: ManualClock::new(),
        lifetime,
        issued: Arc::new(AtomicUsize::new(0)),
        delay,
        rotate: true,
        account: RETAILER.to_owned(),
    };
    let first = Mock::given(method("POST"))
        .and(path(BOL_TOKEN_PATH))
        .respond_with(issuer(30, Duration::ZERO))
        .mount_as_scoped(&pair.stand_in)
        .await;
    let merchant = browser();
    let start = merchant
        .post(pair.a.url("/install/bol"))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 303, "{}", pair.a.tail());
    let authorize = Url::parse(&location(&start)).unwrap();
    let query: HashMap<String, String> = authorize.query_pairs().into_owned().collect();
    let done = merchant
        .get(pair.a.url("/oauth/bol/callback"))
        .query(&[("code", "the-code"), ("state", query["state"].as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&done), "/installed", "{}", pair.a.tail());
    drop(first);
    let id: String = sqlx::query_scalar("SELECT id FROM installs WHERE provider = 'bol'")
        .fetch_one(&pair.db)
        .await
        .unwrap();

    // From now on the token endpoint is slow (so the callers meet) and issues hour-long tokens.
    let renewals = issuer(3600, Duration::from_millis(300));
    let issued = renewals.issued.clone();
    Mock::given(method("POST"))
        .and(path(BOL_TOKEN_PATH))
        .respond_with(renewals)
        .mount(&pair.stand_in)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{BOL_API_PATH}/orders")))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/vnd.retailer.v10+json")
                .set_body_json(serde_json::json!({"orders": [{"orderId": "A1"}]})),
        )
        .mount(&pair.stand_in)
        .await;

    // Twenty Test connections at once, every other one through B.
    let mut operator = ConsoleSession::log_in(&pair.a.base, EMAIL, PASSWORD).await;
    let detail = page(
        &operator.client,
        &pair.b,
        &format!("/console/installs/{id}"),
    )
    .await;
    operator.refresh_csrf(&detail);
    let on_b = operator.at(&pair.b.base);
    let test = format!("/console/installs/{id}/test");
    let tests = (0..20).map(|n| {
        let through = if n % 2 == 0 { &operator } else { &on_b };
        through.post_form(&test, &[])
    });
    for answer in futures::future::join_all(tests).await {
        assert_eq!(answer.status(), 303);
    }

    // One refresh request, with the refresh token the connection got; every test passed.
    let refreshes: Vec<HashMap<String, String>> = pair
        .stand_in
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == BOL_TOKEN_PATH)
        .map(|r| url::form_urlencoded::parse(&r.body).into_owned().collect())
        .filter(|form: &HashMap<String, String>| form["grant_type"] == "refresh_token")
        .collect();
    assert_eq!(refreshes.len(), 1, "{refreshes:?}");
    assert_eq!(refreshes[0]["refresh_token"], "rt-1");
    assert_eq!(issued.load(Ordering::SeqCst), 1);
    let results: Vec<String> = sqlx::query_scalar(
        "SELECT detail FROM audit_log WHERE install_id = $1 AND action = 'test_connection'",
    )
    .bind(&id)
    .fetch_all(&pair.db)
    .await
    .unwrap();
    assert_eq!(results.len(), 20);
    assert!(
        results.iter().all(|r| r.starts_with("passed")),
        "{results:?}"
    );
}

#[tokio::test]
async fn failed_logins_through_both_instances_lock_the_account() {
    let Some(pair) = Pair::start().await else {
        return;
    };
    // Ten failures, alternating between the instances (the threshold is ten per account).
    for n in 0..10 {
        let instance = if n % 2 == 0 { &pair.a } else { &pair.b };
        let status = login(&browser(), instance, &format!("wrong password {n}")).await;
        assert_eq!(status, 401, "failure {n}");
    }
    // Locked on both, even for the right password.
    assert_eq!(login(&browser(), &pair.a, PASSWORD).await, 429);
    assert_eq!(login(&browser(), &pair.b, PASSWORD).await, 429);
    let failures: i64 =
        sqlx::query_scalar("SELECT failures FROM login_throttle WHERE subject LIKE 'account:%'")
            .fetch_one(&pair.db)
            .await
            .unwrap();
    assert_eq!(failures, 10);
}

/// Senders per instance in the flood.
const SENDERS: usize = 12;
/// Acknowledged events (over both instances) before A is killed.
const KILL_AFTER: usize = 1500;
/// Events B must still acknowledge after the kill.
const AFTER_KILL: usize = 500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_instance_mid_flood_loses_no_acknowledged_event_and_the_other_keeps_answering()
{
    let Some(mut pair) = Pair::start().await else {
        return;
    };
    let install_id = pair.webhook_install("flood-store").await;

    // A flood through both, each event id once; senders to A stop at their first failure,
    // which only the kill may cause; senders to B must never fail.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let acknowledged = Arc::new(Mutex::new(Vec::<u64>::new()));
    let acknowledged_by_b_after_kill = Arc::new(AtomicUsize::new(0));
    let killed = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let next_id = Arc::new(std::sync::atomic::AtomicU64::new(1));
    let mut senders = Vec::new();
    for (name, instance) in [("a", &pair.a), ("b", &pair.b)] {
        for _ in 0..SENDERS {
            let url = instance.url(&format!("/webhooks/maropost/{install_id}"));
            let client = client.clone();
            let (acknowledged, after_kill, killed, done, next_id) = (
                acknowledged.clone(),
                acknowledged_by_b_after_kill.clone(),
                killed.clone(),
                done.clone(),
                next_id.clone(),
            );
            senders.push(tokio::spawn(async move {
                while !done.load(Ordering::SeqCst) {
                    let id = next_id.fetch_add(1, Ordering::SeqCst);
                    let killed_before = killed.load(Ordering::SeqCst);
                    let answer = client
                        .post(url.clone())
                        .header("NETOAPI_KEY", KEY)
                        .header("NETO_NOTIFICATION", "Order")
                        .body(event_xml(&id.to_string(), "Pick"))
                        .send()
                        .await;
                    match answer {
                        Ok(r) if r.status() == 200 => {
                            acknowledged.lock().unwrap().push(id);
                            if name == "b" && killed_before {
                                after_kill.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                        Ok(r) => panic!("{name} answered {}", r.status()),
                        Err(_) if name == "a" && killed.load(Ordering::SeqCst) => break,
                        Err(e) => panic!("a request to {name} failed: {e}"),
                    }
                }
            }));
        }
    }

    let deadline = Instant::now() + Duration::from_secs(120);
    while acknowledged.lock().unwrap().len() < KILL_AFTER {
        assert!(Instant::now() < deadline, "the flood is too slow");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    killed.store(true, Ordering::SeqCst);
    pair.a.child.start_kill().unwrap(); // SIGKILL
    let status = pair.a.child.wait().await.unwrap();
    assert!(!status.success(), "killed, not exited: {status:?}");
    while acknowledged_by_b_after_kill.load(Ordering::SeqCst) < AFTER_KILL {
        assert!(
            Instant::now() < deadline,
            "B stopped answering:\n{}",
            pair.b.tail()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    done.store(true, Ordering::SeqCst);
    for sender in senders {
        sender.await.unwrap();
    }

    // Every acknowledged event is stored, once.
    let acknowledged: HashSet<String> = acknowledged
        .lock()
        .unwrap()
        .iter()
        .map(u64::to_string)
        .collect();
    let stored: Vec<String> = sqlx::query_scalar("SELECT event_id FROM events")
        .fetch_all(&pair.db)
        .await
        .unwrap();
    let stored_set: HashSet<String> = stored.iter().cloned().collect();
    assert_eq!(stored.len(), stored_set.len(), "no event stored twice");
    let lost: Vec<&String> = acknowledged.difference(&stored_set).collect();
    assert!(lost.is_empty(), "{} acknowledged events lost", lost.len());
    assert!(acknowledged.len() >= KILL_AFTER + AFTER_KILL);
    // B is still ready.
    let ready = client.get(pair.b.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_instances_deliver_notifications_and_none_is_sent_twice() {
    let Some(pair) = Pair::start().await else {
        return;
    };
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    storelink::db::endpoints::add(
        &pair.db,
        &pair.keyring,
        &format!("{}/storelink", receiver.uri()),
        &storelink::db::endpoints::Subscription::Only(vec![
            storelink::domain::EventType::OrderStatusChanged,
        ]),
        storelink::domain::EndpointLimits::default(),
        true,
        "test",
        SystemClock.unix(),
    )
    .await
    .unwrap();
    let install_id = pair.webhook_install("notified-store").await;

    // Order events through both instances; both run the notification worker.
    const EVENTS: u64 = 1000;
    let client = reqwest::Client::new();
    let posts = (1..=EVENTS).map(|n| {
        let instance = if n % 2 == 0 { &pair.a } else { &pair.b };
        notify(&client, instance, &install_id, n)
    });
    let answers = futures::future::join_all(posts).await;
    assert!(answers.iter().all(|status| *status == 200), "{answers:?}");

    // Each event reaches the receiver once, under one webhook-id, whichever worker sent it.
    let delivered = || async {
        receiver
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .map(|r| {
                let id = r
                    .headers
                    .get("webhook-id")
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned();
                let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
                (id, body["data"]["event_id"].as_str().unwrap().to_owned())
            })
            .collect::<Vec<(String, String)>>()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while delivered().await.len() < EVENTS as usize {
        assert!(
            Instant::now() < deadline,
            "{} delivered",
            delivered().await.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A while longer, so a second sending of anything would have arrived.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = delivered().await;
    let ids: HashSet<&String> = got.iter().map(|(id, _)| id).collect();
    let events: HashSet<&String> = got.iter().map(|(_, event)| event).collect();
    assert_eq!(got.len(), EVENTS as usize, "nothing sent twice");
    assert_eq!(ids.len(), got.len());
    assert_eq!(events.len(), got.len(), "one message per event");
}

#[tokio::test]
async fn a_key_revoked_through_b_is_refused_by_a_at_once() {
    let Some(pair) = Pair::start().await else {
        return;
    };
    let id = pair.webhook_install("keyed").await;
    let secret = storelink::domain::api_key::ApiKeySecret::generate();
    let key = storelink::db::api_keys::create(
        &pair.db,
        "backend",
        &secret.hash(),
        &secret.shown_prefix(),
        "test",
        SystemClock.unix(),
    )
    .await
    .unwrap();
    let client = reqwest::Client::new();
    let token = |instance: &Instance| {
        client
            .post(instance.url(&format!("/api/v1/installs/{id}/access-token")))
            .bearer_auth(secret.expose())
            .send()
    };
    // A serves the token (reading the key in the query that reads the install)...
    assert_eq!(
        token(&pair.a).await.unwrap().status(),
        200,
        "{}",
        pair.a.tail()
    );
    // ...an operator revokes the key through B...
    let mut operator = ConsoleSession::log_in(&pair.b.base, EMAIL, PASSWORD).await;
    let confirm = page(
        &operator.client,
        &pair.b,
        &format!("/console/api-keys/{}/revoke", key.id),
    )
    .await;
    operator.refresh_csrf(&confirm);
    let revoked = operator
        .post_form(&format!("/console/api-keys/{}/revoke", key.id), &[])
        .await;
    assert_eq!(revoked.status(), 303, "{}", pair.b.tail());
    // ...and A refuses the next request at once, the token and every other endpoint alike.
    assert_eq!(token(&pair.a).await.unwrap().status(), 401);
    let list = client
        .get(pair.a.url("/api/v1/installs"))
        .bearer_auth(secret.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 401);
}
