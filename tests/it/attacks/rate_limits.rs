//! Item 5 (and 8): anonymous writes without limit. Each `GET /install/maropost?store_domain=…`
//! wrote a flow (kept 24 h) and a session, ~850/s from one client; every callback without a
//! state (a panel install) spent a token request with our client secret. Panel installs also
//! named the connected store to any browser.

use storelink::flow;
use wiremock::ResponseTemplate;

use super::app_with;
use crate::helpers::*;

fn retry_after(response: &reqwest::Response) -> u64 {
    response
        .headers()
        .get("retry-after")
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn rate_limit_flow_starts_get_429_with_retry_after() {
    let app = app_with(|s| s.install_rate_limit = 5).await;
    for i in 0..5 {
        let response = browser()
            .get(app.url("/install/maropost?store_domain=a.example.com"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303, "start {i}");
    }
    let refused = browser()
        .get(app.url("/install/maropost?store_domain=a.example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    let wait = retry_after(&refused);
    assert!((1..=60).contains(&wait), "Retry-After: {wait}");
    assert_eq!(refused.headers()["cache-control"], "no-store");
    assert!(refused.text().await.unwrap().contains("Too many"));
    // bol.com's start counts against the same allowance; nothing more was written.
    let bol = browser()
        .post(app.url("/install/bol"))
        .send()
        .await
        .unwrap();
    assert_eq!(bol.status(), 429);
    assert_eq!(app.count("SELECT COUNT(*) FROM oauth_states").await, 5);
    assert!(app.count("SELECT COUNT(*) FROM sessions").await <= 5);
}

#[tokio::test]
async fn rate_limit_stateless_callbacks_are_refused_before_any_token_request() {
    let app = app_with(|s| s.install_rate_limit = 3).await;
    app.token_endpoint_answers(
        ResponseTemplate::new(400).set_body_json(serde_json::json!({"error": "invalid_grant"})),
    )
    .await;
    for _ in 0..3 {
        let response = app.callback(&browser(), &[("code", "forged-code")]).await;
        assert_eq!(response.status(), 502);
    }
    assert_eq!(app.token_requests().await.len(), 3);
    let refused = app.callback(&browser(), &[("code", "forged-code")]).await;
    assert_eq!(refused.status(), 429);
    assert!(retry_after(&refused) >= 1);
    assert_eq!(
        app.token_requests().await.len(),
        3,
        "no token request spent on a refused callback"
    );
}

#[tokio::test]
async fn rate_limit_flows_are_swept_soon_after_they_expire() {
    let app = spawn_app().await;
    let browser = browser();
    app.start_install(&browser, "old.example.com").await;
    app.clock.advance(time::Duration::seconds(
        flow::STATE_LIFETIME_SECS + flow::SWEEP_AFTER_EXPIRY_SECS + 1,
    ));
    app.start_install(&browser, "new.example.com").await;
    storelink::app::sweep_once(&app.state).await;
    let left: Vec<String> = sqlx::query_scalar("SELECT store_domain FROM oauth_states")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(
        left,
        ["new.example.com"],
        "swept minutes, not a day, after expiry"
    );
}

#[tokio::test]
async fn rate_limit_live_flows_are_capped_per_browser() {
    let app = app_with(|s| s.install_rate_limit = 100).await;
    let browser = browser();
    let mut states = Vec::new();
    for i in 0..15 {
        // A second apart: "oldest" is then the same on every backend (within one second,
        // PostgreSQL keeps no arrival order).
        app.clock.advance(time::Duration::seconds(1));
        states.push(
            app.start_install(&browser, &format!("shop{i}.example.com"))
                .await["state"]
                .clone(),
        );
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM oauth_states").await,
        flow::MAX_LIVE_FLOWS_PER_BROWSER
    );
    // The newest still works; the oldest made room.
    app.token_endpoint_answers(ResponseTemplate::new(200).set_body_json(token_answer(
        "s14",
        "shop14.example.com",
        "tok",
    )))
    .await;
    let oldest = app
        .callback(&browser, &[("code", "c"), ("state", &states[0])])
        .await;
    assert_eq!(oldest.status(), 400);
    let newest = app
        .callback(&browser, &[("code", "c"), ("state", &states[14])])
        .await;
    assert_eq!(newest.status(), 303);
    // Another browser has its own allowance.
    app.start_install(&crate::helpers::browser(), "other.example.com")
        .await;
}

#[tokio::test]
async fn panel_install_names_the_store_only_to_a_browser_that_started_a_flow() {
    let app = spawn_app().await;
    app.token_endpoint_answers(ResponseTemplate::new(200).set_body_json(token_answer(
        "s-panel",
        "attackers-store.example.com",
        "tok",
    )))
    .await;

    // A victim's browser sent to the callback with the attacker's code.
    let victim = browser();
    let response = app.callback(&victim, &[("code", "attackers-code")]).await;
    assert_eq!(response.status(), 303);
    let page = victim
        .get(app.url("/installed"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Installation complete"), "{page}");
    assert!(!page.contains("attackers-store"), "{page}");
    assert!(!page.contains("Ryan"), "{page}");

    // A merchant who started here (and whose platform then sent no state) sees their store.
    let merchant = browser();
    app.start_install(&merchant, "attackers-store.example.com")
        .await;
    let response = app.callback(&merchant, &[("code", "their-code")]).await;
    assert_eq!(response.status(), 303);
    let page = merchant
        .get(app.url("/installed"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("attackers-store.example.com"), "{page}");
}
