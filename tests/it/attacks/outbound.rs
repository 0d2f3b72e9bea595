//! Item 4: a store domain aimed storelink's token at an internal host. When Maropost's token
//! answer omits `store_domain` the typed one is used, and names like `metadata.google.internal`
//! pass the domain check; *Test connection* then sent the access token there.
//!
//! The outbound guard's table (names resolving into each refused range, through a resolver
//! the test controls) is `platforms::kit::outbound::tests::names_resolving_into_any_refused_range_are_refused`;
//! these tests go through the app.

use serde_json::json;
use wiremock::{Mock, ResponseTemplate, matchers::method};

use super::app_with;
use crate::helpers::*;

/// An app that refuses private endpoints, with Maropost's API at `template`.
async fn guarded_app(template: impl FnOnce(&str) -> String + Send + 'static) -> TestApp {
    app_with(move |s| {
        s.allow_private_endpoints = false;
        let stand_in = url::Url::parse(s.env.get("MAROPOST_TOKEN_URL").unwrap())
            .unwrap()
            .origin()
            .ascii_serialization();
        s.env.set("MAROPOST_API_URL_TEMPLATE", template(&stand_in));
    })
    .await
}

async fn tested(app: &TestApp, domain: &str) -> String {
    let mut answer = token_answer("s-internal", domain, "the-access-token-7d1e");
    if domain.ends_with(".internal") {
        // As in the attack: the platform names no domain, so the typed one is used.
        answer.as_object_mut().unwrap().remove("store_domain");
    }
    app.maropost.reset().await;
    app.token_endpoint_answers(ResponseTemplate::new(200).set_body_json(answer))
        .await;
    // Anything else the stand-in is asked answers like the store's API would.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"Ack": "Success"})))
        .mount(&app.maropost)
        .await;
    let browser = browser();
    let authorize = app.start_install(&browser, domain).await;
    let response = app
        .callback(&browser, &[("code", "c"), ("state", &authorize["state"])])
        .await;
    assert_eq!(response.status(), 303);
    let id: String = sqlx::query_scalar("SELECT id FROM installs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let mut operator = app.operator().await;
    operator.test_connection(&id).await
}

/// No request other than the token exchange reached the stand-in (which listens on 127.0.0.1).
async fn only_the_token_request(app: &TestApp) {
    let paths: Vec<String> = app
        .maropost
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| r.url.path().to_owned())
        .collect();
    assert_eq!(paths, [TOKEN_PATH], "the access token went nowhere else");
}

#[tokio::test]
async fn outbound_an_internal_store_name_never_gets_the_access_token() {
    let app = guarded_app(|_| "https://{store_domain}/do/WS/NetoAPI".to_owned()).await;
    let page = tested(&app, "metadata.google.internal").await;
    assert!(page.contains("Connection test failed"), "{page}");
    assert!(page.contains("internal host name"), "{page}");
    assert!(!page.contains("the-access-token-7d1e"));
    only_the_token_request(&app).await;
}

#[tokio::test]
async fn outbound_a_loopback_api_address_never_gets_the_access_token() {
    // The template aims at the stand-in on 127.0.0.1, over https: refused as loopback before
    // any connection is made.
    let app = guarded_app(|stand_in| {
        format!(
            "{}/maropost/{{store_domain}}/do/WS/NetoAPI",
            stand_in.replace("http://", "https://")
        )
    })
    .await;
    let page = tested(&app, "shop.example.com").await;
    assert!(page.contains("Connection test failed"), "{page}");
    assert!(page.contains("loopback"), "{page}");
    only_the_token_request(&app).await;

    // Plain http is refused too.
    let app =
        guarded_app(|stand_in| format!("{stand_in}/maropost/{{store_domain}}/do/WS/NetoAPI")).await;
    let page = tested(&app, "shop.example.com").await;
    assert!(page.contains("https only"), "{page}");
    only_the_token_request(&app).await;
}

#[tokio::test]
async fn outbound_private_endpoints_are_allowed_when_set() {
    // STORELINK_ALLOW_PRIVATE_ENDPOINTS=true (what the tests' stand-ins need): the same call
    // goes through.
    let app = spawn_app().await;
    assert!(app.settings.allow_private_endpoints);
    let page = tested(&app, "shop.example.com").await;
    assert!(page.contains("Connection test passed"), "{page}");
}
