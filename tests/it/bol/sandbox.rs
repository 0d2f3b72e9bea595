//! The built-in bol.com sandbox over HTTP: a whole connection with a refresh, a connection with
//! a retailer's own credentials, and endpoints as strict as bol.com's.

use std::collections::HashMap;

use oauth2::{PkceCodeChallenge, PkceCodeVerifier};
use storelink::platforms::bol::sandbox::{ACCESS_TOKEN_LIFETIME_SECS, RATE_LIMIT_PER_SECOND};

use super::*;

const SANDBOX_ID: &str = storelink::platforms::bol::SANDBOX_CLIENT_ID;
const SANDBOX_SECRET: &str = storelink::platforms::bol::SANDBOX_CLIENT_SECRET;

/// Approves (as `retailer`) or denies on the sandbox's authorize page; returns the callback URL.
async fn decide(app: &TestApp, browser: &reqwest::Client, retailer: &str, decision: &str) -> Url {
    let authorize = app.start_bol(browser).await;
    assert_eq!(authorize.path(), "/sandbox/bol/authorize");
    let page = browser.get(authorize.clone()).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let body = page.text().await.unwrap();
    assert!(body.contains("Sandbox"), "labelled as a sandbox");
    assert!(body.contains(">Approve<") && body.contains(">Deny<"));
    assert!(body.contains(r#"name="retailer""#), "a retailer to pick");
    let mut form = query(&authorize);
    form.insert("retailer".into(), retailer.into());
    form.insert("decision".into(), decision.into());
    let response = browser
        .post(app.url("/sandbox/bol/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    Url::parse(&location(&response)).unwrap()
}

/// A token request to the sandbox, as storelink sends one.
async fn sandbox_token(
    app: &TestApp,
    auth: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let mut request = browser()
        .post(app.url("/sandbox/bol/token"))
        .header("accept", "application/json")
        .form(form);
    if let Some((id, secret)) = auth {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Runs the authorize step by hand; returns the code and the PKCE verifier.
async fn sandbox_code(app: &TestApp) -> (String, PkceCodeVerifier) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let redirect = app.url("/oauth/bol/callback");
    let response = browser()
        .post(app.url("/sandbox/bol/authorize"))
        .form(&[
            ("response_type", "code"),
            ("client_id", SANDBOX_ID),
            ("redirect_uri", redirect.as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("retailer", "1100003"),
            ("decision", "approve"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let code = query(&Url::parse(&location(&response)).unwrap())["code"].clone();
    (code, verifier)
}

#[tokio::test]
async fn a_whole_sandbox_connection_with_a_refresh_and_a_test() {
    let app = spawn_sandbox().await;
    let browser = browser();
    let landing = app.page(&browser, "/").await;
    assert!(landing.contains("Connect bol.com"));

    let callback = decide(&app, &browser, "1100002", "approve").await;
    assert_eq!(callback.path(), "/oauth/bol/callback");
    let response = browser.get(callback).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let page = app.page(&browser, "/installed").await;
    // Named as the sandbox's consent page showed the retailer (its retailer information).
    assert!(page.contains("Windmill Wares is connected"), "{page}");

    let id = app.install_id("1100002").await;
    let first_expiry: i64 = app.install_field(&id, "token_expires_at").await;
    assert_eq!(first_expiry, app.clock.unix() + ACCESS_TOKEN_LIFETIME_SECS);

    let mut operator = app.operator().await;
    let page = operator.test_connection(&id).await;
    assert!(
        page.contains("Connection test passed: bol.com answered GET /orders (2 order(s)"),
        "{page}"
    );
    assert!(page.contains("expires in 120 s"), "{page}");

    // Past the refresh margin, the next use refreshes (and the sandbox rotates the token).
    app.advance(ACCESS_TOKEN_LIFETIME_SECS - 59);
    let page = operator.test_connection(&id).await;
    assert!(page.contains("Connection test passed"), "{page}");
    assert!(
        page.contains("expires in 120 s"),
        "the new expiry is shown: {page}"
    );
    let second_expiry: i64 = app.install_field(&id, "token_expires_at").await;
    assert_eq!(
        second_expiry,
        first_expiry + ACCESS_TOKEN_LIFETIME_SECS - 59
    );
}

#[tokio::test]
async fn denying_in_the_sandbox_installs_nothing() {
    let app = spawn_sandbox().await;
    let browser = browser();
    let callback = decide(&app, &browser, "1100001", "deny").await;
    let response = browser.get(callback).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Installation cancelled")
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM installs").await, 0);
}

#[tokio::test]
async fn a_client_credentials_connection_in_the_sandbox() {
    let app = spawn_sandbox().await;
    let browser = browser();
    let created = browser
        .post(app.url("/sandbox/bol/credentials"))
        .form(&[("retailer", "1100003")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let between = |start: &str| {
        let from = created.find(start).unwrap() + start.len();
        created[from..].split('<').next().unwrap().to_owned()
    };
    let client_id = between(r#"id="client-id">"#);
    let secret = between(r#"id="client-secret">"#);

    let mut operator = app.operator().await;
    let page = operator.form_page("/console/connections/bol/new").await;
    assert!(
        page.contains("/sandbox/bol/credentials"),
        "points at the sandbox"
    );
    let response = operator
        .post_form(
            "/console/connections/bol",
            &[
                ("name", "Stroopwafel (own)"),
                ("client_id", &client_id),
                ("client_secret", &secret),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let id = app.install_id(&format!("client:{client_id}")).await;
    let page = operator.test_connection(&id).await;
    assert!(page.contains("Connection test passed"), "{page}");
    assert!(!page.contains(&secret));
}

#[tokio::test]
async fn the_token_endpoint_is_strict() {
    let app = spawn_sandbox().await;
    let redirect = app.url("/oauth/bol/callback");
    let redirect = redirect.as_str();
    let auth = Some((SANDBOX_ID, SANDBOX_SECRET));

    // Basic auth is required, and must be right.
    let (code, verifier) = sandbox_code(&app).await;
    let exchange = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect),
        ("code_verifier", verifier.secret().as_str()),
    ];
    assert_eq!(sandbox_token(&app, None, &exchange).await.0, 401);
    assert_eq!(
        sandbox_token(&app, Some((SANDBOX_ID, "wrong")), &exchange)
            .await
            .0,
        401
    );

    // Nothing secret in the URL.
    let response = browser()
        .post(app.url(&format!("/sandbox/bol/token?code={code}")))
        .basic_auth(SANDBOX_ID, Some(SANDBOX_SECRET))
        .header("accept", "application/json")
        .form(&exchange)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    // The code works once (those refusals did not spend it), then is invalid_grant.
    let (status, answer) = sandbox_token(&app, auth, &exchange).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["expires_in"], ACCESS_TOKEN_LIFETIME_SECS);
    let refresh = answer["refresh_token"].as_str().unwrap().to_owned();
    let (status, answer) = sandbox_token(&app, auth, &exchange).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // PKCE is checked.
    let (code, _) = sandbox_code(&app).await;
    let (status, answer) = sandbox_token(
        &app,
        auth,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
            ("code_verifier", &"x".repeat(43)),
        ],
    )
    .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // An expired code is invalid_grant.
    let (code, verifier) = sandbox_code(&app).await;
    app.advance(61);
    let (status, answer) = sandbox_token(
        &app,
        auth,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
            ("code_verifier", verifier.secret()),
        ],
    )
    .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // A refresh token rotates, and a used one is invalid_grant.
    let refresh_form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
    ];
    let (status, answer) = sandbox_token(&app, auth, &refresh_form).await;
    assert_eq!(status, 200);
    let rotated = answer["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rotated, refresh);
    let (status, answer) = sandbox_token(&app, auth, &refresh_form).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // An expired refresh token is invalid_grant.
    app.advance(366 * 24 * 60 * 60);
    let (status, answer) = sandbox_token(
        &app,
        auth,
        &[("grant_type", "refresh_token"), ("refresh_token", &rotated)],
    )
    .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn the_orders_endpoint_wants_a_valid_bearer_and_limits_the_rate() {
    let app = spawn_sandbox().await;
    let (code, verifier) = sandbox_code(&app).await;
    let redirect = app.url("/oauth/bol/callback");
    let (_, answer) = sandbox_token(
        &app,
        Some((SANDBOX_ID, SANDBOX_SECRET)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect.as_str()),
            ("code_verifier", verifier.secret()),
        ],
    )
    .await;
    let access = answer["access_token"].as_str().unwrap().to_owned();
    let orders = |token: Option<String>| {
        let mut request = browser()
            .get(app.url("/sandbox/bol/retailer/orders"))
            .header("accept", "application/vnd.retailer.v10+json");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };

    assert_eq!(orders(None).await.unwrap().status(), 401);
    let forged = format!("{}x", &access[..access.len() - 1]);
    assert_eq!(orders(Some(forged)).await.unwrap().status(), 401);

    // Twice the limit at once: five are answered, the rest are told to wait.
    let burst = (0..2 * RATE_LIMIT_PER_SECOND).map(|_| orders(Some(access.clone())));
    let mut statuses = HashMap::new();
    let mut retry_after = None;
    for response in futures::future::join_all(burst).await {
        let response = response.unwrap();
        if response.status() == 429 {
            retry_after = response.headers().get("retry-after").cloned();
        }
        *statuses.entry(response.status().as_u16()).or_insert(0) += 1;
    }
    assert!(
        statuses.get(&200) >= Some(&RATE_LIMIT_PER_SECOND),
        "{statuses:?}"
    );
    assert!(statuses.get(&429) >= Some(&1), "{statuses:?}");
    assert_eq!(statuses.len(), 2, "{statuses:?}");
    assert_eq!(retry_after.unwrap(), "1");

    app.advance(ACCESS_TOKEN_LIFETIME_SECS);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let expired = orders(Some(access)).await.unwrap();
    assert_eq!(expired.status(), 401);
    let body: Value = expired.json().await.unwrap();
    assert_eq!(body["title"], "Expired JWT");
}

#[tokio::test]
async fn sandbox_pages_refuse_unknown_clients() {
    let app = spawn_sandbox().await;
    let response = browser()
        .get(app.url("/sandbox/bol/authorize?response_type=code&client_id=evil&redirect_uri=https://evil.example/cb"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("Unknown client_id"));
}
