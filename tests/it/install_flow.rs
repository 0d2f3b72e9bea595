//! The Maropost install flow against a stand-in Maropost: the happy path and every way the
//! callback can go wrong.

use std::time::Duration;

use oauth2::{PkceCodeChallenge, PkceCodeVerifier};
use wiremock::ResponseTemplate;

use crate::helpers::*;

#[tokio::test]
async fn happy_path_redirects_exchanges_stores_and_names_the_store() {
    // Setup
    let app = spawn_app().await;
    app.token_endpoint_answers(ResponseTemplate::new(200).set_body_json(token_answer(
        "store-1234",
        "surf.example.com",
        "access-token-abc123",
    )))
    .await;
    let browser = browser();

    // Exec: start
    let response = browser
        .get(app.url("/install/maropost"))
        .query(&[("store_domain", "Surf.Example.com")])
        .send()
        .await
        .unwrap();

    // Check: the authorize URL
    assert_eq!(response.status(), 303);
    let authorize = url::Url::parse(&location(&response)).unwrap();
    assert!(
        authorize
            .as_str()
            .starts_with(&format!("{}{AUTHORIZE_PATH}?", app.maropost.uri()))
    );
    let query: std::collections::HashMap<String, String> =
        authorize.query_pairs().into_owned().collect();
    assert_eq!(query["client_id"], CLIENT_ID);
    assert_eq!(
        query["redirect_uri"],
        app.url("/oauth/maropost/callback").as_str()
    );
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["store_domain"], "surf.example.com");
    assert_eq!(query["code_challenge_method"], "S256");
    assert!(query["state"].len() >= 43, "at least 256 bits of state");
    assert!(!authorize.as_str().contains(CLIENT_SECRET));

    // Exec: the callback
    let response = app
        .callback(
            &browser,
            &[("code", "the-code"), ("state", &query["state"])],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/installed");

    // Check: the token request
    let requests = app.token_requests().await;
    assert_eq!(requests.len(), 1);
    let form = &requests[0];
    assert_eq!(form["client_id"], CLIENT_ID);
    assert_eq!(form["client_secret"], CLIENT_SECRET);
    assert_eq!(form["redirect_uri"], query["redirect_uri"]);
    assert_eq!(form["grant_type"], "authorization_code");
    assert_eq!(form["code"], "the-code");
    let challenge = PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(
        form["code_verifier"].clone(),
    ));
    assert_eq!(challenge.as_str(), query["code_challenge"]);

    // Check: the stored row
    let row: (
        String,
        String,
        String,
        String,
        String,
        String,
        String,
        String,
        String,
    ) = sqlx::query_as(
        "SELECT provider, account_id, store_domain, store_name, timezone, scope,
                    user_email, initiated_by, status FROM installs",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        row,
        (
            "maropost".into(),
            "store-1234".into(),
            "surf.example.com".into(),
            "Ryan's Surf Shop".into(),
            "Australia/Brisbane".into(),
            "api user address".into(),
            "ryan@example.com".into(),
            "storelink".into(),
            "active".into()
        )
    );
    let billing: String = sqlx::query_scalar("SELECT billing_address FROM installs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(billing.contains("Brisbane"));
    assert_eq!(app.count("SELECT COUNT(*) FROM credentials").await, 1);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'install'")
            .await,
        1
    );

    // Check: the success page names the store, and a reload shows it again
    for _ in 0..2 {
        let page = browser.get(app.url("/installed")).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let body = page.text().await.unwrap();
        assert!(
            body.contains("Ryan&#39;s Surf Shop is connected")
                || body.contains("Ryan&#x27;s Surf Shop is connected"),
            "{body}"
        );
        assert!(body.contains("surf.example.com"));
        assert!(body.contains("What happens next"));
    }
    assert_eq!(
        app.token_requests().await.len(),
        1,
        "a reload replays nothing"
    );
}

#[tokio::test]
async fn success_page_is_only_for_the_browser_that_installed() {
    let app = spawn_app().await;
    app.install(&browser(), "s1", "a.example.com", "tok").await;
    let stranger = browser().get(app.url("/installed")).send().await.unwrap();
    assert_eq!(stranger.status(), 404);
}

#[tokio::test]
async fn replayed_state_is_refused_without_calling_the_token_endpoint() {
    let app = spawn_app().await;
    app.token_endpoint_answers(ResponseTemplate::new(200).set_body_json(token_answer(
        "s1",
        "a.example.com",
        "tok",
    )))
    .await;
    let browser = browser();
    let authorize = app.start_install(&browser, "a.example.com").await;
    let params = [("code", "c1"), ("state", authorize["state"].as_str())];
    assert_eq!(app.callback(&browser, &params).await.status(), 303);

    let replay = app.callback(&browser, &params).await;
    assert_eq!(replay.status(), 400);
    assert!(replay.text().await.unwrap().contains("already been used"));
    assert_eq!(app.token_requests().await.len(), 1);
}

#[tokio::test]
async fn forged_state_is_refused() {
    let app = spawn_app().await;
    let browser = browser();
    app.start_install(&browser, "a.example.com").await;
    for forged in ["forged-state", "", &"x".repeat(5000)] {
        let response = app
            .callback(&browser, &[("code", "c1"), ("state", forged)])
            .await;
        assert_eq!(response.status(), 400, "{forged:.20}");
        assert!(
            response
                .text()
                .await
                .unwrap()
                .contains("not one that storelink started")
        );
    }
    assert!(app.token_requests().await.is_empty());
    assert_eq!(app.count("SELECT COUNT(*) FROM installs").await, 0);
}

#[tokio::test]
async fn state_from_another_browser_is_refused() {
    let app = spawn_app().await;
    let merchant = browser();
    let attacker = browser();
    let authorize = app.start_install(&merchant, "a.example.com").await;

    let response = app
        .callback(&attacker, &[("code", "c1"), ("state", &authorize["state"])])
        .await;
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("another browser"));
    assert!(app.token_requests().await.is_empty());

    // The merchant's own flow is unharmed by the attempt.
    app.token_endpoint_answers(ResponseTemplate::new(200).set_body_json(token_answer(
        "s1",
        "a.example.com",
        "tok",
    )))
    .await;
    let response = app
        .callback(&merchant, &[("code", "c1"), ("state", &authorize["state"])])
        .await;
    assert_eq!(response.status(), 303);
}

#[tokio::test]
async fn expired_state_is_refused() {
    let app = spawn_app().await;
    let browser = browser();
    let authorize = app.start_install(&browser, "a.example.com").await;
    app.clock
        .advance(time::Duration::minutes(10) + time::Duration::seconds(1));

    let response = app
        .callback(&browser, &[("code", "c1"), ("state", &authorize["state"])])
        .await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("expired"));
    assert!(app.token_requests().await.is_empty());
}

#[tokio::test]
async fn state_just_inside_ten_minutes_is_accepted() {
    let app = spawn_app().await;
    app.token_endpoint_answers(ResponseTemplate::new(200).set_body_json(token_answer(
        "s1",
        "a.example.com",
        "tok",
    )))
    .await;
    let browser = browser();
    let authorize = app.start_install(&browser, "a.example.com").await;
    app.clock
        .advance(time::Duration::minutes(9) + time::Duration::seconds(59));
    let response = app
        .callback(&browser, &[("code", "c1"), ("state", &authorize["state"])])
        .await;
    assert_eq!(response.status(), 303);
}

#[tokio::test]
async fn denied_ends_on_a_friendly_page_and_spends_the_state() {
    let app = spawn_app().await;
    let browser = browser();
    let authorize = app.start_install(&browser, "a.example.com").await;

    let response = app
        .callback(
            &browser,
            &[
                ("error", "access_denied"),
                ("error_description", "The user denied access"),
                ("state", &authorize["state"]),
            ],
        )
        .await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    assert!(body.contains("Installation cancelled"));
    assert!(body.contains("Try again"));

    let later = app
        .callback(&browser, &[("code", "c1"), ("state", &authorize["state"])])
        .await;
    assert_eq!(later.status(), 400);
    assert!(app.token_requests().await.is_empty());
    assert_eq!(app.count("SELECT COUNT(*) FROM installs").await, 0);
}

#[tokio::test]
async fn other_provider_errors_are_named() {
    let app = spawn_app().await;
    let browser = browser();
    let authorize = app.start_install(&browser, "a.example.com").await;
    let response = app
        .callback(
            &browser,
            &[
                ("error", "server_error"),
                ("error_description", "<b>Maintenance</b>"),
                ("state", &authorize["state"]),
            ],
        )
        .await;
    assert_eq!(response.status(), 502);
    let body = response.text().await.unwrap();
    assert!(body.contains("server_error"));
    assert!(!body.contains("<b>Maintenance</b>"), "escaped");
    assert!(app.token_requests().await.is_empty());
}

/// Runs one callback against a token endpoint answering `answer`; returns status and page.
async fn callback_with_token_answer(app: &TestApp, answer: ResponseTemplate) -> (u16, String) {
    app.token_endpoint_answers(answer).await;
    let browser = browser();
    let authorize = app.start_install(&browser, "a.example.com").await;
    let response = app
        .callback(&browser, &[("code", "c1"), ("state", &authorize["state"])])
        .await;
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn assert_nothing_stored(app: &TestApp) {
    assert_eq!(app.count("SELECT COUNT(*) FROM installs").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM credentials").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log").await, 0);
}

#[tokio::test]
async fn provider_invalid_grant_is_named_and_nothing_is_stored() {
    let app = spawn_app().await;
    let (status, body) = callback_with_token_answer(
        &app,
        ResponseTemplate::new(400).set_body_json(serde_json::json!({
            "error": "invalid_grant",
            "error_description": "Code doesn't exist or is invalid for the client"
        })),
    )
    .await;
    assert_eq!(status, 502);
    assert!(body.contains("invalid_grant"));
    assert!(body.contains("Code doesn"));
    assert_nothing_stored(&app).await;
}

#[tokio::test]
async fn non_json_answer_is_named_and_nothing_is_stored() {
    let app = spawn_app().await;
    let (status, body) = callback_with_token_answer(
        &app,
        ResponseTemplate::new(200).set_body_string("<html>Service unavailable</html>"),
    )
    .await;
    assert_eq!(status, 502);
    assert!(body.contains("not JSON"));
    assert_nothing_stored(&app).await;
}

#[tokio::test]
async fn answer_without_access_token_is_named_and_nothing_is_stored() {
    let app = spawn_app().await;
    let mut answer = token_answer("s1", "a.example.com", "x");
    answer.as_object_mut().unwrap().remove("access_token");
    let (status, body) =
        callback_with_token_answer(&app, ResponseTemplate::new(200).set_body_json(answer)).await;
    assert_eq!(status, 502);
    assert!(body.contains("without an access token"));
    assert_nothing_stored(&app).await;
}

#[tokio::test]
async fn server_error_status_is_named() {
    let app = spawn_app().await;
    let (status, body) =
        callback_with_token_answer(&app, ResponseTemplate::new(503).set_body_string("down")).await;
    assert_eq!(status, 502);
    assert!(body.contains("HTTP status 503"));
    assert_nothing_stored(&app).await;
}

#[tokio::test]
async fn hostile_store_domain_in_the_answer_is_refused() {
    let app = spawn_app().await;
    let (status, body) = callback_with_token_answer(
        &app,
        ResponseTemplate::new(200).set_body_json(token_answer("s1", "169.254.169.254", "tok")),
    )
    .await;
    assert_eq!(status, 502);
    assert!(body.contains("invalid store_domain"));
    assert_nothing_stored(&app).await;
}

#[tokio::test]
async fn provider_timeout_is_a_504() {
    let app = spawn_with(Options {
        http_timeout: Duration::from_millis(500),
        ..Options::default()
    })
    .await;
    let (status, body) = callback_with_token_answer(
        &app,
        ResponseTemplate::new(200)
            .set_body_json(token_answer("s1", "a.example.com", "tok"))
            .set_delay(Duration::from_secs(3)),
    )
    .await;
    assert_eq!(status, 504);
    assert!(body.contains("did not answer in time"));
    assert_nothing_stored(&app).await;
}

#[tokio::test]
async fn refused_connection_is_a_502() {
    let port = closed_port();
    let app = spawn_with(Options {
        token_url: Some(
            url::Url::parse(&format!("http://127.0.0.1:{port}/oauth/v2/token")).unwrap(),
        ),
        ..Options::default()
    })
    .await;
    let browser = browser();
    let authorize = app.start_install(&browser, "a.example.com").await;
    let response = app
        .callback(&browser, &[("code", "c1"), ("state", &authorize["state"])])
        .await;
    assert_eq!(response.status(), 502);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("could not be reached")
    );
    assert_nothing_stored(&app).await;
}

#[tokio::test]
async fn token_endpoint_redirects_are_not_followed() {
    let app = spawn_app().await;
    let (status, _) = callback_with_token_answer(
        &app,
        ResponseTemplate::new(302).insert_header("location", "http://127.0.0.1:1/steal"),
    )
    .await;
    assert_eq!(status, 502);
    assert_eq!(app.token_requests().await.len(), 1);
    assert_nothing_stored(&app).await;
}

#[tokio::test]
async fn panel_initiated_install_is_accepted_and_recorded() {
    let app = spawn_app().await;
    app.token_endpoint_answers(ResponseTemplate::new(200).set_body_json(token_answer(
        "s9",
        "panel.example.com",
        "tok",
    )))
    .await;
    let browser = browser();
    let response = app.callback(&browser, &[("code", "panel-code")]).await;
    assert_eq!(response.status(), 303);

    let requests = app.token_requests().await;
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0]["code"], "panel-code");
    assert!(!requests[0].contains_key("code_verifier"));
    let initiated: String = sqlx::query_scalar("SELECT initiated_by FROM installs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(initiated, "panel");
    // Issue 14, item 8: a browser that never started a flow here is shown a neutral page that
    // names no store (this assertion used to expect the store's domain).
    let page = browser.get(app.url("/installed")).send().await.unwrap();
    let page = page.text().await.unwrap();
    assert!(page.contains("Installation complete"), "{page}");
    assert!(!page.contains("panel.example.com"), "{page}");
}

#[tokio::test]
async fn panel_initiated_install_is_refused_when_turned_off() {
    let app = spawn_with(Options {
        accept_panel_installs: false,
        ..Options::default()
    })
    .await;
    let response = app.callback(&browser(), &[("code", "panel-code")]).await;
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("control panel"));
    assert!(app.token_requests().await.is_empty());
    assert_nothing_stored(&app).await;
}

#[tokio::test]
async fn callback_without_code_or_with_a_malformed_one_is_refused() {
    let app = spawn_app().await;
    let browser = browser();
    let authorize = app.start_install(&browser, "a.example.com").await;
    for params in [
        vec![("state", authorize["state"].as_str())],
        vec![("code", ""), ("state", authorize["state"].as_str())],
        vec![
            ("code", "has space"),
            ("state", authorize["state"].as_str()),
        ],
    ] {
        let response = app.callback(&browser, &params).await;
        assert_eq!(response.status(), 400, "{params:?}");
    }
    let long = "c".repeat(5000);
    let response = app.callback(&browser, &[("code", &long)]).await;
    assert_eq!(response.status(), 400);
    assert!(app.token_requests().await.is_empty());
}

#[tokio::test]
async fn reinstall_updates_the_same_row_and_is_audited() {
    let app = spawn_app().await;
    let browser = browser();
    app.install(&browser, "store-7", "old.example.com", "token-one")
        .await;
    let (id, sealed_before): (String, Vec<u8>) =
        sqlx::query_as("SELECT install_id, ciphertext FROM credentials")
            .fetch_one(&app.db)
            .await
            .unwrap();

    app.install(&browser, "store-7", "new.example.com", "token-two")
        .await;

    assert_eq!(app.count("SELECT COUNT(*) FROM installs").await, 1);
    let (id_after, domain): (String, String) =
        sqlx::query_as("SELECT id, store_domain FROM installs")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(id_after, id);
    assert_eq!(domain, "new.example.com");
    let sealed_after: Vec<u8> = sqlx::query_scalar("SELECT ciphertext FROM credentials")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_ne!(sealed_after, sealed_before);
    let actions: Vec<(String, String)> =
        sqlx::query_as("SELECT action, detail FROM audit_log ORDER BY id")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(actions.len(), 2);
    assert_eq!(actions[0].0, "install");
    assert_eq!(actions[1].0, "reinstall");
    assert!(actions[1].1.contains("domain was old.example.com"));
    let page = browser.get(app.url("/installed")).send().await.unwrap();
    assert!(page.text().await.unwrap().contains("connected before"));
}

#[tokio::test]
async fn hostile_store_domains_are_refused_before_any_redirect() {
    let app = spawn_app().await;
    let browser = browser();
    for domain in [
        "ftp://evil.example/",
        "evil.example:8080",
        "user@evil.example",
        "127.0.0.1",
        "[::1]",
        "localhost",
        "evil.example/path",
        "https://evil.example/path",
        "https://evil.example:8443/",
        "nodot",
        "evil example.com",
        "",
    ] {
        let response = browser
            .get(app.url("/install/maropost"))
            .query(&[("store_domain", domain)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{domain}");
        assert!(response.headers().get("location").is_none());
        let body = response.text().await.unwrap();
        assert!(
            body.contains("store_domain_error"),
            "the form says why: {domain}"
        );
        assert!(body.contains("<form"), "the landing form is shown again");

        let posted = browser
            .post(app.url("/install/maropost"))
            .form(&[("store_domain", domain)])
            .send()
            .await
            .unwrap();
        assert_eq!(posted.status(), 400, "POST {domain}");
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM oauth_states").await, 0);
    assert!(
        app.maropost
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty()
    );
}

#[tokio::test]
async fn install_started_by_post_works_too() {
    let app = spawn_app().await;
    let response = browser()
        .post(app.url("/install/maropost"))
        .form(&[("store_domain", "shop.example.com")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert!(location(&response).contains("store_domain=shop.example.com"));
}

#[tokio::test]
async fn a_pasted_store_address_starts_the_install_for_its_domain() {
    let app = spawn_app().await;
    for pasted in [
        "https://mystore.neto.com.au/",
        "mystore.neto.com.au/",
        "http://MyStore.neto.com.au",
    ] {
        let response = browser()
            .get(app.url("/install/maropost"))
            .query(&[("store_domain", pasted)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303, "{pasted}");
        let authorize = url::Url::parse(&location(&response)).unwrap();
        let domain = authorize
            .query_pairs()
            .find(|(k, _)| k == "store_domain")
            .map(|(_, v)| v.into_owned());
        assert_eq!(domain.as_deref(), Some("mystore.neto.com.au"), "{pasted}");
    }
}
