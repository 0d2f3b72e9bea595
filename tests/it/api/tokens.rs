//! `POST /api/v1/installs/{id}/access-token`: what the backend needs for each platform, the
//! refusals for installs that cannot serve one, single-flight refreshes, and the throttled audit.

use std::time::Duration;

use secrecy::ExposeSecret as _;

use super::*;
use crate::bol::{RETAILER, TokenIssuer};

#[tokio::test]
async fn a_maropost_token_comes_with_its_api_url_and_access_key() {
    let app = spawn_app().await;
    let id = app
        .maropost_install("9001", "tok.example.com", "maropost-token-9001")
        .await;
    let key = app.api_key("backend").await;
    let response = app
        .api_post(&key, &format!("/api/v1/installs/{id}/access-token"))
        .await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    let answer = ok_json(response).await;
    assert_eq!(answer["access_token"], "maropost-token-9001");
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(answer["expires_at"], Value::Null);
    assert_eq!(answer["x_access_key"], CLIENT_ID);
    assert_eq!(
        answer["api_base_url"],
        format!(
            "{}/maropost/tok.example.com/do/WS/NetoAPI",
            app.maropost.uri()
        )
    );
}

#[tokio::test]
async fn reads_are_audited_once_per_key_install_and_minute_and_shown_on_the_store_page() {
    let app = spawn_app().await;
    let id = app
        .maropost_install("9002", "audit.example.com", "never-in-the-log")
        .await;
    let key = app.api_key("sync-worker").await;
    let other = app.api_key("reports").await;
    let path = format!("/api/v1/installs/{id}/access-token");
    for _ in 0..5 {
        assert_eq!(app.api_post(&key, &path).await.status(), 200);
    }
    assert_eq!(app.api_post(&other, &path).await.status(), 200);
    let entries: Vec<(String, String)> = sqlx::query_as(
        "SELECT actor, detail FROM audit_log WHERE action = 'token_read' AND install_id = $1 ORDER BY id",
    )
    .bind(&id)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(
        entries.iter().map(|(a, _)| a.as_str()).collect::<Vec<_>>(),
        ["api-key:sync-worker", "api-key:reports"]
    );
    app.clock.advance(time::Duration::seconds(61));
    app.api_post(&key, &path).await;
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'token_read'")
            .await,
        3,
        "a new minute, a new entry"
    );
    let log: Vec<String> = sqlx::query_scalar("SELECT actor || ' ' || detail FROM audit_log")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert!(
        log.iter().all(|l| !l.contains("never-in-the-log")),
        "no token in the log"
    );

    let operator = app.operator().await;
    let page = operator.get(&format!("/console/installs/{id}")).await;
    assert!(
        page.contains("sync-worker") && page.contains("reports"),
        "who read it"
    );
    assert!(!page.contains("never-in-the-log"));
}

#[tokio::test]
async fn installs_that_cannot_serve_a_token_say_why() {
    let app = spawn_app().await;
    let key = app.api_key("backend").await;
    let id = app
        .maropost_install("9003", "paused.example.com", "t")
        .await;
    sqlx::query("UPDATE installs SET status = 'needs_attention' WHERE id = $1")
        .bind(&id)
        .execute(&app.db)
        .await
        .unwrap();
    let path = format!("/api/v1/installs/{id}/access-token");
    let body = problem(app.api_post(&key, &path).await, 409).await;
    assert_eq!(body["type"], "urn:storelink:problem:needs-attention");
    storelink::db::installs::revoke(&app.db, &id, "operator:test", 0)
        .await
        .unwrap();
    let body = problem(app.api_post(&key, &path).await, 410).await;
    assert_eq!(body["type"], "urn:storelink:problem:revoked");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'token_read'")
            .await,
        0,
        "nothing was read"
    );
}

#[tokio::test]
async fn a_bol_token_with_under_a_minute_left_is_refreshed_once_for_ten_callers() {
    let app = spawn_app().await;
    let issuer = TokenIssuer::new(&app, 300);
    let issued = issuer.issued.clone();
    let id = app.connect_bol(&browser(), issuer).await;
    assert_eq!(issued.load(std::sync::atomic::Ordering::SeqCst), 1);
    let key = app.api_key("backend").await;
    let path = format!("/api/v1/installs/{id}/access-token");

    // 4 minutes 10 s in: 50 s left, under the minute the API promises.
    app.clock.advance(time::Duration::seconds(250));
    let mut slow = TokenIssuer::new(&app, 300);
    slow.issued = issued.clone();
    slow.delay = Duration::from_millis(200);
    app.bol_token_endpoint(slow).await;
    let calls = (0..10).map(|_| app.api_post(&key, &path));
    let answers = futures::future::join_all(calls).await;
    let mut tokens = Vec::new();
    for answer in answers {
        let answer = ok_json(answer).await;
        let expires = time::OffsetDateTime::parse(
            answer["expires_at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        assert!(expires.unix_timestamp() - app.clock.unix() >= 60);
        assert_eq!(
            answer["api_base_url"],
            format!("{}/bol/retailer", app.maropost.uri())
        );
        assert!(answer.get("x_access_key").is_none());
        tokens.push(answer["access_token"].as_str().unwrap().to_owned());
    }
    assert!(
        tokens.windows(2).all(|w| w[0] == w[1]),
        "all got the same token"
    );
    assert_eq!(
        issued.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "ten callers, one refresh"
    );
    let refreshes = app.bol_token_requests().await;
    assert_eq!(refreshes.len(), 1);
    assert_eq!(
        crate::bol::form(&refreshes[0])["grant_type"],
        "refresh_token"
    );
    let stored = storelink::db::credentials::open(
        &app.db,
        &app.state.keyring,
        &id,
        storelink::db::credentials::Kind::AccessToken,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(stored.expose_secret(), tokens[0]);
    let _ = RETAILER;
}

#[tokio::test]
async fn a_refused_refresh_is_a_409_and_a_failing_token_endpoint_a_502() {
    let app = spawn_app().await;
    let id = app
        .connect_bol(&browser(), TokenIssuer::new(&app, 300))
        .await;
    let key = app.api_key("backend").await;
    let path = format!("/api/v1/installs/{id}/access-token");
    app.clock.advance(time::Duration::seconds(290));
    app.bol_token_endpoint(wiremock::ResponseTemplate::new(503))
        .await;
    let body = problem(app.api_post(&key, &path).await, 502).await;
    assert!(body["detail"].as_str().unwrap().contains("503"), "{body}");
    app.bol_token_endpoint(
        wiremock::ResponseTemplate::new(400)
            .set_body_json(serde_json::json!({"error": "invalid_grant"})),
    )
    .await;
    problem(app.api_post(&key, &path).await, 409).await;
    assert_eq!(
        app.install_field::<String>(&id, "status").await,
        "needs_attention"
    );
}
