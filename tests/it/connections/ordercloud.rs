//! OrderCloud marketplaces against a stand-in marketplace (wiremock under `/ordercloud`, which is
//! `ORDERCLOUD_API_URL`): the password and client-credentials grants, renewal with the refresh
//! token or the stored grant, single flight, refusals and bad answers.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use serde_json::{Value, json};
use wiremock::{
    Mock, Request, Respond, ResponseTemplate,
    matchers::{method, path},
};

use super::*;
use crate::{
    api::{ok_json, problem},
    bol::form,
};

const CLIENT: &str = "oc-client-7e21";
const USER: &str = "admin01";
const PASSWORD: &str = "pass-word-oc-1";
const TOKEN_PATH: &str = "/ordercloud/oauth/token";

/// The stand-in marketplace's token endpoint: counts what it issues (`at-N`, `rt-N`).
#[derive(Clone, Default)]
struct Marketplace {
    issued: Arc<AtomicUsize>,
    refresh_tokens: bool,
    refuse_refresh: Arc<AtomicBool>,
    refuse_password: Arc<AtomicBool>,
    delay: Duration,
}

impl Respond for Marketplace {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let form = form(request);
        let refuse = |code: &str| {
            ResponseTemplate::new(400)
                .set_body_json(json!({"error": code, "error_description": "refused"}))
        };
        if form.get("client_id").map(String::as_str) != Some(CLIENT) {
            return refuse("InvalidGrant");
        }
        let ok = match form.get("grant_type").map(String::as_str) {
            Some("password") => {
                !self.refuse_password.load(Ordering::SeqCst)
                    && form.get("username").map(String::as_str) == Some(USER)
                    && form.get("password").map(String::as_str) == Some(PASSWORD)
            }
            Some("client_credentials") => true,
            Some("refresh_token") => {
                if self.refuse_refresh.load(Ordering::SeqCst) {
                    return refuse("InvalidGrant");
                }
                form.get("refresh_token")
                    .is_some_and(|t| t.starts_with("rt-"))
            }
            _ => false,
        };
        if !ok {
            return refuse("InvalidCredentials");
        }
        let n = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
        let mut answer =
            json!({"access_token": format!("at-{n}"), "expires_in": 600, "token_type": "bearer"});
        if self.refresh_tokens {
            answer["refresh_token"] = json!(format!("rt-{n}"));
        }
        ResponseTemplate::new(200)
            .set_body_json(answer)
            .set_delay(self.delay)
    }
}

/// `/v1/me` and `/v1/orders/Incoming`: a bearer `at-N` token, else OrderCloud's 401.
struct Api;

impl Respond for Api {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let authorized = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("Bearer at-"));
        if !authorized {
            return ResponseTemplate::new(401).set_body_json(json!({"Errors": [
                {"ErrorCode": "InvalidToken", "Message": "Access token is invalid or expired."}
            ]}));
        }
        ResponseTemplate::new(200)
            .set_body_json(json!({"ID": "u-1", "Username": USER, "Items": []}))
    }
}

async fn marketplace(app: &TestApp, stand_in: Marketplace) {
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(stand_in)
        .mount(&app.maropost)
        .await;
    for p in ["/ordercloud/v1/me", "/ordercloud/v1/orders/Incoming"] {
        Mock::given(method("GET"))
            .and(path(p))
            .respond_with(Api)
            .mount(&app.maropost)
            .await;
    }
}

fn password_body() -> Value {
    json!({"platform": "ordercloud", "client_id": CLIENT, "grant_type": "password",
           "username": USER, "password": PASSWORD, "name": "Acme B2B"})
}

#[tokio::test]
async fn a_marketplace_is_added_in_the_console_tested_used_and_renewed_with_its_refresh_token() {
    let app = spawn_app().await;
    let stand_in = Marketplace {
        refresh_tokens: true,
        ..Marketplace::default()
    };
    marketplace(&app, stand_in.clone()).await;
    let mut operator = app.operator().await;
    operator
        .form_page("/console/connections/ordercloud/new")
        .await;
    let response = operator
        .post_form(
            "/console/connections/ordercloud",
            &[
                ("name", "Acme B2B"),
                ("client_id", CLIENT),
                ("grant_type", "password"),
                ("username", USER),
                ("password", PASSWORD),
                ("scope", "OrderAdmin  MeAdmin"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let id = location(&response).rsplit('/').next().unwrap().to_owned();
    // What was asked: the password grant, with the roles as typed (normalized).
    let asked = form(&app.requests_to(TOKEN_PATH).await[0]);
    assert_eq!(asked["grant_type"], "password");
    assert_eq!(asked["scope"], "OrderAdmin MeAdmin");
    assert!(!asked.contains_key("client_secret"), "none was entered");
    // What was kept: the password and refresh token sealed, the user and host as they are.
    assert_eq!(
        app.credential_kinds(&id).await,
        ["access_token", "password", "refresh_token"]
    );
    assert_eq!(
        app.install_field::<String>(&id, "auth_kind").await,
        "password"
    );
    assert_eq!(app.install_field::<String>(&id, "username").await, USER);
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("SELECT ciphertext FROM credentials")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert!(
        stored
            .iter()
            .all(|c| !String::from_utf8_lossy(c).contains(PASSWORD))
    );
    let shown = operator.get(&format!("/console/installs/{id}")).await;
    assert!(
        shown.contains("Acme B2B") && shown.contains("password grant"),
        "{shown}"
    );
    assert!(!shown.contains(PASSWORD));
    let tested = operator.test_connection(&id).await;
    assert!(
        tested.contains(
            "Connection test passed: Sitecore OrderCloud answered GET /v1/me for admin01"
        ),
        "{tested}"
    );

    // Through the API: the token, and a call through the proxy with it.
    let key = app.api_key("backend").await;
    let token = ok_json(
        app.api_post(&key, &format!("/api/v1/installs/{id}/access-token"))
            .await,
    )
    .await;
    assert_eq!(token["access_token"], "at-1");
    assert_eq!(token["token_type"], "Bearer");
    assert!(
        token["api_base_url"]
            .as_str()
            .unwrap()
            .ends_with("/ordercloud")
    );
    let orders = app
        .api_get(
            &key,
            &format!("/api/v1/installs/{id}/proxy/v1/orders/Incoming"),
        )
        .await;
    assert_eq!(orders.status(), 200);

    // Close to expiry, the next use renews it with the refresh token, once.
    app.advance(560);
    let token = ok_json(
        app.api_post(&key, &format!("/api/v1/installs/{id}/access-token"))
            .await,
    )
    .await;
    assert_eq!(token["access_token"], "at-2");
    let requests = app.requests_to(TOKEN_PATH).await;
    assert_eq!(requests.len(), 2);
    let renewal = form(&requests[1]);
    assert_eq!(renewal["grant_type"], "refresh_token");
    assert_eq!(renewal["refresh_token"], "rt-1");
    assert_eq!(stand_in.issued.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn twenty_concurrent_uses_of_an_expired_token_make_one_token_request() {
    let app = spawn_app().await;
    let stand_in = Marketplace {
        delay: Duration::from_millis(150),
        ..Marketplace::default()
    };
    marketplace(&app, stand_in.clone()).await;
    let key = app.api_key("backend").await;
    let body =
        json!({"platform": "ordercloud", "client_id": CLIENT, "grant_type": "client_credentials"});
    let id = created(app.connect(&key, &body).await).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.advance(3600);
    let path = format!("/api/v1/installs/{id}/access-token");
    let uses = (0..20).map(|_| app.api_post(&key, &path));
    let answers = futures::future::join_all(uses).await;
    let mut tokens = Vec::new();
    for answer in answers {
        tokens.push(
            ok_json(answer).await["access_token"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert!(tokens.iter().all(|t| t == "at-2"), "{tokens:?}");
    assert_eq!(
        stand_in.issued.load(Ordering::SeqCst),
        2,
        "one at connect, one renewal"
    );
    // Without refresh tokens, the renewal used the stored grant again.
    let requests = app.requests_to(TOKEN_PATH).await;
    assert_eq!(form(&requests[1])["grant_type"], "client_credentials");
}

#[tokio::test]
async fn a_refused_refresh_token_falls_back_to_the_password_and_a_refused_password_needs_attention()
{
    let app = spawn_app().await;
    let stand_in = Marketplace {
        refresh_tokens: true,
        ..Marketplace::default()
    };
    marketplace(&app, stand_in.clone()).await;
    let key = app.api_key("backend").await;
    let id = created(app.connect(&key, &password_body()).await).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    stand_in.refuse_refresh.store(true, Ordering::SeqCst);
    app.advance(3600);
    let token = ok_json(
        app.api_post(&key, &format!("/api/v1/installs/{id}/access-token"))
            .await,
    )
    .await;
    assert_eq!(token["access_token"], "at-2");
    let grants: Vec<String> = app
        .requests_to(TOKEN_PATH)
        .await
        .iter()
        .map(|r| form(r)["grant_type"].clone())
        .collect();
    assert_eq!(grants, ["password", "refresh_token", "password"]);

    // The user's password changed: the connection needs new credentials.
    stand_in.refuse_password.store(true, Ordering::SeqCst);
    app.advance(3600);
    problem(
        app.api_post(&key, &format!("/api/v1/installs/{id}/access-token"))
            .await,
        409,
    )
    .await;
    assert_eq!(
        app.install_field::<String>(&id, "status").await,
        "needs_attention"
    );
    let reasons = app.audit_details(&id, "needs_attention").await;
    assert!(reasons[0].contains("InvalidCredentials"), "{reasons:?}");
}

#[tokio::test]
async fn refusals_and_bad_answers_store_nothing() {
    let app = spawn_with(Options {
        http_timeout: Duration::from_millis(800),
        ..Options::default()
    })
    .await;
    let key = app.api_key("backend").await;
    marketplace(&app, Marketplace::default()).await;

    // Wrong password: OrderCloud's code, without saying which field was wrong.
    let mut body = password_body();
    body["password"] = json!("not-it");
    let refused = problem(app.connect(&key, &body).await, 502).await;
    let detail = refused["detail"].as_str().unwrap();
    assert!(
        detail.contains("InvalidCredentials") && detail.contains("does not say which"),
        "{detail}"
    );
    assert!(!detail.contains("not-it"));

    // Answers that are not tokens.
    for (answer, expected) in [
        (
            ResponseTemplate::new(200).set_body_string("<html>down</html>"),
            "not JSON",
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!({"expires_in": 600})),
            "without an access token",
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!({"access_token": "x"})),
            "without expires_in",
        ),
        (
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "x".repeat(70_000), "expires_in": 600})),
            "more data",
        ),
        (ResponseTemplate::new(503), "HTTP status 503"),
    ] {
        app.maropost.reset().await;
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .respond_with(answer)
            .mount(&app.maropost)
            .await;
        let refused = problem(app.connect(&key, &password_body()).await, 502).await;
        assert!(
            refused["detail"].as_str().unwrap().contains(expected),
            "{refused}"
        );
    }
    // No answer in time: 504.
    app.maropost.reset().await;
    marketplace(
        &app,
        Marketplace {
            delay: Duration::from_secs(3),
            ..Marketplace::default()
        },
    )
    .await;
    problem(app.connect(&key, &password_body()).await, 504).await;
    assert_eq!(app.stored().await, (0, 0));
}

#[tokio::test]
async fn fields_are_checked_before_anything_is_sent() {
    let app = spawn_app().await;
    marketplace(&app, Marketplace::default()).await;
    let key = app.api_key("backend").await;
    let with = |field: &str, value: Value| {
        let mut body = password_body();
        body[field] = value;
        body
    };
    for (body, field) in [
        // Only the configured host: no request forgery through a URL field.
        (
            with("api_url", json!("https://api.ordercloud.io")),
            "api_url",
        ),
        (
            with("api_url", json!("http://169.254.169.254/latest")),
            "api_url",
        ),
        (with("client_id", json!("")), "client_id"),
        (with("client_id", json!("has spaces")), "client_id"),
        (with("grant_type", json!("implicit")), "grant_type"),
        (with("username", Value::Null), "username"),
        (with("password", json!("")), "password"),
        (with("scope", json!("OrderAdmin; DROP")), "scope"),
        (with("name", json!("x".repeat(101))), "name"),
    ] {
        let refused = problem(app.connect(&key, &body).await, 400).await;
        assert_eq!(refused["parameter"], field, "{refused}");
    }
    assert!(app.requests_to(TOKEN_PATH).await.is_empty());
    assert_eq!(app.stored().await, (0, 0));
}

#[tokio::test]
async fn a_revoked_marketplace_keeps_no_secret_and_serves_no_token() {
    let app = spawn_app().await;
    marketplace(
        &app,
        Marketplace {
            refresh_tokens: true,
            ..Marketplace::default()
        },
    )
    .await;
    let key = app.api_key("backend").await;
    let id = created(app.connect(&key, &password_body()).await).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoked = ok_json(
        app.api_post(&key, &format!("/api/v1/installs/{id}/revoke"))
            .await,
    )
    .await;
    assert_eq!(revoked["status"], "revoked");
    assert!(app.credential_kinds(&id).await.is_empty());
    problem(
        app.api_post(&key, &format!("/api/v1/installs/{id}/access-token"))
            .await,
        410,
    )
    .await;
    // Adding it again brings the same connection back.
    let again = created(app.connect(&key, &password_body()).await).await;
    assert_eq!(again["id"], id.as_str());
    assert_eq!(again["status"], "active");
}
