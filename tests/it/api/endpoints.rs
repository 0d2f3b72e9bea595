//! `/api/v1/endpoints`: what the console does with notification endpoints, for the vendor's
//! backend. The secret is shown once (create, rotate), changes are audited with the key's name,
//! messages are listed with their attempts, and every refusal is a problem that changes nothing.

use serde_json::{Value, json};

use super::{backend, problem};
use crate::{helpers::*, notify::spawn_notified_with};

/// Every row that a refusal must leave as it was.
async fn snapshot(app: &TestApp) -> (i64, i64, i64, i64) {
    (
        app.count("SELECT count(*) FROM notify_endpoints").await,
        app.count("SELECT count(*) FROM audit_log").await,
        app.count("SELECT count(*) FROM notify_messages WHERE status = 'pending'")
            .await,
        app.count("SELECT count(*) FROM notify_secrets").await,
    )
}

/// A request, the status it must get, and the parameter its problem must name.
type Case = (
    reqwest::Method,
    String,
    Option<Value>,
    u16,
    Option<&'static str>,
);

async fn send(
    app: &TestApp,
    key: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = backend().request(method, app.url(path)).bearer_auth(key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn endpoints_are_managed_through_the_api_with_the_consoles_guarantees() {
    // Setup
    let n = spawn_notified_with(|_| {}).await;
    let app = &n.app;
    let key = app.api_key("backend").await;
    let url = format!("{}/hooks", n.receiver.uri());
    use reqwest::Method;

    // Create: 201, Location, the secret once, no-store.
    let created = send(
        app,
        &key,
        Method::POST,
        "/api/v1/endpoints",
        Some(json!({"url": url, "event_types": ["install.created"], "rate_limit": 5})),
    )
    .await;
    assert_eq!(created.status(), 201);
    assert_eq!(created.headers()["cache-control"], "no-store");
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = created.json().await.unwrap();
    let id = body["endpoint"]["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/api/v1/endpoints/{id}"));
    assert!(body["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(body["endpoint"]["event_types"], json!(["install.created"]));
    assert_eq!(body["endpoint"]["rate_limit"], 5);
    assert_eq!(body["endpoint"]["max_in_flight"], 16);

    // The same URL again: 409, and nothing added.
    let again = send(
        app,
        &key,
        Method::POST,
        "/api/v1/endpoints",
        Some(json!({"url": url})),
    )
    .await;
    problem(again, 409).await;
    assert_eq!(app.count("SELECT count(*) FROM notify_endpoints").await, 1);

    // Read: never the secret.
    let list = send(app, &key, Method::GET, "/api/v1/endpoints", None).await;
    let text = list.text().await.unwrap();
    assert!(!text.contains("whsec_"), "{text}");
    let one: Value = send(app, &key, Method::GET, &location, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["url"], url.as_str());

    // Change: what is left out stays; null removes the rate limit.
    let changed = send(
        app,
        &key,
        Method::PATCH,
        &location,
        Some(json!({"rate_limit": null, "max_in_flight": 2, "event_types": ["*"]})),
    )
    .await;
    assert_eq!(changed.status(), 200);
    let changed: Value = changed.json().await.unwrap();
    assert_eq!(changed["rate_limit"], Value::Null);
    assert_eq!(changed["max_in_flight"], 2);
    assert_eq!(changed["event_types"], json!(["*"]));
    let disabled: Value = send(
        app,
        &key,
        Method::PATCH,
        &location,
        Some(json!({"enabled": false})),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(disabled["enabled"], false);

    // Rotate: a new secret, once.
    let rotated = send(
        app,
        &key,
        Method::POST,
        &format!("{location}/rotate-secret"),
        None,
    )
    .await;
    assert_eq!(rotated.status(), 200);
    assert_eq!(rotated.headers()["cache-control"], "no-store");
    let rotated: Value = rotated.json().await.unwrap();
    assert_ne!(rotated["secret"], body["secret"]);

    // Messages, recover and resend.
    let message = storelink::db::outbox::enqueue_to(
        &app.db,
        &id,
        storelink::domain::EventType::Ping,
        &json!({}),
        storelink::clock::Clock::unix(&app.clock),
    )
    .await
    .unwrap()
    .unwrap();
    let page: Value = send(
        app,
        &key,
        Method::GET,
        &format!("{location}/messages?status=pending&limit=1"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(page["data"][0]["id"], message.as_str());
    assert_eq!(page["data"][0]["attempts"], json!([]));
    let resent = send(
        app,
        &key,
        Method::POST,
        &format!("{location}/messages/{message}/resend"),
        None,
    )
    .await;
    assert_eq!(resent.status(), 202);
    let recovered = send(
        app,
        &key,
        Method::POST,
        &format!("{location}/recover"),
        Some(json!({"since": "2026-01-01T00:00:00Z"})),
    )
    .await;
    assert_eq!(recovered.status(), 202);
    assert_eq!(recovered.json::<Value>().await.unwrap()["recovered"], 0);

    // Every change was audited with the key's name.
    for action in [
        "endpoint_added",
        "endpoint_changed",
        "endpoint_disabled",
        "endpoint_secret_rotated",
        "notification_sent",
        "endpoint_recovered",
    ] {
        let found = app
            .count(&format!(
                "SELECT count(*) FROM audit_log WHERE action = '{action}' AND actor = 'api-key:backend'"
            ))
            .await;
        assert_eq!(found, 1, "{action}");
    }

    // Delete.
    let deleted = send(app, &key, Method::DELETE, &location, None).await;
    assert_eq!(deleted.status(), 204);
    problem(send(app, &key, Method::GET, &location, None).await, 404).await;
}

#[tokio::test]
async fn every_refusal_is_a_problem_that_changes_nothing() {
    // Setup: private addresses refused, as in production; one endpoint with one message.
    let n = spawn_notified_with(|s| s.allow_private_endpoints = false).await;
    let app = &n.app;
    let key = app.api_key("backend").await;
    let (id, _) = (
        storelink::db::endpoints::add(
            &app.db,
            &app.state.keyring,
            "https://hooks.example.com/storelink",
            &storelink::db::endpoints::Subscription::All,
            storelink::domain::EndpointLimits::default(),
            true,
            "test",
            0,
        )
        .await
        .unwrap()
        .0
        .id,
        (),
    );
    let ep = format!("/api/v1/endpoints/{id}");
    let unknown = "/api/v1/endpoints/000000000000000000000000";
    use reqwest::Method;
    let cases: Vec<Case> = vec![
        (
            Method::POST,
            "/api/v1/endpoints".into(),
            Some(json!({"url": "not a url"})),
            400,
            Some("url"),
        ),
        (
            Method::POST,
            "/api/v1/endpoints".into(),
            Some(json!({"url": "ftp://hooks.example.com/"})),
            400,
            Some("url"),
        ),
        (
            Method::POST,
            "/api/v1/endpoints".into(),
            Some(json!({"url": "http://hooks.example.com/"})),
            400,
            Some("url"),
        ),
        (
            Method::POST,
            "/api/v1/endpoints".into(),
            Some(json!({"url": "https://127.0.0.1/hooks"})),
            400,
            Some("url"),
        ),
        (
            Method::POST,
            "/api/v1/endpoints".into(),
            Some(json!({"url": "https://10.1.2.3/hooks"})),
            400,
            Some("url"),
        ),
        (
            Method::POST,
            "/api/v1/endpoints".into(),
            Some(json!({"url": "https://localhost/hooks"})),
            400,
            Some("url"),
        ),
        (
            Method::POST,
            "/api/v1/endpoints".into(),
            Some(json!({"url": "https://a.example.com/", "event_types": ["bogus"]})),
            400,
            Some("event_types"),
        ),
        (
            Method::POST,
            "/api/v1/endpoints".into(),
            Some(json!({"url": "https://a.example.com/", "rate_limit": 0})),
            400,
            Some("rate_limit"),
        ),
        (
            Method::POST,
            "/api/v1/endpoints".into(),
            Some(json!({"url": "https://a.example.com/", "max_in_flight": 5000})),
            400,
            Some("max_in_flight"),
        ),
        (
            Method::POST,
            "/api/v1/endpoints".into(),
            Some(json!({"url": "https://a.example.com/", "extra": 1})),
            400,
            None,
        ),
        (Method::POST, "/api/v1/endpoints".into(), None, 400, None),
        (Method::GET, unknown.into(), None, 404, None),
        (
            Method::GET,
            "/api/v1/endpoints/..%2F..%2Fx".into(),
            None,
            404,
            None,
        ),
        (
            Method::PATCH,
            unknown.into(),
            Some(json!({"enabled": false})),
            404,
            None,
        ),
        (
            Method::PATCH,
            ep.clone(),
            Some(json!({"max_in_flight": 0})),
            400,
            Some("max_in_flight"),
        ),
        (
            Method::PATCH,
            ep.clone(),
            Some(json!({"enabled": false, "rate_limit": -1})),
            400,
            Some("rate_limit"),
        ),
        (Method::DELETE, unknown.into(), None, 404, None),
        (
            Method::POST,
            format!("{unknown}/rotate-secret"),
            None,
            404,
            None,
        ),
        (
            Method::POST,
            format!("{unknown}/recover"),
            Some(json!({"since": "2026-01-01T00:00:00Z"})),
            404,
            None,
        ),
        (
            Method::POST,
            format!("{ep}/recover"),
            Some(json!({"since": "yesterday"})),
            400,
            Some("since"),
        ),
        (
            Method::POST,
            format!("{ep}/recover"),
            Some(json!({"since": "2026-13-01T00:00:00Z"})),
            400,
            Some("since"),
        ),
        (
            Method::POST,
            format!("{ep}/recover"),
            Some(json!({})),
            400,
            None,
        ),
        (Method::GET, format!("{unknown}/messages"), None, 404, None),
        (
            Method::GET,
            format!("{ep}/messages?cursor=nonsense"),
            None,
            400,
            Some("cursor"),
        ),
        (
            Method::GET,
            format!("{ep}/messages?cursor=msg_'%20OR%201=1"),
            None,
            400,
            Some("cursor"),
        ),
        (
            Method::GET,
            format!("{ep}/messages?status=lost"),
            None,
            400,
            Some("status"),
        ),
        (
            Method::GET,
            format!("{ep}/messages?limit=0"),
            None,
            400,
            Some("limit"),
        ),
        (
            Method::POST,
            format!("{ep}/messages/msg_0000/resend"),
            None,
            404,
            None,
        ),
        (
            Method::POST,
            format!("{unknown}/messages/msg_0000/resend"),
            None,
            404,
            None,
        ),
    ];
    let before = snapshot(app).await;
    for (method, path, body, status, parameter) in cases {
        let response = send(app, &key, method.clone(), &path, body.clone()).await;
        let got = response.status().as_u16();
        assert_eq!(got, status, "{method} {path} {body:?}");
        let problem = problem(response, status).await;
        if let Some(parameter) = parameter {
            assert_eq!(
                problem["parameter"], parameter,
                "{method} {path}: {problem}"
            );
        }
        assert_eq!(
            snapshot(app).await,
            before,
            "{method} {path} changed something"
        );
    }
    // Without a key: 401.
    let response = backend()
        .get(app.url("/api/v1/endpoints"))
        .send()
        .await
        .unwrap();
    problem(response, 401).await;
}
