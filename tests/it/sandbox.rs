//! The built-in sandbox: a whole install driven over HTTP, and a token endpoint as strict as a
//! real provider's.

use std::collections::HashMap;

use secrecy::ExposeSecret as _;
use storelink::db::credentials::{self, Kind};
use url::Url;

use crate::helpers::*;

/// Starts an install in the sandbox and returns the authorize URL's parameters after checking
/// that the sandbox page names the store.
async fn open_authorize_page(
    app: &TestApp,
    browser: &reqwest::Client,
    domain: &str,
) -> HashMap<String, String> {
    let start = browser
        .get(app.url("/install/maropost"))
        .query(&[("store_domain", domain)])
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 303);
    let authorize = Url::parse(&location(&start)).unwrap();
    assert_eq!(authorize.path(), "/sandbox/maropost/oauth/v2/auth");
    let page = browser.get(authorize.clone()).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let body = page.text().await.unwrap();
    assert!(body.contains("Sandbox"), "labelled as a sandbox");
    assert!(body.contains(domain), "names the store");
    assert!(body.contains(">Approve<") && body.contains(">Deny<"));
    authorize.query_pairs().into_owned().collect()
}

/// Presses Approve or Deny; returns where the sandbox sends the browser.
async fn decide(
    app: &TestApp,
    browser: &reqwest::Client,
    params: &HashMap<String, String>,
    decision: &str,
) -> Url {
    let mut form = params.clone();
    form.insert("decision".into(), decision.into());
    let response = browser
        .post(app.url("/sandbox/maropost/oauth/v2/auth"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    Url::parse(&location(&response)).unwrap()
}

#[tokio::test]
async fn a_whole_sandbox_install_over_http() {
    let app = spawn_sandbox().await;
    let browser = browser();

    let landing = browser
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(landing.contains("sandbox mode"));

    let params = open_authorize_page(&app, &browser, "demo.example.com").await;
    let callback = decide(&app, &browser, &params, "approve").await;
    assert_eq!(callback.path(), "/oauth/maropost/callback");
    let response = browser.get(callback.clone()).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/installed");
    let page = browser.get(app.url("/installed")).send().await.unwrap();
    let body = page.text().await.unwrap();
    assert!(body.contains("Demo (sandbox) is connected"), "{body}");
    assert!(body.contains("demo.example.com"));

    // The code was single use.
    let replay = browser.get(callback).send().await.unwrap();
    assert_eq!(replay.status(), 400);

    // The stored token works against the sandbox API, and a wrong one does not.
    let id: String = sqlx::query_scalar("SELECT id FROM installs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let stored = credentials::load(&app.db, &id, Kind::AccessToken)
        .await
        .unwrap()
        .unwrap();
    let token = app
        .state
        .keyring
        .open_string(
            &stored.sealed,
            &credentials::associated_data(&id, Kind::AccessToken),
        )
        .unwrap();
    let api = app.url("/sandbox/maropost/demo.example.com/do/WS/NetoAPI");
    let call = |secret: String, domain_url: Url| {
        let browser = browser.clone();
        async move {
            browser
                .post(domain_url)
                .header("NETOAPI_ACTION", "GetOrder")
                .header(
                    "X_ACCESS_KEY",
                    storelink::platforms::maropost::SANDBOX_CLIENT_ID,
                )
                .header("X_SECRET_KEY", secret)
                .header("Accept", "application/json")
                .json(&serde_json::json!({"Filter": {"OrderStatus": ["Pick"], "Limit": 1}}))
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    let ok = call(token.expose_secret().to_owned(), api.clone()).await;
    assert_eq!(ok["Ack"], "Success");
    assert!(!ok["Order"].as_array().unwrap().is_empty());
    let wrong = call("sbx_0000.0000".into(), api).await;
    assert_eq!(wrong["Ack"], "Error");
    let other_store = call(
        token.expose_secret().to_owned(),
        app.url("/sandbox/maropost/other.example.com/do/WS/NetoAPI"),
    )
    .await;
    assert_eq!(
        other_store["Ack"], "Error",
        "a token is valid for its own store only"
    );
}

#[tokio::test]
async fn sandbox_deny_returns_access_denied() {
    let app = spawn_sandbox().await;
    let browser = browser();
    let params = open_authorize_page(&app, &browser, "demo.example.com").await;
    let callback = decide(&app, &browser, &params, "deny").await;
    let query: HashMap<String, String> = callback.query_pairs().into_owned().collect();
    assert_eq!(query["error"], "access_denied");
    assert_eq!(query["state"], params["state"]);
    let page = browser.get(callback).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("Installation cancelled")
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM installs").await, 0);
}

/// Approves in the sandbox and returns the code, without calling the callback.
async fn approved_code(
    app: &TestApp,
    browser: &reqwest::Client,
) -> (String, HashMap<String, String>) {
    let params = open_authorize_page(app, browser, "demo.example.com").await;
    let callback = decide(app, browser, &params, "approve").await;
    let query: HashMap<String, String> = callback.query_pairs().into_owned().collect();
    (query["code"].clone(), params)
}

async fn exchange(app: &TestApp, form: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let response = browser()
        .post(app.url("/sandbox/maropost/oauth/v2/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn sandbox_token_endpoint_is_strict() {
    use storelink::platforms::maropost::{
        SANDBOX_CLIENT_ID as ID, SANDBOX_CLIENT_SECRET as SECRET,
    };
    let app = spawn_sandbox().await;
    let browser = browser();
    let redirect = app.url("/oauth/maropost/callback").to_string();

    // A wrong secret.
    let (code, _) = approved_code(&app, &browser).await;
    let (status, body) = exchange(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", ID),
            ("client_secret", "wrong"),
            ("redirect_uri", &redirect),
            ("code", &code),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );

    // A wrong verifier, then the same code again (spent by the first attempt).
    let (code, _) = approved_code(&app, &browser).await;
    let base = [
        ("grant_type", "authorization_code"),
        ("client_id", ID),
        ("client_secret", SECRET),
        ("redirect_uri", redirect.as_str()),
        ("code", code.as_str()),
    ];
    let mut wrong_verifier = base.to_vec();
    wrong_verifier.push((
        "code_verifier",
        "not-the-verifier-not-the-verifier-not-the-verifier",
    ));
    let (status, body) = exchange(&app, &wrong_verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, body) = exchange(&app, &wrong_verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "single use"
    );

    // No verifier for a code issued with a challenge.
    let (code, _) = approved_code(&app, &browser).await;
    let (status, body) = exchange(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", ID),
            ("client_secret", SECRET),
            ("redirect_uri", &redirect),
            ("code", &code),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // Another redirect_uri.
    let (code, _) = approved_code(&app, &browser).await;
    let (status, body) = exchange(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", ID),
            ("client_secret", SECRET),
            ("redirect_uri", "http://localhost:1/elsewhere"),
            ("code", &code),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // An expired code: the callback then names the provider's refusal.
    let (code, params) = approved_code(&app, &browser).await;
    app.clock.advance(time::Duration::seconds(61));
    let response = app
        .callback(&browser, &[("code", &code), ("state", &params["state"])])
        .await;
    assert_eq!(response.status(), 502);
    assert!(response.text().await.unwrap().contains("invalid_grant"));

    // Another grant type.
    let (status, body) = exchange(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", ID),
            ("client_secret", SECRET),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM installs").await, 0);
}

#[tokio::test]
async fn sandbox_authorize_refuses_unknown_clients_and_redirect_uris() {
    let app = spawn_sandbox().await;
    let browser = browser();
    let redirect = app.url("/oauth/maropost/callback").to_string();
    for (client_id, redirect_uri, domain) in [
        ("someone-else", redirect.as_str(), "a.example.com"),
        (
            storelink::platforms::maropost::SANDBOX_CLIENT_ID,
            "http://evil.example/cb",
            "a.example.com",
        ),
        (
            storelink::platforms::maropost::SANDBOX_CLIENT_ID,
            redirect.as_str(),
            "localhost",
        ),
    ] {
        let response = browser
            .get(app.url("/sandbox/maropost/oauth/v2/auth"))
            .query(&[
                ("client_id", client_id),
                ("redirect_uri", redirect_uri),
                ("response_type", "code"),
                ("store_domain", domain),
                ("state", "s"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            400,
            "{client_id} {redirect_uri} {domain}"
        );
        assert!(
            response.headers().get("location").is_none(),
            "never redirects to an unverified URI"
        );
        assert!(response.text().await.unwrap().contains("Sandbox"));
    }
}

#[tokio::test]
async fn sandbox_is_not_served_outside_sandbox_mode() {
    let app = spawn_app().await;
    let response = browser()
        .get(app.url("/sandbox/maropost/oauth/v2/auth"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}
