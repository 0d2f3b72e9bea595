//! The health keeper over HTTP against stand-in platforms: why an install needs attention
//! ([`reasons`]), degraded and recovered from checks and from the vendor's calls ([`degraded`]),
//! the checker's schedule on one instance and on two sharing a database ([`checker`]), every
//! platform's check against its sandbox ([`sandbox`]), and what the API, console and metrics
//! show ([`surfaces`]).

mod checker;
mod degraded;
mod reasons;
mod sandbox;
mod surfaces;

use std::time::Duration;

use serde_json::Value;
use storelink::{
    clock::Clock as _,
    db::{health::Health, installs},
    platforms::kit::context::TestOutcome,
};
use wiremock::{Mock, ResponseTemplate, matchers::method, matchers::path};

use crate::{api::ok_json, helpers::*, notify::Notified};

/// The store every Maropost install of these tests is at.
pub const DOMAIN: &str = "shop.example.com";

/// The app with the checker's interval `interval` (off when `None`) and a quick poll, the
/// calls' timeout `timeout`, and a notification receiver subscribed to every event.
pub async fn spawn_health(interval: Option<Duration>, timeout: Duration) -> Notified {
    let n = crate::notify::spawn_notified_with(move |s| {
        s.health.interval = interval;
        s.health.poll = Duration::from_millis(20);
        s.http_timeout = timeout;
    })
    .await;
    crate::notify::answer(&n.receiver, 200).await;
    n.endpoint("/hook", "").await;
    n
}

/// The Maropost API path of [`DOMAIN`] on the stand-in.
pub fn maropost_api() -> String {
    MAROPOST_API_PATH.replace("{store_domain}", DOMAIN)
}

/// An answer of the stand-in Maropost API with `orders` orders.
pub fn orders(count: usize) -> ResponseTemplate {
    let orders: Vec<Value> = (0..count)
        .map(|i| serde_json::json!({"OrderID": format!("N{i}")}))
        .collect();
    ResponseTemplate::new(200).set_body_json(serde_json::json!({"Ack": "Success", "Order": orders}))
}

impl TestApp {
    /// Makes the stand-in Maropost API answer `answer` (replacing what was mounted).
    pub async fn maropost_api_answers(&self, answer: ResponseTemplate) {
        self.maropost.reset().await;
        Mock::given(method("POST"))
            .and(path(maropost_api()))
            .respond_with(answer)
            .mount(&self.maropost)
            .await;
    }

    /// Checks install `id` now, as the checker (and "Check now") does.
    pub async fn check(&self, id: &str) -> TestOutcome {
        let install = installs::find(&self.db, id).await.unwrap().unwrap();
        storelink::health::check_now(&self.state.health_context(), &install)
            .await
            .unwrap()
    }

    /// Install `id`'s stored health.
    pub async fn health(&self, id: &str) -> Health {
        storelink::db::health::find(&self.db, id).await.unwrap()
    }

    /// Install `id`'s object as the API shows it.
    pub async fn install_object(&self, id: &str) -> Value {
        static KEYS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = KEYS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let key = self.api_key(&format!("health-test-{n}")).await;
        ok_json(self.api_get(&key, &format!("/api/v1/installs/{id}")).await).await
    }

    /// How many audit entries of `action` install `id` has.
    pub async fn audited(&self, id: &str, action: &str) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE install_id = $1 AND action = $2")
            .bind(id)
            .bind(action)
            .fetch_one(&self.db)
            .await
            .unwrap()
    }

    /// The requests the stand-in Maropost API got.
    pub async fn maropost_api_calls(&self) -> usize {
        self.requests_to(&maropost_api()).await.len()
    }
}

impl Notified {
    /// A Maropost install (as a merchant's) at [`DOMAIN`] for `store_id`; waits for its
    /// `install.created`, so each test counts from there.
    pub async fn maropost(&self, store_id: &str) -> String {
        let before = self.got().await.len();
        let id = self.install(store_id).await;
        self.wait_for(before + 1).await;
        id
    }
}

/// Now, on the app's clock.
pub fn now(app: &TestApp) -> i64 {
    app.clock.unix()
}
