//! commercetools projects against stand-in auth and API hosts (wiremock under `/ct/auth/{region}`
//! and `/ct/api/{region}`): the client-credentials token at the region's host, reused until
//! shortly before it expires, single flight, refusals; and a project's own connection reached
//! through the sandbox Merchant Center gateway.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
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
    bol::{basic, form, header},
};

const CLIENT: &str = "ct-client-1";
const SECRET: &str = "ct-secret-9f0e1d";
const KEY: &str = "acme-shop";
const TOKEN_PATH: &str = "/ct/auth/europe-west1.gcp/oauth/token";
const PROJECT_PATH: &str = "/ct/api/europe-west1.gcp/acme-shop";

/// The region's auth host: Basic auth, the project's scopes only; counts the tokens it issues.
#[derive(Clone, Default)]
struct Auth {
    issued: Arc<AtomicUsize>,
    delay: Duration,
}

impl Respond for Auth {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if header(request, "authorization") != basic(CLIENT, SECRET) {
            return ResponseTemplate::new(401).set_body_json(json!({
                "statusCode": 401, "message": "Please provide valid client credentials.",
                "errors": [{"code": "invalid_client", "message": "Please provide valid client credentials."}],
                "error": "invalid_client", "error_description": "Please provide valid client credentials."
            }));
        }
        let form = form(request);
        if form.get("scope").map(String::as_str) != Some("manage_project:acme-shop") {
            return ResponseTemplate::new(400).set_body_json(
                json!({"error": "invalid_scope", "error_description": "not granted"}),
            );
        }
        let n = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
        ResponseTemplate::new(200)
            .set_body_json(
                json!({"access_token": format!("ct-{n}"), "expires_in": 172800,
                                  "scope": "manage_project:acme-shop", "token_type": "Bearer"}),
            )
            .set_delay(self.delay)
    }
}

/// The project and its orders, for a `ct-N` token.
struct Api;

impl Respond for Api {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if !header(request, "authorization").starts_with("Bearer ct-") {
            return ResponseTemplate::new(401).set_body_json(json!({
                "statusCode": 401, "message": "invalid_token",
                "errors": [{"code": "invalid_token", "message": "invalid_token"}]
            }));
        }
        ResponseTemplate::new(200)
            .set_body_json(json!({"key": KEY, "name": "Acme Shop", "results": []}))
    }
}

async fn hosts(app: &TestApp, auth: Auth) {
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(auth)
        .mount(&app.maropost)
        .await;
    for p in [PROJECT_PATH, "/ct/api/europe-west1.gcp/acme-shop/orders"] {
        Mock::given(method("GET"))
            .and(path(p))
            .respond_with(Api)
            .mount(&app.maropost)
            .await;
    }
}

fn body() -> Value {
    json!({"platform": "commercetools", "region": "gcp-eu", "project_key": KEY,
           "client_id": CLIENT, "client_secret": SECRET})
}

#[tokio::test]
async fn a_project_is_added_tested_used_and_its_token_reused_until_it_is_due() {
    let app = spawn_app().await;
    let auth = Auth::default();
    hosts(&app, auth.clone()).await;
    let key = app.api_key("backend").await;
    let install = created(app.connect(&key, &body()).await).await;
    assert_eq!(install["platform"], "commercetools");
    assert_eq!(install["auth_kind"], "client_credentials");
    assert_eq!(install["account_id"], "gcp-eu:acme-shop");
    assert_eq!(install["scopes"], json!(["manage_project:acme-shop"]));
    let id = install["id"].as_str().unwrap().to_owned();
    let asked = &app.requests_to(TOKEN_PATH).await[0];
    assert_eq!(form(asked)["grant_type"], "client_credentials");
    assert_eq!(asked.url.query(), None, "nothing in the URL");
    assert!(!String::from_utf8_lossy(&asked.body).contains(SECRET));
    assert_eq!(
        app.credential_kinds(&id).await,
        ["access_token", "client_secret"]
    );

    let mut operator = app.operator().await;
    let tested = operator.test_connection(&id).await;
    assert!(tested.contains("Connection test passed: commercetools answered GET /{projectKey} for project acme-shop (Acme Shop)"), "{tested}");

    // Used many times within its life: one token.
    for _ in 0..5 {
        let orders = app
            .api_get(&key, &format!("/api/v1/installs/{id}/proxy/orders"))
            .await;
        assert_eq!(orders.status(), 200);
    }
    let token = ok_json(
        app.api_post(&key, &format!("/api/v1/installs/{id}/access-token"))
            .await,
    )
    .await;
    assert_eq!(token["access_token"], "ct-1");
    assert!(
        token["api_base_url"]
            .as_str()
            .unwrap()
            .ends_with(PROJECT_PATH)
    );
    assert_eq!(auth.issued.load(Ordering::SeqCst), 1);

    // Shortly before it expires, twenty uses at once share one new token.
    app.advance(172_800 - 200);
    let path = format!("/api/v1/installs/{id}/access-token");
    let answers = futures::future::join_all((0..20).map(|_| app.api_post(&key, &path))).await;
    for answer in answers {
        assert_eq!(ok_json(answer).await["access_token"], "ct-2");
    }
    assert_eq!(auth.issued.load(Ordering::SeqCst), 2);

    // Revoked: nothing kept, nothing served.
    let revoked = ok_json(
        app.api_post(&key, &format!("/api/v1/installs/{id}/revoke"))
            .await,
    )
    .await;
    assert_eq!(revoked["status"], "revoked");
    assert!(app.credential_kinds(&id).await.is_empty());
    problem(app.api_post(&key, &path).await, 410).await;
}

#[tokio::test]
async fn bad_input_and_refusals_store_nothing() {
    let app = spawn_app().await;
    hosts(&app, Auth::default()).await;
    let key = app.api_key("backend").await;
    let with = |field: &str, value: Value| {
        let mut b = body();
        b[field] = value;
        b
    };
    for (bad, field) in [
        (with("region", json!("eu-west")), "region"),
        (with("region", json!("aws-cn")), "region"),
        (with("project_key", json!("Acme Shop")), "project_key"),
        (with("project_key", json!("../admin")), "project_key"),
        (with("client_secret", json!("")), "client_secret"),
        (with("scope", json!("manage_project:someone-else")), "scope"),
    ] {
        let refused = problem(app.connect(&key, &bad).await, 400).await;
        assert_eq!(refused["parameter"], field, "{refused}");
    }
    assert!(app.requests_to(TOKEN_PATH).await.is_empty());
    let refused = problem(
        app.connect(&key, &with("client_secret", json!("wrong")))
            .await,
        502,
    )
    .await;
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("invalid_client"),
        "{refused}"
    );
    let refused = problem(
        app.connect(&key, &with("scope", json!("view_orders:acme-shop")))
            .await,
        502,
    )
    .await;
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("invalid_scope"),
        "{refused}"
    );
    assert_eq!(app.stored().await, (0, 0));
}

#[tokio::test]
async fn a_custom_application_uses_its_projects_connection_through_the_gateway() {
    let app = spawn_sandbox().await;
    let key = app.api_key("backend").await;
    let page = browser()
        .get(app.url("/sandbox/commercetools"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("sandbox-ct-client") && page.contains("sandbox-shop"),
        "{page}"
    );
    let install = created(
        app.connect(
            &key,
            &json!({"platform": "commercetools", "region": "gcp-eu", "project_key": "sandbox-shop",
                    "client_id": "sandbox-ct-client", "client_secret": "sandbox-ct-secret-5d8e"}),
        )
        .await,
    )
    .await;
    let id = install["id"].as_str().unwrap();
    // The Custom Application's backend call, through the sandbox Merchant Center gateway: no
    // secret in the browser, the project's connection used by storelink.
    let orders = backend()
        .get(app.url("/sandbox/commercetools/mc/proxy/forward-to"))
        .header(
            "X-Forward-To",
            app.url(&format!("/api/v1/installs/{id}/proxy/orders"))
                .to_string(),
        )
        .header("X-Project-Key", "sandbox-shop")
        .header("Accept-version", "v2")
        .send()
        .await
        .unwrap();
    let orders = ok_json(orders).await;
    assert_eq!(orders["total"], 2, "{orders}");
    // Another project sees nothing of it.
    let other = backend()
        .get(app.url("/sandbox/commercetools/mc/proxy/forward-to"))
        .header(
            "X-Forward-To",
            app.url(&format!("/api/v1/installs/{id}")).to_string(),
        )
        .header("X-Project-Key", "other-shop")
        .header("Accept-version", "v2")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
    // And a Merchant Center user cannot add connections.
    let add = backend()
        .post(app.url("/sandbox/commercetools/mc/proxy/forward-to"))
        .header("X-Forward-To", app.url("/api/v1/connections").to_string())
        .header("X-Project-Key", "sandbox-shop")
        .header("Accept-version", "v2")
        .json(&json!({"platform": "commercetools"}))
        .send()
        .await
        .unwrap();
    assert_eq!(add.status(), 403);
}
