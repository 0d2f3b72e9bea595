//! `POST /webhooks/maropost/{install_id}`: every answer, each in its own test, plus concurrency,
//! a database that refuses writes, a crash mid-flood ([`crash`]) and a property test of the
//! parser ([`parser_props`]).

mod crash;
mod parser_props;

use std::{sync::Arc, time::Duration};

use storelink::{
    app::Application,
    clock::SystemClock,
    config::Settings,
    crypto::MasterKey,
    db::installs::{self, NewInstall},
    domain::{Initiator, InstallingUser, OrderStatus, Platform},
    platforms::kit::webhook_keys as webhooks,
    state::AppState,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use url::Url;

use crate::database::{TestDatabase, contains};

pub const KEY: &str = "maropost-api-key-3f9a1c77d2";
const MAX_BODY: usize = 256 * 1024;

/// The documented example, with `event_id` and `status` filled in.
pub fn event_xml(event_id: &str, status: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Event><CurrentTime>2024-01-03 01:11:12</CurrentTime>\
         <EventID>{event_id}</EventID><EventType>Order</EventType><Order><OrderID>N10154</OrderID>\
         <OrderStatus>{status}</OrderStatus></Order></Event>"
    )
}

pub struct Hook {
    pub base: Url,
    pub db: storelink::db::Db,
    pub state: AppState,
    pub database_url: String,
    /// The master key the app runs with (base64).
    pub master_key: secrecy::SecretString,
    /// An active Maropost install whose webhook key is [`KEY`].
    pub install_id: String,
    pub client: reqwest::Client,
    pub dir: tempfile::TempDir,
    /// Last, so a PostgreSQL database is dropped after everything else of the test.
    pub database: TestDatabase,
}

/// The app with one install whose webhook key is set.
async fn spawn() -> Hook {
    spawn_on(storelink::db::BUSY_TIMEOUT, false).await
}

/// With writers waiting at most `busy_timeout` for one another; on SQLite whatever the run's
/// backend if `sqlite_only`.
pub async fn spawn_on(busy_timeout: Duration, sqlite_only: bool) -> Hook {
    let dir = tempfile::tempdir().unwrap();
    let database = TestDatabase::create(dir.path(), sqlite_only).await;
    let database_url = database.url.clone();
    let mut settings = Settings::sandbox_defaults(database_url.clone());
    let master_key = MasterKey::generate_base64();
    settings.master_key = Some(master_key.clone());
    settings.busy_timeout = busy_timeout;
    let app = Application::build(settings, Arc::new(SystemClock))
        .await
        .expect("the app builds");
    let base = Url::parse(&format!("http://127.0.0.1:{}/", app.port())).unwrap();
    let state = app.state();
    tokio::spawn(app.run_until(std::future::pending()));
    let hook = Hook {
        base,
        db: state.db.clone(),
        state,
        database_url,
        master_key,
        install_id: String::new(),
        client: reqwest::Client::new(),
        dir,
        database,
    };
    let install_id = hook.add_install("s1", Some(KEY)).await;
    Hook { install_id, ..hook }
}

impl Hook {
    /// Stores a Maropost install for `store_id`, with `key` as its webhook key.
    pub async fn add_install(&self, store_id: &str, key: Option<&str>) -> String {
        let saved = installs::save(
            &self.db,
            &self.state.keyring,
            &NewInstall {
                platform: Platform::Maropost,
                account_id: store_id,
                store_domain: Some("shop.example.com"),
                store_name: Some("Shop"),
                timezone: None,
                scope: None,
                user: InstallingUser::default(),
                billing_address: None,
                initiated_by: Initiator::Storelink,
                access_token: b"access-token",
            },
            self.state.clock.unix(),
        )
        .await
        .unwrap();
        if let Some(key) = key {
            webhooks::set_webhook_key(&self.db, &self.state.keyring, &saved.id, key, "system", 0)
                .await
                .unwrap();
        }
        saved.id
    }

    pub fn hook_url(&self, install_id: &str) -> Url {
        self.base
            .join(&format!("/webhooks/maropost/{install_id}"))
            .unwrap()
    }

    /// Posts `body` for `install_id` with `key` (or no key).
    pub async fn post_as(
        &self,
        install_id: &str,
        key: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.hook_url(install_id))
            .header("NETO_NOTIFICATION", "Order")
            .header("Content-Type", "application/xml")
            .body(body);
        if let Some(key) = key {
            request = request.header("NETOAPI_KEY", key);
        }
        request.send().await.unwrap()
    }

    /// Posts `body` to this install with the right key.
    pub async fn post(&self, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.post_as(&self.install_id, Some(KEY), body).await
    }

    pub async fn events(&self) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM events")
            .fetch_one(&self.db)
            .await
            .unwrap()
    }
}

/// Status and body text.
async fn answer(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

// ---------------------------------------------------------------------------------------------
// 200

#[tokio::test]
async fn a_valid_event_is_stored_then_answered_200() {
    let hook = spawn().await;
    let body = event_xml("34", "Pick");

    let before = hook.state.clock.unix();
    let (status, text) = answer(hook.post(body.clone()).await).await;

    assert_eq!(status, 200, "{text}");
    assert_eq!(text.trim(), "ok");
    type Row = (
        String,
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        i64,
        String,
    );
    let row: Row = sqlx::query_as(
        "SELECT install_id, event_id, event_type, sent_time, order_id, order_status, received_at,
             raw_body FROM events",
    )
    .fetch_one(&hook.db)
    .await
    .unwrap();
    assert_eq!(row.0, hook.install_id);
    assert_eq!(row.1, "34");
    assert_eq!(row.2, "Order");
    assert_eq!(row.3.as_deref(), Some("2024-01-03 01:11:12"));
    assert_eq!(row.4.as_deref(), Some("N10154"));
    assert_eq!(row.5.as_deref(), Some("Pick"));
    assert!(row.6 >= before && row.6 <= hook.state.clock.unix());
    assert_eq!(row.7, body, "the raw body is kept as received");
}

#[tokio::test]
async fn the_webhook_route_sets_no_session_cookie() {
    let hook = spawn().await;
    let response = hook.post(event_xml("1", "New")).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("set-cookie").is_none());
    assert_eq!(
        hook.client
            .get(hook.hook_url(&hook.install_id))
            .send()
            .await
            .unwrap()
            .status(),
        405
    );
}

#[tokio::test]
async fn a_repeated_event_id_is_stored_once_and_answered_200() {
    let hook = spawn().await;
    assert_eq!(hook.post(event_xml("34", "Pick")).await.status(), 200);
    // A retry: the same EventID (even if something else in it differs) is the same event.
    assert_eq!(hook.post(event_xml("34", "Pick")).await.status(), 200);
    assert_eq!(hook.post(event_xml("34", "Pack")).await.status(), 200);

    assert_eq!(hook.events().await, 1);
    let status: String = sqlx::query_scalar("SELECT order_status FROM events")
        .fetch_one(&hook.db)
        .await
        .unwrap();
    assert_eq!(status, "Pick", "the first delivery is the one kept");
}

#[tokio::test]
async fn the_same_event_id_for_another_install_is_another_event() {
    let hook = spawn().await;
    let other = hook.add_install("s2", Some("another-stores-key-1")).await;
    assert_eq!(hook.post(event_xml("7", "New")).await.status(), 200);
    assert_eq!(
        hook.post_as(&other, Some("another-stores-key-1"), event_xml("7", "New"))
            .await
            .status(),
        200
    );
    assert_eq!(hook.events().await, 2);
}

#[tokio::test]
async fn a_hundred_parallel_posts_of_one_event_make_one_row() {
    let hook = Arc::new(spawn().await);
    let posts: Vec<_> = (0..100)
        .map(|_| {
            let hook = hook.clone();
            tokio::spawn(async move { hook.post(event_xml("555", "Dispatched")).await.status() })
        })
        .collect();
    for post in posts {
        assert_eq!(post.await.unwrap(), 200);
    }
    assert_eq!(hook.events().await, 1);
}

#[tokio::test]
async fn many_parallel_distinct_events_are_all_stored() {
    let hook = Arc::new(spawn().await);
    let posts: Vec<_> = (0..300)
        .map(|i| {
            let hook = hook.clone();
            tokio::spawn(async move { hook.post(event_xml(&i.to_string(), "New")).await.status() })
        })
        .collect();
    for post in posts {
        assert_eq!(post.await.unwrap(), 200);
    }
    assert_eq!(hook.events().await, 300);
}

#[tokio::test]
async fn a_body_of_exactly_256_kib_is_accepted() {
    let hook = spawn().await;
    let mut body = event_xml("1", "New");
    body.push_str("<!--");
    body.push_str(&"x".repeat(MAX_BODY - body.len() - 3));
    body.push_str("-->");
    assert_eq!(body.len(), MAX_BODY);
    let (status, text) = answer(hook.post(body).await).await;
    assert_eq!(status, 200, "{text}");
}

// ---------------------------------------------------------------------------------------------
// 413

#[tokio::test]
async fn a_body_over_256_kib_is_413_and_nothing_is_stored() {
    let hook = spawn().await;
    let mut body = event_xml("1", "New");
    body.push_str(&" ".repeat(MAX_BODY + 1 - body.len()));
    let (status, text) = answer(hook.post(body.clone()).await).await;
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("262144"), "{text}");
    // The size is checked first: before the install, the key and the document.
    assert_eq!(
        hook.post_as("0123456789abcdef0123456789abcdef", None, body.clone())
            .await
            .status(),
        413
    );
    assert_eq!(
        hook.post_as(&hook.install_id, None, body).await.status(),
        413
    );
    assert_eq!(hook.events().await, 0);
}

/// Sends `head` (and `body`) over a raw connection, keeps the connection open without sending
/// the rest, and returns the status line the server answers with.
async fn raw_exchange(hook: &Hook, head: String, body: &[u8]) -> String {
    let address = format!(
        "{}:{}",
        hook.base.host_str().unwrap(),
        hook.base.port().unwrap()
    );
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    // The server must answer while we still owe it most of the body.
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let n = stream.read(&mut buffer).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buffer[..n]);
            if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer before the body was complete");
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_declared_length_over_256_kib_is_413_before_the_body_arrives() {
    let hook = spawn().await;
    let head = format!(
        "POST /webhooks/maropost/{} HTTP/1.1\r\nHost: localhost\r\nNETOAPI_KEY: {KEY}\r\n\
         Content-Type: application/xml\r\nContent-Length: 10000000\r\n\r\n",
        hook.install_id
    );
    let status_line = raw_exchange(&hook, head, b"<Event>").await;
    assert!(status_line.contains(" 413 "), "{status_line}");
    assert_eq!(hook.events().await, 0);
}

#[tokio::test]
async fn a_chunked_body_over_256_kib_is_413_without_reading_the_rest() {
    let hook = spawn().await;
    let head = format!(
        "POST /webhooks/maropost/{} HTTP/1.1\r\nHost: localhost\r\nNETOAPI_KEY: {KEY}\r\n\
         Content-Type: application/xml\r\nTransfer-Encoding: chunked\r\n\r\n",
        hook.install_id
    );
    // One chunk just over the limit, and then nothing: no final chunk ever comes.
    let chunk = vec![b' '; MAX_BODY + 1];
    let mut body = format!("{:x}\r\n", chunk.len()).into_bytes();
    body.extend_from_slice(&chunk);
    body.extend_from_slice(b"\r\n");
    let status_line = raw_exchange(&hook, head, &body).await;
    assert!(status_line.contains(" 413 "), "{status_line}");
    assert_eq!(hook.events().await, 0);
}

// ---------------------------------------------------------------------------------------------
// 404, 410

#[tokio::test]
async fn an_unknown_install_is_404() {
    let hook = spawn().await;
    for id in [
        "0123456789abcdef0123456789abcdef",
        "not-an-id",
        "..%2F..%2Fetc",
        "%FF",
    ] {
        let (status, text) = answer(hook.post_as(id, Some(KEY), event_xml("1", "New")).await).await;
        assert_eq!(status, 404, "{id}: {text}");
    }
    // Before the key and the document are looked at.
    let (status, _) = answer(
        hook.post_as("0123456789abcdef0123456789abcdef", None, "not xml")
            .await,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(hook.events().await, 0);
}

#[tokio::test]
async fn a_revoked_install_is_410() {
    let hook = spawn().await;
    // Seen before the revoke (so the route remembers it as active).
    assert_eq!(hook.post(event_xml("1", "New")).await.status(), 200);
    installs::revoke(&hook.db, &hook.install_id, "operator:test@example.com", 0)
        .await
        .unwrap();

    // The route still remembers the install as active, and the right key: a malformed document
    // is still answered for the revoke first, as the database says it now.
    let (status, text) = answer(hook.post("not xml").await).await;
    assert_eq!(status, 410, "{text}");
    let (status, text) = answer(hook.post(event_xml("2", "New")).await).await;
    assert_eq!(status, 410, "{text}");
    // Before the key and the document are looked at.
    assert_eq!(
        hook.post_as(&hook.install_id, None, "not xml")
            .await
            .status(),
        410
    );
    assert_eq!(hook.events().await, 1, "nothing stored after the revoke");
}

// ---------------------------------------------------------------------------------------------
// 401

async fn assert_unauthorized(hook: &Hook, key: Option<&str>) {
    let (status, text) = answer(
        hook.post_as(&hook.install_id, key, event_xml("1", "New"))
            .await,
    )
    .await;
    assert_eq!(status, 401, "{key:?}: {text}");
    assert!(text.contains("NETOAPI_KEY"));
    assert!(!text.contains(KEY), "the answer never shows the key");
    assert_eq!(hook.events().await, 0);
}

#[tokio::test]
async fn a_missing_key_is_401() {
    let hook = spawn().await;
    assert_unauthorized(&hook, None).await;
    assert_unauthorized(&hook, Some("")).await;
}

#[tokio::test]
async fn a_wrong_key_of_the_same_length_is_401() {
    let hook = spawn().await;
    let mut wrong = KEY.to_owned();
    wrong.replace_range(KEY.len() - 1.., "X");
    assert_eq!(wrong.len(), KEY.len());
    assert_unauthorized(&hook, Some(&wrong)).await;
}

#[tokio::test]
async fn a_key_of_a_different_length_is_401() {
    let hook = spawn().await;
    assert_unauthorized(&hook, Some(&KEY[..KEY.len() - 1])).await;
    assert_unauthorized(&hook, Some(&format!("{KEY}0"))).await;
    assert_unauthorized(&hook, Some(&KEY.repeat(20))).await;
}

#[tokio::test]
async fn another_installs_key_is_401() {
    let hook = spawn().await;
    hook.add_install("s2", Some("the-other-stores-key")).await;
    assert_unauthorized(&hook, Some("the-other-stores-key")).await;
}

#[tokio::test]
async fn an_install_without_a_webhook_key_is_401() {
    let hook = spawn().await;
    let keyless = hook.add_install("s3", None).await;
    let (status, _) = answer(
        hook.post_as(&keyless, Some(KEY), event_xml("1", "New"))
            .await,
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(hook.events().await, 0);
}

#[tokio::test]
async fn the_key_is_checked_before_the_document() {
    let hook = spawn().await;
    let (status, _) = answer(
        hook.post_as(&hook.install_id, Some("wrong"), "not xml")
            .await,
    )
    .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_new_key_replaces_the_old_one_at_once() {
    let hook = spawn().await;
    // The old key has been seen (and is remembered by the route).
    assert_eq!(hook.post(event_xml("0", "New")).await.status(), 200);
    webhooks::set_webhook_key(
        &hook.db,
        &hook.state.keyring,
        &hook.install_id,
        "  rotated-key-5e0c2a  ",
        "system",
        0,
    )
    .await
    .unwrap();
    let (status, _) = answer(
        hook.post_as(&hook.install_id, Some(KEY), event_xml("1", "New"))
            .await,
    )
    .await;
    assert_eq!(status, 401, "the old key no longer works");
    assert_eq!(
        hook.post_as(
            &hook.install_id,
            Some("rotated-key-5e0c2a"),
            event_xml("1", "New")
        )
        .await
        .status(),
        200
    );
    assert_unauthorized_count(&hook, KEY, 2).await;
}

/// `key` is refused and the install has `expected` events.
async fn assert_unauthorized_count(hook: &Hook, key: &str, expected: i64) {
    let (status, _) = answer(
        hook.post_as(&hook.install_id, Some(key), event_xml("2", "New"))
            .await,
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(hook.events().await, expected);
}

#[tokio::test]
async fn the_webhook_key_is_stored_sealed() {
    let hook = spawn().await;
    let stored = hook.database.at_rest(&hook.db, hook.dir.path()).await;
    for (place, bytes) in &stored {
        assert!(!contains(bytes, KEY.as_bytes()), "{place} holds the key");
    }
    assert!(!stored.is_empty());
    assert!(
        webhooks::has_webhook_key(&hook.db, &hook.install_id)
            .await
            .unwrap()
    );
    // Revoked installs take no new key.
    installs::revoke(&hook.db, &hook.install_id, "operator:t", 0)
        .await
        .unwrap();
    assert!(matches!(
        webhooks::set_webhook_key(
            &hook.db,
            &hook.state.keyring,
            &hook.install_id,
            "another-valid-key-0001",
            "system",
            0
        )
        .await,
        Err(webhooks::SetKeyError::Revoked)
    ));
    assert!(matches!(
        webhooks::set_webhook_key(
            &hook.db,
            &hook.state.keyring,
            "nope",
            "another-valid-key-0001",
            "system",
            0
        )
        .await,
        Err(webhooks::SetKeyError::UnknownInstall)
    ));
    assert!(matches!(
        webhooks::set_webhook_key(&hook.db, &hook.state.keyring, "nope", "a key", "system", 0)
            .await,
        Err(webhooks::SetKeyError::Invalid(_))
    ));
}

// ---------------------------------------------------------------------------------------------
// 400

/// Posts `body` with the right key and expects a 400 whose message contains `problem`, quickly,
/// with nothing stored.
async fn assert_malformed(body: impl Into<String>, problem: &str) -> String {
    let hook = spawn().await;
    let started = std::time::Instant::now();
    let (status, text) = answer(hook.post(body.into()).await).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains(problem), "expected {problem:?} in {text:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refused quickly"
    );
    assert_eq!(hook.events().await, 0);
    text
}

#[tokio::test]
async fn a_body_that_is_not_xml_is_400() {
    assert_malformed("EventID=34&status=Pick", "not well-formed XML").await;
    assert_malformed(
        "<Order><OrderID>N1</OrderID></Order>",
        "root element must be <Event>",
    )
    .await;
    assert_malformed("<Event><EventID>1</EventID>", "not well-formed XML").await;
    assert_malformed(
        "<Event><EventID>1</EventID><EventType>Order</EventType></Evnt>",
        "not well-formed XML",
    )
    .await;
}

#[tokio::test]
async fn a_missing_event_id_is_400() {
    let body = "<Event><EventType>Order</EventType><Order><OrderID>N1</OrderID>\
                <OrderStatus>New</OrderStatus></Order></Event>";
    assert_malformed(body, "EventID is missing").await;
}

#[tokio::test]
async fn a_missing_event_type_is_400() {
    let body = "<Event><EventID>1</EventID><Order><OrderID>N1</OrderID>\
                <OrderStatus>New</OrderStatus></Order></Event>";
    assert_malformed(body, "EventType is missing").await;
}

#[tokio::test]
async fn an_order_without_order_id_is_400() {
    let body = "<Event><EventID>1</EventID><EventType>Order</EventType><Order>\
                <OrderStatus>New</OrderStatus></Order></Event>";
    assert_malformed(body, "OrderID is missing").await;
}

#[tokio::test]
async fn an_undocumented_order_status_is_400() {
    let text = assert_malformed(event_xml("1", "Shipped"), "OrderStatus").await;
    assert!(
        text.contains("Shipped") && text.contains("Pending Dispatch"),
        "{text}"
    );
}

#[tokio::test]
async fn nesting_deeper_than_16_is_400() {
    let open: String = (0..20).map(|_| "<x>").collect();
    let close: String = (0..20).map(|_| "</x>").collect();
    let body = format!(
        "<Event><EventID>1</EventID><EventType>Order</EventType>{open}{close}\
         <Order><OrderID>N1</OrderID><OrderStatus>New</OrderStatus></Order></Event>"
    );
    assert_malformed(body, "deeper than 16").await;
}

#[tokio::test]
async fn a_dtd_is_400() {
    let body = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE Event><Event>{}</Event>",
        "<EventID>1</EventID><EventType>Order</EventType>"
    );
    assert_malformed(body, "DTD").await;
    // An entity declaration on its own is refused by name too.
    assert_malformed("<!ENTITY a \"b\"><Event/>", "DTD").await;
}

#[tokio::test]
async fn a_billion_laughs_document_is_400_at_once() {
    let mut body =
        String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n");
    for level in 1..=9 {
        let previous = if level == 1 {
            "lol".to_owned()
        } else {
            format!("lol{}", level - 1)
        };
        let refs: String = (0..10).map(|_| format!("&{previous};")).collect();
        body.push_str(&format!(" <!ENTITY lol{level} \"{refs}\">\n"));
    }
    body.push_str(
        "]>\n<Event><EventID>1</EventID><EventType>Order</EventType><Order>\
                   <OrderID>&lol9;</OrderID><OrderStatus>New</OrderStatus></Order></Event>",
    );
    assert_malformed(body, "DTD").await;
}

#[tokio::test]
async fn an_xxe_attempt_is_400_without_reading_the_file() {
    // The external entity names a FIFO: opening it for reading would block until somebody
    // writes to it, so a prompt answer shows that nothing tried to read it.
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("secret");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    for body in [
        format!(
            "<?xml version=\"1.0\"?><!DOCTYPE Event [<!ENTITY xxe SYSTEM \"file://{}\">]>\
             <Event><EventID>1</EventID><EventType>Order</EventType><Order><OrderID>&xxe;</OrderID>\
             <OrderStatus>New</OrderStatus></Order></Event>",
            fifo.display()
        ),
        format!(
            "<!DOCTYPE Event SYSTEM \"file://{}\"><Event><EventID>1</EventID></Event>",
            fifo.display()
        ),
        format!(
            "<!DOCTYPE Event [<!ENTITY % p SYSTEM \"file://{}\"> %p;]><Event/>",
            fifo.display()
        ),
    ] {
        let text = assert_malformed(body, "DTD").await;
        assert!(!text.contains("root:"));
    }
    // Without a DTD the reference is simply undeclared.
    assert_malformed(
        "<Event><EventID>1</EventID><EventType>Order</EventType><Order><OrderID>&xxe;</OrderID>\
         <OrderStatus>New</OrderStatus></Order></Event>",
        "undeclared entity &xxe;",
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// 503

#[tokio::test]
async fn a_database_that_refuses_writes_gets_503_and_nothing_is_acknowledged() {
    let hook = Arc::new(spawn().await);
    // Every insert into events now fails inside the database, as a full or read-only one would.
    let refuse: &[&str] = if hook.database.is_postgres() {
        &[
            "CREATE FUNCTION refuse_events() RETURNS trigger LANGUAGE plpgsql AS
             $$ BEGIN RAISE EXCEPTION 'could not extend file (test)'; END $$",
            "CREATE TRIGGER refuse_events BEFORE INSERT ON events
             FOR EACH ROW EXECUTE FUNCTION refuse_events()",
        ]
    } else {
        &["CREATE TRIGGER refuse_events BEFORE INSERT ON events
           BEGIN SELECT RAISE(ABORT, 'database or disk is full (test)'); END"]
    };
    for statement in refuse {
        sqlx::query(statement).execute(&hook.db).await.unwrap();
    }

    let posts: Vec<_> = (0..20)
        .map(|i| {
            let hook = hook.clone();
            tokio::spawn(
                async move { answer(hook.post(event_xml(&i.to_string(), "New")).await).await },
            )
        })
        .collect();
    for post in posts {
        let (status, text) = post.await.unwrap();
        assert_eq!(status, 503, "{text}");
        assert!(
            !text.contains("test"),
            "no detail of ours in the answer: {text}"
        );
    }
    assert_eq!(hook.events().await, 0);

    // Once the database takes writes again, so does the route.
    let drop = if hook.database.is_postgres() {
        "DROP TRIGGER refuse_events ON events"
    } else {
        "DROP TRIGGER refuse_events"
    };
    sqlx::query(drop).execute(&hook.db).await.unwrap();
    assert_eq!(hook.post(event_xml("1", "New")).await.status(), 200);
    assert_eq!(hook.events().await, 1);
}

#[tokio::test]
async fn only_events_checked_against_the_current_key_are_stored_once_each() {
    use storelink::db::events::{self, NewEvent, Offered};

    let hook = spawn().await;
    let other = hook.add_install("s2", Some("second-stores-key-2")).await;
    let gone = hook.add_install("s3", Some("third-stores-key-3")).await;
    let nonce = |id: String| {
        let db = hook.db.clone();
        async move {
            sqlx::query_scalar::<_, Vec<u8>>(
                "SELECT nonce FROM credentials WHERE install_id = $1 AND kind = 'webhook_key'",
            )
            .bind(id)
            .fetch_one(&db)
            .await
            .unwrap()
        }
    };
    let (first_key, other_key, gone_key) = (
        nonce(hook.install_id.clone()).await,
        nonce(other.clone()).await,
        nonce(gone.clone()).await,
    );
    installs::revoke(&hook.db, &gone, "operator:test@example.com", 0)
        .await
        .unwrap();
    let event = |install: &str, id: &str| NewEvent {
        install_id: install.to_owned(),
        event_id: id.to_owned(),
        event_type: "Order".to_owned(),
        sent_time: None,
        order_id: Some("N1".to_owned()),
        order_status: None,
        received_at: 1,
        raw_body: "<Event/>".to_owned(),
    };
    let stored_before = event(&hook.install_id, "stored-before");
    let mut tx = storelink::db::begin_write(&hook.db).await.unwrap();
    events::insert_many(&mut tx, &[&stored_before])
        .await
        .unwrap();
    tx.commit().await.unwrap();

    // 70 events of the first install (past one statement's 64), and among and after them: a
    // repeat in the same statement, one in the next, one stored before, the other install's
    // event with its own key and with the first's, and the revoked install's.
    let mut offered: Vec<(NewEvent, &[u8], Offered)> = (0..70)
        .map(|i| {
            let e = event(&hook.install_id, &format!("e{i}"));
            (e, first_key.as_slice(), Offered::Stored)
        })
        .collect();
    offered.insert(
        5,
        (event(&hook.install_id, "e1"), &first_key, Offered::Repeat),
    );
    offered.push((event(&hook.install_id, "e2"), &first_key, Offered::Repeat));
    offered.push((stored_before.clone(), &first_key, Offered::Repeat));
    offered.push((event(&other, "e1"), &other_key, Offered::Stored));
    offered.push((event(&other, "e2"), &first_key, Offered::Stale));
    offered.push((event(&gone, "e1"), &gone_key, Offered::Stale));
    // A stale event first, then the same event with the right key: the second is stored.
    offered.insert(
        0,
        (event(&hook.install_id, "late"), &other_key, Offered::Stale),
    );
    offered.push((event(&hook.install_id, "late"), &first_key, Offered::Stored));

    let mut tx = storelink::db::begin_write(&hook.db).await.unwrap();
    let given: Vec<(&NewEvent, &[u8])> = offered.iter().map(|(e, k, _)| (e, *k)).collect();
    let answers = events::insert_if_current(&mut tx, &given).await.unwrap();
    tx.commit().await.unwrap();
    let expected: Vec<Offered> = offered.iter().map(|(_, _, o)| *o).collect();
    assert_eq!(answers, expected);
    // 1 stored before, 70 + "late" of the first install, 1 of the other; ids in the order
    // the events were offered.
    assert_eq!(hook.events().await, 73);
    let in_order: Vec<String> =
        sqlx::query_scalar("SELECT event_id FROM events WHERE install_id = $1 ORDER BY id")
            .bind(&hook.install_id)
            .fetch_all(&hook.db)
            .await
            .unwrap();
    let mut expected = vec!["stored-before".to_owned()];
    expected.extend((0..70).map(|i| format!("e{i}")));
    expected.push("late".to_owned());
    assert_eq!(in_order, expected);
}

#[tokio::test]
async fn the_writer_opens_a_new_connection_when_the_server_ended_its_own() {
    let hook = spawn().await;
    assert_eq!(hook.post(event_xml("1", "New")).await.status(), 200);
    // As a server restart would: the writer's connection (and every other) ends while idle.
    let Some(ended) = hook.database.end_connections().await else {
        return; // SQLite: a file, no server to end it.
    };
    assert!(ended >= 1);
    // The event that finds it broken is not acknowledged (the platform sends it again)...
    let status = hook.post(event_xml("2", "New")).await.status();
    assert!(status == 200 || status == 503, "{status}");
    // ...and every one after it is stored, on a connection opened for it.
    for id in ["2", "3", "4"] {
        assert_eq!(hook.post(event_xml(id, "Pick")).await.status(), 200);
    }
    // The test's own connection was ended too: its first statement finds that out.
    let _ = sqlx::query("SELECT 1").execute(&hook.db).await;
    assert_eq!(hook.events().await, 4);
}

#[tokio::test]
async fn a_database_locked_past_the_busy_timeout_gets_503() {
    let hook = spawn_on(Duration::from_millis(300), false).await;
    // Another process holds the write lock: SQLite's, or storelink's advisory lock on PostgreSQL.
    let other = storelink::db::connect(&hook.database_url).await.unwrap();
    let mut held = if hook.database.is_postgres() {
        other
            .begin_with(storelink::db::Backend::Postgres.begin_write())
            .await
            .unwrap()
    } else {
        other.begin_with("BEGIN EXCLUSIVE").await.unwrap()
    };

    let started = std::time::Instant::now();
    let (status, text) = answer(hook.post(event_xml("1", "New")).await).await;
    assert_eq!(status, 503, "{text}");
    assert!(started.elapsed() < Duration::from_secs(5));

    sqlx::query("SELECT 1").execute(&mut *held).await.unwrap();
    held.rollback().await.unwrap();
    other.close().await;
    assert_eq!(hook.events().await, 0);
    assert_eq!(hook.post(event_xml("1", "New")).await.status(), 200);
    assert_eq!(hook.events().await, 1);
}

// ---------------------------------------------------------------------------------------------
// The console's queries

#[tokio::test]
async fn the_console_can_list_filter_page_and_count_events() {
    use storelink::db::events::{self, Filter};

    let hook = spawn().await;
    let other = hook.add_install("s2", Some("second-stores-key-2")).await;
    for (i, status) in ["New", "Pick", "Pack", "Pick", "Dispatched"]
        .iter()
        .enumerate()
    {
        assert_eq!(
            hook.post(event_xml(&i.to_string(), status)).await.status(),
            200
        );
    }
    assert_eq!(
        hook.post_as(&other, Some("second-stores-key-2"), event_xml("0", "Pick"))
            .await
            .status(),
        200
    );

    let latest = events::latest_for_install(&hook.db, &hook.install_id, 3)
        .await
        .unwrap();
    let ids: Vec<&str> = latest.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids, ["4", "3", "2"], "newest first");

    let picks = Filter {
        status: Some(OrderStatus::Pick),
        ..Filter::default()
    };
    let first = events::list(&hook.db, &picks, None, 2).await.unwrap();
    assert_eq!(first.len(), 2);
    assert_eq!(first[0].install_id, other);
    let second = events::list(&hook.db, &picks, Some(first[1].id), 2)
        .await
        .unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].event_id, "1");
    assert!(second[0].id < first[1].id);

    let by_order = Filter {
        install_id: Some(hook.install_id.clone()),
        order_id: Some("N10154".into()),
        status: Some(OrderStatus::Pack),
    };
    let pack = events::list(&hook.db, &by_order, None, 10).await.unwrap();
    assert_eq!(pack.len(), 1);
    let raw = events::raw_body(&hook.db, pack[0].id)
        .await
        .unwrap()
        .unwrap();
    assert!(raw.contains("<OrderStatus>Pack</OrderStatus>"));

    let counts = events::counts_by_status_since(&hook.db, 0).await.unwrap();
    assert_eq!(counts[0], (Some(OrderStatus::Pick), 3));
    assert_eq!(counts.iter().map(|c| c.1).sum::<i64>(), 6);
    let future = events::counts_by_status_since(&hook.db, i64::MAX)
        .await
        .unwrap();
    assert!(future.is_empty());
    let per_install = events::counts_by_install_since(&hook.db, 0).await.unwrap();
    assert_eq!(per_install.len(), 2);

    let url = storelink::platforms::maropost::webhooks::webhook_url(&hook.base, &hook.install_id);
    assert_eq!(url, hook.hook_url(&hook.install_id));
}
