//! Each kind against the built-in sandboxes, as a new user on `cargo run` adds them: through
//! the API with the credentials the sandbox pages show, then tested and used.

use serde_json::json;

use super::*;
use crate::api::ok_json;

#[tokio::test]
async fn every_kind_connects_to_its_sandbox() {
    let app = spawn_sandbox().await;
    let key = app.api_key("backend").await;

    // OrderCloud: the sandbox marketplace's page lists its clients and users.
    let page = browser()
        .get(app.url("/sandbox/ordercloud"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("sandbox-seller-app") && page.contains("admin01"),
        "{page}"
    );
    for body in [
        json!({"platform": "ordercloud", "client_id": "sandbox-seller-app", "grant_type": "password",
               "username": "admin01", "password": "sandbox-password-01"}),
        json!({"platform": "ordercloud", "client_id": "sandbox-integration",
               "client_secret": "sandbox-integration-secret", "grant_type": "client_credentials"}),
    ] {
        let install = created(app.connect(&key, &body).await).await;
        let id = install["id"].as_str().unwrap();
        let orders = app
            .api_get(
                &key,
                &format!("/api/v1/installs/{id}/proxy/v1/orders/Incoming"),
            )
            .await;
        let orders = ok_json(orders).await;
        assert_eq!(orders["Meta"]["TotalCount"], 2);
    }

    // Maropost: a key made on the sandbox's API keys page.
    let mut operator = app.operator().await;
    let keys_page = operator.get("/sandbox/maropost/api-keys").await;
    assert!(keys_page.contains("Generate API key"));
    let made = operator
        .post_form_bare(
            "/sandbox/maropost/api-keys",
            &[
                ("store_domain", "sandbox-store.neto.com.au"),
                ("username", "warehouse"),
            ],
        )
        .await
        .text()
        .await
        .unwrap();
    let marker = r#"id="api-key">"#;
    let start = made.find(marker).unwrap() + marker.len();
    let api_key = made[start..].split('<').next().unwrap();
    let install = created(
        app.connect(
            &key,
            &json!({"platform": "maropost", "store_domain": "sandbox-store.neto.com.au",
                    "api_key": api_key, "username": "warehouse"}),
        )
        .await,
    )
    .await;
    let tested = operator
        .test_connection(install["id"].as_str().unwrap())
        .await;
    assert!(tested.contains("Connection test passed"), "{tested}");

    // The console lists every kind's form.
    let chooser = operator.get("/console/connections/new").await;
    for kind in ["maropost", "bol", "ordercloud", "commercetools"] {
        assert!(
            chooser.contains(&format!("/console/connections/{kind}/new")),
            "{kind}"
        );
        let form = operator
            .get(&format!("/console/connections/{kind}/new"))
            .await;
        assert!(!csrf_in(&form).is_empty());
        assert!(form.contains("Sandbox mode: test credentials"), "{kind}");
    }
}
