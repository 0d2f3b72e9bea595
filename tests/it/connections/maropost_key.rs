//! Maropost API-key connections against a stand-in store API (wiremock): the key proved with
//! one call before anything is stored, sent as `NETOAPI_KEY` (and `NETOAPI_USERNAME`) on every
//! call, never as an add-on's headers.

use serde_json::{Value, json};
use wiremock::{
    Mock, Request, Respond, ResponseTemplate,
    matchers::{method, path},
};

use super::*;
use crate::{
    api::{ok_json, problem},
    bol::header,
};

const DOMAIN: &str = "keyed-store.example.com";
const KEY: &str = "MaropostKey0123456789";
const USER: &str = "warehouse";
const API: &str = "/maropost/keyed-store.example.com/do/WS/NetoAPI";

/// The store's API: the right key and user, else `Ack: Error` (as Maropost answers).
struct Store;

impl Respond for Store {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if header(request, "netoapi_key") != KEY || header(request, "netoapi_username") != USER {
            return ResponseTemplate::new(200).set_body_json(json!({
                "Ack": "Error",
                "Messages": [{"Error": {"Message": "Invalid API key", "SeverityLevel": "Error"}}]
            }));
        }
        ResponseTemplate::new(200)
            .set_body_json(json!({"Ack": "Success", "Order": [{"OrderID": "N1"}]}))
    }
}

async fn store(app: &TestApp) {
    Mock::given(method("POST"))
        .and(path(API))
        .respond_with(Store)
        .mount(&app.maropost)
        .await;
}

fn body() -> Value {
    json!({"platform": "maropost", "store_domain": DOMAIN, "api_key": KEY, "username": USER})
}

#[tokio::test]
async fn a_key_is_proved_stored_sealed_and_sent_as_netoapi_key() {
    let app = spawn_app().await;
    store(&app).await;
    let key = app.api_key("backend").await;
    let install = created(app.connect(&key, &body()).await).await;
    assert_eq!(install["platform"], "maropost");
    assert_eq!(install["auth_kind"], "api_key");
    assert_eq!(install["account_id"], DOMAIN, "keyed by the store's domain");
    assert_eq!(install["store_domain"], DOMAIN);
    let id = install["id"].as_str().unwrap().to_owned();
    let proof = &app.requests_to(API).await[0];
    assert_eq!(header(proof, "netoapi_action"), "GetOrder");
    assert!(proof.headers.get("x_access_key").is_none());
    assert!(proof.headers.get("x_secret_key").is_none());

    // The key is sealed, and handed out as what it is.
    let stored: Vec<u8> =
        sqlx::query_scalar("SELECT ciphertext FROM credentials WHERE install_id = $1")
            .bind(&id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(!String::from_utf8_lossy(&stored).contains(KEY));
    let token = ok_json(
        app.api_post(&key, &format!("/api/v1/installs/{id}/access-token"))
            .await,
    )
    .await;
    assert_eq!(token["access_token"], KEY);
    assert_eq!(token["token_type"], "NETOAPI_KEY");
    assert_eq!(token["netoapi_username"], USER);
    assert!(token["expires_at"].is_null());
    assert!(token.get("x_access_key").is_none());

    // Through the proxy: the backend's own credential headers never pass; the key is added.
    let proxied = crate::api::backend()
        .post(app.url(&format!("/api/v1/installs/{id}/proxy")))
        .bearer_auth(&key)
        .header("NETOAPI_ACTION", "GetOrder")
        .header("NETOAPI_KEY", "spoofed")
        .header("x_access_key", "spoofed")
        .json(&json!({"Filter": {"OrderID": "N1"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(proxied.status(), 200);
    let requests = app.requests_to(API).await;
    let forwarded = requests.last().unwrap();
    assert_eq!(header(forwarded, "netoapi_key"), KEY);
    assert_eq!(header(forwarded, "netoapi_username"), USER);
    assert!(forwarded.headers.get("x_access_key").is_none());

    // Test connection from the console uses the key too.
    let mut operator = app.operator().await;
    let tested = operator.test_connection(&id).await;
    assert!(
        tested.contains("Connection test passed: Maropost answered GetOrder"),
        "{tested}"
    );
}

#[tokio::test]
async fn a_refused_key_or_a_bad_domain_stores_nothing() {
    let app = spawn_app().await;
    store(&app).await;
    let key = app.api_key("backend").await;
    let mut wrong = body();
    wrong["api_key"] = json!("NotTheKey");
    let refused = problem(app.connect(&key, &wrong).await, 502).await;
    let detail = refused["detail"].as_str().unwrap();
    assert!(
        detail.contains("refused this API key") && detail.contains("Invalid API key"),
        "{detail}"
    );
    assert!(!detail.contains("NotTheKey"));
    let proofs = app.requests_to(API).await.len();
    for (field, value) in [
        ("store_domain", json!("localhost")),
        ("store_domain", json!("https://keyed-store.example.com/")),
        ("store_domain", json!("10.0.0.1")),
        ("api_key", json!("")),
        ("api_key", json!("two words")),
        ("username", json!("a\u{0}b")),
    ] {
        let mut bad = body();
        bad[field] = value;
        let refused = problem(app.connect(&key, &bad).await, 400).await;
        assert_eq!(refused["parameter"], field, "{refused}");
    }
    assert_eq!(
        app.requests_to(API).await.len(),
        proofs,
        "nothing sent for a bad field"
    );
    assert_eq!(app.stored().await, (0, 0));
}
