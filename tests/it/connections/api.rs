//! `POST /api/v1/connections` as an endpoint: it takes a key, reads one JSON object within a
//! limit, and says which platform or field is wrong; the document describes every kind.

use serde_json::json;

use super::*;
use crate::api::problem;

#[tokio::test]
async fn it_needs_a_key_and_a_readable_body() {
    let app = spawn_app().await;
    let body = json!({"platform": "bol", "client_id": "a", "client_secret": "b"});
    let anonymous = backend()
        .post(app.url("/api/v1/connections"))
        .json(&body)
        .send()
        .await
        .unwrap();
    problem(anonymous, 401).await;
    let key = app.api_key("backend").await;
    let unknown = problem(
        app.connect(&key, &json!({"platform": "shopify"})).await,
        400,
    )
    .await;
    assert!(
        unknown["detail"].as_str().unwrap().contains("shopify"),
        "{unknown}"
    );
    problem(app.connect(&key, &json!({"client_id": "a"})).await, 400).await;
    problem(app.connect(&key, &json!(["bol"])).await, 400).await;
    let empty = backend()
        .post(app.url("/api/v1/connections"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    problem(empty, 400).await;
    let huge = json!({"platform": "bol", "client_id": "a", "client_secret": "x".repeat(20_000)});
    problem(app.connect(&key, &huge).await, 413).await;
    assert_eq!(app.stored().await, (0, 0));
}

#[tokio::test]
async fn the_document_describes_each_kind() {
    let app = spawn_app().await;
    let doc: serde_json::Value = backend()
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let operation = &doc["paths"]["/api/v1/connections"]["post"];
    for status in ["201", "400", "401", "413", "502", "504"] {
        assert!(operation["responses"].get(status).is_some(), "{status}");
    }
    let text = doc["components"]["schemas"].to_string();
    for field in [
        "store_domain",
        "api_key",
        "grant_type",
        "client_secret",
        "scope",
    ] {
        assert!(text.contains(field), "{field}");
    }
    let secrets = &doc["components"]["schemas"]["MarketplaceRequest"]["properties"]["password"];
    assert_eq!(secrets["format"], "password", "{secrets}");
}
