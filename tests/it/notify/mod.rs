//! Notifications to the vendor's backend: what is sent for which change (and nothing for a
//! change that rolled back), how it is signed (checked with the published Standard Webhooks
//! verifiers, not only our code), delivery and retries ([`delivery`]), the outbound guard and
//! endpoint URLs ([`guard`]), the console ([`console`]), crashes ([`crash`]) and order events
//! as their own outbox ([`order_log`]).

mod backpressure;
mod console;
mod crash;
mod delivery;
mod guard;
mod order_log;
mod shutdown;

use std::time::Duration;

use serde_json::Value;
use storelink::clock::Clock as _;
use storelink::{
    db::{
        endpoints::{self, Subscription},
        installs::{self, NewInstall},
        token_state,
    },
    domain::{EventType, Initiator, InstallingUser, Platform},
    notify,
    platforms::kit::webhook_keys as webhooks,
};
use wiremock::{Mock, MockServer, ResponseTemplate, matchers::method};

use crate::{helpers::*, webhooks::KEY as HOOK_KEY};

/// The app (wiremock stand-ins, test clock) with a short retry schedule and a quick poll, and a
/// receiver that answers `200` unless a test mounts something else.
pub struct Notified {
    pub app: TestApp,
    pub receiver: MockServer,
}

/// Retries after 10 s and 20 s (then fails): 3 attempts.
pub const SCHEDULE: &str = "10s,20s";

pub async fn spawn_notified() -> Notified {
    spawn_notified_with(|_| {}).await
}

pub async fn spawn_notified_with(
    configure: impl FnOnce(&mut storelink::config::Settings) + Send + 'static,
) -> Notified {
    let app = spawn_with(Options {
        configure: Some(Box::new(move |s| {
            s.notify.schedule = notify::RetrySchedule::parse(SCHEDULE).unwrap();
            s.notify.poll = Duration::from_millis(50);
            s.notify.timeout = Duration::from_secs(1);
            configure(s);
        })),
        ..Options::default()
    })
    .await;
    let receiver = MockServer::start().await;
    Notified { app, receiver }
}

/// What the receiver got.
#[derive(Debug, Clone)]
pub struct Got {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub content_type: String,
    pub body: Vec<u8>,
    pub headers: axum::http::HeaderMap,
}

impl Got {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn event_type(&self) -> String {
        self.json()["type"].as_str().unwrap().to_owned()
    }
}

impl Notified {
    /// Adds an endpoint at the receiver (under `path`) for `events` (all when empty); returns
    /// its id and its secret.
    pub async fn endpoint(&self, path: &str, events: &str) -> (String, String) {
        use secrecy::ExposeSecret as _;
        let url = format!("{}{path}", self.receiver.uri());
        let (endpoint, secret) = notify::endpoints::add(
            &self.app.state.notify(),
            &url,
            &Subscription::parse(events).unwrap(),
            storelink::domain::EndpointLimits::default(),
            true,
            "operator:test@example.com",
        )
        .await
        .unwrap();
        (endpoint.id, secret.expose_secret().to_owned())
    }

    /// Everything the receiver got so far.
    pub async fn got(&self) -> Vec<Got> {
        self.receiver
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|r| {
                let header = |name: &str| {
                    r.headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                };
                let headers = r.headers.clone();
                Got {
                    id: header("webhook-id"),
                    timestamp: header("webhook-timestamp"),
                    signature: header("webhook-signature"),
                    content_type: header("content-type"),
                    body: r.body,
                    headers,
                }
            })
            .collect()
    }

    /// Waits until the receiver got at least `n` requests; returns them.
    pub async fn wait_for(&self, n: usize) -> Vec<Got> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.got().await;
            if got.len() >= n {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the receiver got {} of {n} notifications",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits a little, then checks the receiver still got exactly `n`.
    pub async fn still(&self, n: usize) -> Vec<Got> {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let got = self.got().await;
        assert_eq!(got.len(), n, "{:?}", types(&got));
        got
    }

    /// Saves a Maropost install for `store_id` as a merchant's install does.
    pub async fn install(&self, store_id: &str) -> String {
        let saved = installs::save(
            &self.app.db,
            &self.app.state.keyring,
            &NewInstall {
                platform: Platform::Maropost,
                account_id: store_id,
                store_domain: Some("shop.example.com"),
                store_name: Some("Shop"),
                timezone: None,
                scope: Some("api user"),
                user: InstallingUser::default(),
                billing_address: None,
                initiated_by: Initiator::Storelink,
                access_token: b"access-token-never-sent",
            },
            self.app.clock.unix(),
        )
        .await
        .unwrap();
        saved.id
    }

    /// Messages in the outbox with `status`.
    pub async fn messages(&self, status: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM notify_messages WHERE status = $1")
            .bind(status)
            .fetch_one(&self.app.db)
            .await
            .unwrap()
    }

    /// The attempts recorded for message `id`: (status code, outcome), oldest first.
    pub async fn attempts(&self, id: &str) -> Vec<(Option<i64>, String)> {
        sqlx::query_as(
            "SELECT status_code, outcome FROM notify_attempts WHERE message_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.app.db)
        .await
        .unwrap()
    }

    /// Waits until message `id` has `n` attempts recorded.
    pub async fn wait_for_attempts(&self, id: &str, n: usize) -> Vec<(Option<i64>, String)> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let attempts = self.attempts(id).await;
            if attempts.len() >= n {
                return attempts;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} of {n} attempts: {attempts:?}",
                attempts.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The one message in the outbox.
    pub async fn only_message(&self) -> String {
        sqlx::query_scalar("SELECT id FROM notify_messages")
            .fetch_one(&self.app.db)
            .await
            .unwrap()
    }
}

pub fn types(got: &[Got]) -> Vec<String> {
    got.iter().map(Got::event_type).collect()
}

/// Answers `status` to every notification.
pub async fn answer(receiver: &MockServer, status: u16) {
    receiver.reset().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(status))
        .mount(receiver)
        .await;
}

#[tokio::test]
async fn the_signature_verifies_with_the_published_rust_library() {
    let n = spawn_notified().await;
    answer(&n.receiver, 204).await;
    let (_, secret) = n.endpoint("/hooks", "").await;
    let install = n.install("s1").await;

    let got = n.wait_for(1).await;
    let got = &got[0];
    assert!(got.id.starts_with("msg_"), "{}", got.id);
    assert_eq!(got.content_type, "application/json");
    assert!(got.signature.starts_with("v1,"));
    standardwebhooks::Webhook::new(&secret)
        .unwrap()
        .verify(&got.body, &got.headers)
        .expect("the published verifier accepts the signature");
    // A different secret, or a changed body, is refused.
    let other = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    assert!(
        standardwebhooks::Webhook::new(other)
            .unwrap()
            .verify(&got.body, &got.headers)
            .is_err()
    );
    let mut changed = got.body.clone();
    changed.push(b' ');
    assert!(
        standardwebhooks::Webhook::new(&secret)
            .unwrap()
            .verify(&changed, &got.headers)
            .is_err()
    );

    // The body: type, timestamp, and the API's install object, without any secret.
    let body = got.json();
    assert_eq!(body["type"], "install.created");
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(body["data"]["id"], install.as_str());
    assert_eq!(body["data"]["platform"], "maropost");
    assert_eq!(body["data"]["status"], "active");
    assert_eq!(body["data"]["store_domain"], "shop.example.com");
    assert_eq!(body["data"]["scopes"], serde_json::json!(["api", "user"]));
    let text = String::from_utf8_lossy(&got.body);
    assert!(!text.contains("access-token-never-sent"), "{text}");
}

#[tokio::test]
async fn the_signature_verifies_with_the_published_python_library() {
    let n = spawn_notified().await;
    answer(&n.receiver, 200).await;
    let (_, secret) = n.endpoint("/hooks", "").await;
    n.install("s1").await;
    let got = n.wait_for(1).await;
    let got = &got[0];
    // PyPI's `standardwebhooks` (installed by scripts/test), fed exactly what was received.
    let script = r#"
import json, sys
from standardwebhooks.webhooks import Webhook
data = json.load(sys.stdin)
body = data["body"].encode()
headers = {"webhook-id": data["id"], "webhook-timestamp": data["timestamp"], "webhook-signature": data["signature"]}
Webhook(data["secret"]).verify(body, headers)
try:
    Webhook(data["secret"]).verify(body + b" ", headers)
except Exception:
    print("verified; a changed body is refused")
"#;
    let input = serde_json::json!({
        "secret": secret,
        "id": got.id,
        "timestamp": got.timestamp,
        "signature": got.signature,
        "body": String::from_utf8(got.body.clone()).unwrap(),
    });
    let mut child = tokio::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    use tokio::io::AsyncWriteExt as _;
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.to_string().as_bytes()).await.unwrap();
    drop(stdin);
    let output = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("No module named"),
        "PyPI's standardwebhooks is missing: `pip install standardwebhooks` (scripts/test does)"
    );
    assert!(output.status.success(), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "verified; a changed body is refused"
    );
}

#[tokio::test]
async fn each_install_event_comes_from_its_cause() {
    let n = spawn_notified().await;
    answer(&n.receiver, 200).await;
    n.endpoint("/hooks", "").await;

    let id = n.install("s1").await;
    assert_eq!(types(&n.wait_for(1).await), ["install.created"]);
    n.install("s1").await;
    assert_eq!(
        types(&n.wait_for(2).await),
        ["install.created", "install.updated"]
    );

    // An operator renaming it.
    installs::rename(
        &n.app.db,
        &id,
        &storelink::domain::StoreName::parse("The Shop").unwrap(),
        "operator:test@example.com",
        n.app.clock.unix(),
    )
    .await
    .unwrap();
    let got = n.wait_for(3).await;
    assert_eq!(got[2].event_type(), "install.updated");
    assert_eq!(got[2].json()["data"]["name"], "The Shop");

    // The platform refusing the connection for good.
    let version: i64 = sqlx::query_scalar("SELECT token_version FROM installs WHERE id = $1")
        .bind(&id)
        .fetch_one(&n.app.db)
        .await
        .unwrap();
    assert!(
        token_state::mark_needs_attention(
            &n.app.db,
            &id,
            version,
            storelink::domain::Reason::RefreshRejected,
            "invalid_grant",
            n.app.clock.unix()
        )
        .await
        .unwrap()
    );
    let got = n.wait_for(4).await;
    assert_eq!(got[3].event_type(), "install.needs_attention");
    assert_eq!(got[3].json()["data"]["status"], "needs_attention");

    installs::revoke(
        &n.app.db,
        &id,
        "operator:test@example.com",
        n.app.clock.unix(),
    )
    .await
    .unwrap();
    let got = n.wait_for(5).await;
    assert_eq!(got[4].event_type(), "install.revoked");
    assert_eq!(got[4].json()["data"]["status"], "revoked");

    // A revoke that changes nothing announces nothing.
    installs::revoke(
        &n.app.db,
        &id,
        "operator:test@example.com",
        n.app.clock.unix(),
    )
    .await
    .unwrap();
    let got = n.still(5).await;
    // Every message has its own id.
    let mut ids: Vec<&str> = got.iter().map(|g| g.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 5);
}

#[tokio::test]
async fn order_events_are_announced_once_each_and_only_when_stored() {
    let n = spawn_notified().await;
    answer(&n.receiver, 200).await;
    n.endpoint("/hooks", "order.status_changed").await;
    let id = n.install("s1").await;
    webhooks::set_webhook_key(&n.app.db, &n.app.state.keyring, &id, HOOK_KEY, "system", 0)
        .await
        .unwrap();
    let post = |body: String| {
        reqwest::Client::new()
            .post(n.app.url(&format!("/webhooks/maropost/{id}")))
            .header("NETO_NOTIFICATION", "Order")
            .header("NETOAPI_KEY", HOOK_KEY)
            .header("Content-Type", "application/xml")
            .body(body)
            .send()
    };
    let xml = |event: &str, status: &str| {
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Event><CurrentTime>2024-01-03 01:11:12</CurrentTime>\
             <EventID>{event}</EventID><EventType>Order</EventType><Order><OrderID>N10154</OrderID>\
             <OrderStatus>{status}</OrderStatus></Order></Event>"
        )
    };
    assert_eq!(post(xml("e1", "Pick")).await.unwrap().status(), 200);
    // A repeat is not stored again, so not announced again.
    assert_eq!(post(xml("e1", "Pick")).await.unwrap().status(), 200);
    let got = n.wait_for(1).await;
    // The install.created was not subscribed to.
    assert_eq!(types(&got), ["order.status_changed"]);
    let data = &got[0].json()["data"];
    assert_eq!(data["install_id"], id.as_str());
    assert_eq!(data["event_id"], "e1");
    assert_eq!(data["order_id"], "N10154");
    assert_eq!(data["order_status"], "Pick");
    assert_eq!(data["current_time"], "2024-01-03 01:11:12");
    n.still(1).await;

    // Refused events (revoked install) announce nothing.
    installs::revoke(&n.app.db, &id, "system", n.app.clock.unix())
        .await
        .unwrap();
    assert_eq!(post(xml("e2", "Pack")).await.unwrap().status(), 410);
    n.still(1).await;
}

#[tokio::test]
async fn a_change_that_rolls_back_announces_nothing() {
    let n = spawn_notified().await;
    answer(&n.receiver, 200).await;
    n.endpoint("/hooks", "").await;
    let mut tx = storelink::db::begin_write(&n.app.db).await.unwrap();
    let saved = installs::save_in(
        &mut tx,
        &n.app.state.keyring,
        &NewInstall {
            platform: Platform::Maropost,
            account_id: "rolled-back",
            store_domain: Some("shop.example.com"),
            store_name: None,
            timezone: None,
            scope: None,
            user: InstallingUser::default(),
            billing_address: None,
            initiated_by: Initiator::Storelink,
            access_token: b"t",
        },
        n.app.clock.unix(),
        "merchant",
    )
    .await
    .unwrap();
    installs::announce_saved(&mut tx, &saved, n.app.clock.unix())
        .await
        .unwrap();
    // Inside the transaction the message exists...
    let inside: i64 = sqlx::query_scalar("SELECT count(*) FROM notify_messages")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(inside, 1);
    tx.rollback().await.unwrap();
    // ...and with the rollback it is gone, and nothing is sent.
    assert_eq!(n.messages("pending").await, 0);
    n.still(0).await;
}

#[tokio::test]
async fn only_subscribed_types_go_to_an_endpoint_and_disabled_ones_get_nothing() {
    let n = spawn_notified().await;
    answer(&n.receiver, 200).await;
    n.endpoint("/revocations", "install.revoked").await;
    let (disabled, _) = n.endpoint("/disabled", "").await;
    endpoints::set_enabled(&n.app.db, &disabled, false, "system", n.app.clock.unix())
        .await
        .unwrap();
    let id = n.install("s1").await;
    installs::revoke(&n.app.db, &id, "system", n.app.clock.unix())
        .await
        .unwrap();
    let got = n.wait_for(1).await;
    assert_eq!(types(&got), ["install.revoked"]);
    n.still(1).await;
    // Nothing was even queued for the disabled endpoint: it was disabled when the change
    // committed.
    assert_eq!(
        n.app
            .count("SELECT count(*) FROM notify_messages WHERE endpoint_id IN (SELECT id FROM notify_endpoints WHERE enabled = 0)")
            .await,
        0
    );
    let _ = EventType::Ping;
}
