//! The intermediary code flow against the stand-in bol.com: the happy path, the token request
//! on the wire, the JWT's claims, and every way the callback is refused.

use oauth2::{PkceCodeChallenge, PkceCodeVerifier};
use serde_json::json;
use wiremock::{
    Mock, ResponseTemplate,
    matchers::{method, path},
};

use super::*;

#[tokio::test]
async fn a_retailer_connects_through_the_code_flow() {
    // Setup
    let app = spawn_app().await;
    let issuer = TokenIssuer::new(&app, 600);
    app.bol_token_endpoint(issuer).await;
    let browser = browser();
    let landing = app.page(&browser, "/").await;
    assert!(landing.contains("Connect bol.com"));
    assert!(landing.contains(r#"action="/install/bol""#));

    // Exec: start
    let authorize = app.start_bol(&browser).await;

    // Check: the authorize URL
    assert!(
        authorize
            .as_str()
            .starts_with(&format!("{}{BOL_AUTHORIZE_PATH}?", app.maropost.uri()))
    );
    let params = query(&authorize);
    assert_eq!(params["response_type"], "code");
    assert_eq!(params["client_id"], BOL_CLIENT_ID);
    assert_eq!(params["scope"], "offline_access");
    assert_eq!(
        params["redirect_uri"],
        app.url("/oauth/bol/callback").as_str()
    );
    assert_eq!(params["code_challenge_method"], "S256");
    assert!(params["state"].len() >= 43, "at least 256 bits of state");
    assert!(!authorize.as_str().contains(BOL_CLIENT_SECRET));

    // Exec: the callback
    let response = app
        .bol_callback(
            &browser,
            &[("code", "code-abc"), ("state", &params["state"])],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/installed");

    // Check: one token request, a form POST with Basic auth, nothing secret in its URL
    let requests = app.bol_token_requests().await;
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method.as_str(), "POST");
    assert_eq!(
        request.url.query(),
        None,
        "nothing in the token URL's query"
    );
    assert_eq!(
        header(request, "authorization"),
        basic(BOL_CLIENT_ID, BOL_CLIENT_SECRET)
    );
    assert_eq!(header(request, "accept"), "application/json");
    assert!(header(request, "content-type").starts_with("application/x-www-form-urlencoded"));
    let body = form(request);
    assert_eq!(body["grant_type"], "authorization_code");
    assert_eq!(body["code"], "code-abc");
    assert_eq!(body["redirect_uri"], params["redirect_uri"]);
    assert!(!body.contains_key("client_secret") && !body.contains_key("client_id"));
    let challenge = PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(
        body["code_verifier"].clone(),
    ));
    assert_eq!(challenge.as_str(), params["code_challenge"]);

    // Check: the install, keyed by the JWT's sub, with its expiry and both tokens sealed
    let id = app.install_id(RETAILER).await;
    let now = app.clock.unix();
    assert_eq!(app.install_field::<String>(&id, "status").await, "active");
    assert_eq!(app.install_field::<String>(&id, "auth_kind").await, "code");
    assert_eq!(
        app.install_field::<i64>(&id, "token_expires_at").await,
        now + 600,
        "exp read from the JWT"
    );
    assert_eq!(
        app.credential_kinds(&id).await,
        ["access_token", "refresh_token"]
    );
    let sealed: Vec<Vec<u8>> = sqlx::query_scalar("SELECT ciphertext FROM credentials")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert!(
        sealed
            .iter()
            .all(|c| !String::from_utf8_lossy(c).contains("rt-1")),
        "the refresh token is sealed"
    );
    assert_eq!(app.audit_details(&id, "install").await.len(), 1);

    // Check: the success page names the retailer (by its account: this stand-in has no
    // retailer information, `GET /retailers/current` answers 404)
    let page = app.page(&browser, "/installed").await;
    assert!(page.contains("Retailer 1100001 is connected"), "{page}");
    assert!(page.contains("bol.com"));
    assert!(
        !page.contains("Receive order updates"),
        "bol.com sends no order notifications"
    );
    let refused = browser
        .post(app.url("/installed/order-updates"))
        .form(&[
            ("webhook_key", "a-key-long-enough-to-be-one"),
            ("csrf_token", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403, "no grant for a bol.com connection");

    // Check: no secret, code or token in any URL the stand-in saw
    for request in app.maropost.received_requests().await.unwrap() {
        let url = request.url.as_str();
        for secret in [BOL_CLIENT_SECRET, "code-abc", "rt-1", &params["state"]] {
            assert!(!url.contains(secret), "{url} carries a secret");
        }
    }
}

#[tokio::test]
async fn connecting_again_updates_the_same_install() {
    let app = spawn_app().await;
    let browser = browser();
    let first = app.connect_bol(&browser, TokenIssuer::new(&app, 600)).await;
    let second = app.connect_bol(&browser, TokenIssuer::new(&app, 600)).await;
    assert_eq!(first, second);
    assert_eq!(app.count("SELECT COUNT(*) FROM installs").await, 1);
    assert_eq!(app.audit_details(&first, "reinstall").await.len(), 1);
}

/// Connects [`RETAILER`] in a new browser with a stand-in whose retailer information answers
/// `info`; returns the install's id.
async fn connect_with_retailer_information(app: &TestApp, info: ResponseTemplate) -> String {
    app.bol_token_endpoint(TokenIssuer::new(app, 600)).await;
    Mock::given(method("GET"))
        .and(path(format!("{BOL_API_PATH}/retailers/current")))
        .respond_with(info)
        .mount(&app.maropost)
        .await;
    let browser = browser();
    let authorize = app.start_bol(&browser).await;
    let state = query(&authorize)["state"].clone();
    let response = app
        .bol_callback(&browser, &[("code", "the-code"), ("state", &state)])
        .await;
    assert_eq!(response.status(), 303);
    app.install_id(RETAILER).await
}

#[tokio::test]
async fn the_retailer_information_names_the_connection() {
    let app = spawn_app().await;
    let id = connect_with_retailer_information(
        &app,
        ResponseTemplate::new(200).set_body_json(json!({
            "retailerId": RETAILER, "displayName": " Tulip Traders ", "companyName": "Tulip B.V.",
        })),
    )
    .await;
    assert_eq!(
        app.install_field::<String>(&id, "store_name").await,
        "Tulip Traders"
    );
    let calls = app
        .requests_to(&format!("{BOL_API_PATH}/retailers/current"))
        .await;
    assert_eq!(calls.len(), 1);
    assert!(header(&calls[0], "authorization").starts_with("Bearer "));
    assert_eq!(
        header(&calls[0], "accept"),
        "application/vnd.retailer.v10+json"
    );

    // No usable name (missing, or a control character in it): named by the account.
    for answer in [
        ResponseTemplate::new(200).set_body_json(json!({"retailerId": RETAILER})),
        ResponseTemplate::new(200).set_body_json(json!({"displayName": "Tulip\u{7}Traders"})),
        ResponseTemplate::new(500),
    ] {
        let app = spawn_app().await;
        let id = connect_with_retailer_information(&app, answer).await;
        assert_eq!(
            app.install_field::<String>(&id, "store_name").await,
            format!("Retailer {RETAILER}")
        );
    }
}

#[tokio::test]
async fn connecting_again_keeps_a_name_an_operator_chose() {
    let app = spawn_app().await;
    let info = || ResponseTemplate::new(200).set_body_json(json!({"displayName": "Tulip Traders"}));
    let id = connect_with_retailer_information(&app, info()).await;
    let mut operator = app.operator().await;
    operator.form_page(&format!("/console/installs/{id}")).await;
    let response = operator
        .post_form(
            &format!("/console/installs/{id}/rename"),
            &[("name", "Tulips (NL)")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let again = connect_with_retailer_information(&app, info()).await;
    assert_eq!(again, id);
    assert_eq!(
        app.install_field::<String>(&id, "store_name").await,
        "Tulips (NL)",
        "the operator's name survives a re-install"
    );
}

#[tokio::test]
async fn the_account_claim_is_a_setting() {
    let app = spawn_with(Options {
        bol_account_claim: Some("retailer_id".into()),
        ..Options::default()
    })
    .await;
    let now = app.clock.unix();
    app.bol_token_endpoint(ResponseTemplate::new(200).set_body_json(json!({
        "access_token": jwt(json!({"sub": "client-77", "retailer_id": 1_100_042, "exp": now + 300})),
        "token_type": "Bearer", "expires_in": 599, "refresh_token": "rt"
    })))
    .await;
    let browser = browser();
    let state = query(&app.start_bol(&browser).await)["state"].clone();
    let response = app
        .bol_callback(&browser, &[("code", "c"), ("state", &state)])
        .await;
    assert_eq!(response.status(), 303);
    let id = app.install_id("1100042").await;
    assert_eq!(
        app.install_field::<i64>(&id, "token_expires_at").await,
        now + 300,
        "the earlier of exp and expires_in"
    );
}

/// Runs a callback against a token endpoint answering `answer`; returns status and page.
async fn callback_answered(app: &TestApp, answer: ResponseTemplate) -> (u16, String) {
    app.bol_token_endpoint(answer).await;
    let browser = browser();
    let state = query(&app.start_bol(&browser).await)["state"].clone();
    let response = app
        .bol_callback(&browser, &[("code", "c"), ("state", &state)])
        .await;
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn assert_nothing_stored(app: &TestApp) {
    assert_eq!(app.count("SELECT COUNT(*) FROM installs").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM credentials").await, 0);
}

#[tokio::test]
async fn a_token_without_the_account_claim_is_refused() {
    let app = spawn_app().await;
    let exp = app.clock.unix() + 600;
    let (status, page) = callback_answered(
        &app,
        ResponseTemplate::new(200).set_body_json(json!({
            "access_token": jwt(json!({"exp": exp, "client_id": "x"})),
            "expires_in": 599, "refresh_token": "rt"
        })),
    )
    .await;
    assert_eq!(status, 502);
    assert!(
        page.contains("without the &quot;sub&quot; claim")
            || page.contains("without the &#34;sub&#34; claim"),
        "{page}"
    );
    assert_nothing_stored(&app).await;
}

#[tokio::test]
async fn a_token_that_is_not_a_jwt_is_refused() {
    let app = spawn_app().await;
    let (status, page) = callback_answered(
        &app,
        ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "an-opaque-token", "expires_in": 599, "refresh_token": "rt"
        })),
    )
    .await;
    assert_eq!(status, 502);
    assert!(page.contains("not a JWT"), "{page}");
    assert!(!page.contains("an-opaque-token"));
    assert_nothing_stored(&app).await;
}

#[tokio::test]
async fn a_refused_code_is_named_and_nothing_is_stored() {
    let app = spawn_app().await;
    let (status, page) = callback_answered(
        &app,
        ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_grant", "error_description": "Code is invalid or expired"
        })),
    )
    .await;
    assert_eq!(status, 502);
    assert!(page.contains("invalid_grant"));
    assert_nothing_stored(&app).await;
}

#[tokio::test]
async fn the_retailer_denying_ends_on_a_friendly_page() {
    let app = spawn_app().await;
    let browser = browser();
    let state = query(&app.start_bol(&browser).await)["state"].clone();
    let response = app
        .bol_callback(&browser, &[("error", "access_denied"), ("state", &state)])
        .await;
    assert_eq!(response.status(), 200);
    let page = response.text().await.unwrap();
    assert!(page.contains("Installation cancelled") && page.contains("bol.com"));
    assert!(app.bol_token_requests().await.is_empty());
}

// ----- every state failure: refused before any token request -----

/// Asserts a refusal with `status` naming `reason`, and that no token endpoint was called.
async fn assert_refused(app: &TestApp, response: reqwest::Response, status: u16, reason: &str) {
    assert_eq!(response.status(), status);
    let page = response.text().await.unwrap();
    assert!(page.contains(reason), "expected {reason:?} in {page}");
    assert!(app.bol_token_requests().await.is_empty());
    assert!(app.token_requests().await.is_empty(), "nor Maropost's");
    assert_nothing_stored(app).await;
}

#[tokio::test]
async fn unknown_and_missing_states_are_refused() {
    let app = spawn_app().await;
    let browser = browser();
    app.start_bol(&browser).await;
    for params in [
        vec![("code", "c"), ("state", "forged")],
        vec![("code", "c")],
        vec![("code", "c"), ("state", "")],
    ] {
        let response = app.bol_callback(&browser, &params).await;
        assert_refused(&app, response, 400, "not one that storelink started").await;
    }
}

#[tokio::test]
async fn a_used_state_is_refused() {
    let app = spawn_app().await;
    let browser = browser();
    app.bol_token_endpoint(TokenIssuer::new(&app, 600)).await;
    let state = query(&app.start_bol(&browser).await)["state"].clone();
    let params = [("code", "c"), ("state", state.as_str())];
    assert_eq!(app.bol_callback(&browser, &params).await.status(), 303);
    let replay = app.bol_callback(&browser, &params).await;
    assert_eq!(replay.status(), 400);
    assert!(replay.text().await.unwrap().contains("already been used"));
    assert_eq!(app.bol_token_requests().await.len(), 1, "only the first");
}

#[tokio::test]
async fn an_expired_state_is_refused() {
    let app = spawn_app().await;
    let browser = browser();
    let state = query(&app.start_bol(&browser).await)["state"].clone();
    app.advance(10 * 60 + 1);
    let response = app
        .bol_callback(&browser, &[("code", "c"), ("state", &state)])
        .await;
    assert_refused(&app, response, 400, "expired").await;
}

#[tokio::test]
async fn a_state_from_another_browser_is_refused() {
    let app = spawn_app().await;
    let state = query(&app.start_bol(&browser()).await)["state"].clone();
    let response = app
        .bol_callback(&browser(), &[("code", "c"), ("state", &state)])
        .await;
    assert_refused(&app, response, 403, "another browser").await;
}

#[tokio::test]
async fn a_maropost_state_is_refused_on_the_bol_callback() {
    let app = spawn_app().await;
    let browser = browser();
    let maropost = app.start_install(&browser, "shop.example.com").await;
    let response = app
        .bol_callback(&browser, &[("code", "c"), ("state", &maropost["state"])])
        .await;
    assert_refused(
        &app,
        response,
        400,
        "started for Maropost Commerce Cloud, not bol.com",
    )
    .await;
}

#[tokio::test]
async fn a_bol_state_is_refused_on_the_maropost_callback() {
    let app = spawn_app().await;
    let browser = browser();
    let state = query(&app.start_bol(&browser).await)["state"].clone();
    let response = app
        .callback(&browser, &[("code", "c"), ("state", &state)])
        .await;
    assert_refused(
        &app,
        response,
        400,
        "started for bol.com, not Maropost Commerce Cloud",
    )
    .await;
}

#[tokio::test]
async fn a_malformed_code_is_refused() {
    let app = spawn_app().await;
    let browser = browser();
    let state = query(&app.start_bol(&browser).await)["state"].clone();
    let long = "c".repeat(5000);
    for code in ["", "a b", long.as_str()] {
        let response = app
            .bol_callback(&browser, &[("code", code), ("state", &state)])
            .await;
        assert_eq!(response.status(), 400, "{code:.10}");
    }
    assert!(app.bol_token_requests().await.is_empty());
}
