//! Also mended: while PostgreSQL cannot be reached, `/readyz`, the API and the console answer
//! within a few seconds, with a `503` problem or the usual error page (never a blank `500`).
//! The outage is real: the app reaches its database through a TCP relay that the test cuts.
//! Like tests/it/postgres.rs, it runs where `STORELINK_TEST_POSTGRES_URL` names a server.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use storelink::{app::Application, clock::SystemClock, config::Settings, crypto::MasterKey};
use tokio::{net::TcpListener, task::JoinSet};

use crate::{api::backend, database::FreshDatabase, helpers::*};

/// A TCP relay to `target`; [`Relay::cut`] closes it and every connection through it.
struct Relay {
    port: u16,
    accept: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accept = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                let target = target.clone();
                connections.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Self { port, accept }
    }

    /// The outage: the listener and every relayed connection close (their tasks are dropped with
    /// the accept loop's join set).
    fn cut(&self) {
        self.accept.abort();
    }
}

#[tokio::test]
async fn a_database_outage_is_answered_within_seconds_with_an_error_page_or_problem() {
    let Some(fresh) = FreshDatabase::create().await else {
        return;
    };
    let url = url::Url::parse(&fresh.url).unwrap();
    let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let relay = Relay::start(target).await;
    let mut relayed = url.clone();
    relayed.set_host(Some("127.0.0.1")).unwrap();
    relayed.set_port(Some(relay.port)).unwrap();

    let mut settings = Settings::sandbox_defaults(relayed.to_string());
    settings.master_key = Some(MasterKey::generate_base64());
    let app = Application::build(settings, Arc::new(SystemClock))
        .await
        .unwrap();
    let base = url::Url::parse(&format!("http://127.0.0.1:{}/", app.port())).unwrap();
    let state = app.state();
    tokio::spawn(app.run_until(std::future::pending()));

    // Before the outage: a key, and an operator logged in.
    let key = storelink::domain::api_key::ApiKeySecret::generate();
    storelink::db::api_keys::create(&state.db, "k", &key.hash(), &key.shown_prefix(), "t", 0)
        .await
        .unwrap();
    let hash =
        storelink::password::hash(&secrecy::SecretString::from("outage password 1")).unwrap();
    storelink::db::operators::add(&state.db, "ops@example.com", &hash, 0)
        .await
        .unwrap();
    let operator = browser();
    let page = operator
        .get(base.join("/console/login").unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let logged_in = operator
        .post(base.join("/console/login").unwrap())
        .form(&[
            ("email", "ops@example.com"),
            ("password", "outage password 1"),
            ("csrf_token", &csrf_in(&page)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(logged_in.status(), 303);
    assert_eq!(
        reqwest::get(base.join("/readyz").unwrap())
            .await
            .unwrap()
            .status(),
        200
    );

    relay.cut();

    let timed = |started: Instant, what: &str| {
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(10),
            "{what} answered after {took:?}"
        );
    };
    let started = Instant::now();
    let ready = reqwest::get(base.join("/readyz").unwrap()).await.unwrap();
    assert_eq!(ready.status(), 503);
    timed(started, "/readyz");

    let started = Instant::now();
    let api = backend()
        .get(base.join("/api/v1/installs").unwrap())
        .bearer_auth(key.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 503);
    assert_eq!(api.headers()["content-type"], "application/problem+json");
    timed(started, "the API");

    for (who, path) in [
        (browser(), "/console/login"),
        (operator.clone(), "/console"),
        (operator.clone(), "/console/audit"),
    ] {
        let started = Instant::now();
        let answer = who.get(base.join(path).unwrap()).send().await.unwrap();
        let status = answer.status();
        let headers = answer.headers().clone();
        let body = answer.text().await.unwrap();
        timed(started, path);
        assert!(status.is_server_error(), "{path}: {status}");
        assert_eq!(
            status, 503,
            "{path}: the database is unavailable, not a bug of ours"
        );
        assert!(headers.contains_key("retry-after"), "{path}");
        assert!(
            body.contains("cannot reach its database"),
            "{path}: the usual error page, not a blank answer: {body:?}"
        );
        assert!(headers.contains_key("content-security-policy"), "{path}");
    }
    drop(fresh);
}
