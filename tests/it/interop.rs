//! Interoperating with a standard OAuth server (issue 14, items 9 to 12): storelink's bol.com code
//! flow against a stand-in that behaves like `oidc-provider` (the certified Node.js server)
//! where storelink met trouble with it: it drops `offline_access` unless `prompt=consent` is
//! asked, answers `access_denied` when nothing is left to grant, sends `iss` with every
//! authorization answer (RFC 9207), form-urlencodes client credentials before Basic (RFC 6749
//! §2.3.1) and gives a refresh token only when offline access was granted.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use serde_json::json;
use storelink::clock::Clock as _;
use url::Url;
use wiremock::{
    Mock, Request, Respond, ResponseTemplate,
    matchers::{method, path},
};

use crate::{
    bol::{RETAILER, form, header, jwt, query},
    helpers::*,
};

/// A client secret with every character that raw Basic auth gets wrong.
const AWKWARD_SECRET: &str = "s3cr+t/=%:x y";
/// The stand-in's issuer identifier.
const ISSUER_PATH: &str = "/bol";

/// The stand-in server's behaviour and what it has seen.
#[derive(Clone)]
struct OidcLike {
    issuer: String,
    client_id: String,
    client_secret: String,
    clock: storelink::clock::ManualClock,
    /// Codes issued, with the scope each grants.
    codes: Arc<Mutex<HashMap<String, String>>>,
    issued: Arc<AtomicUsize>,
    /// What `token_type` it answers with.
    token_type: &'static str,
    /// Whether it sends `iss` with authorization answers.
    sends_iss: bool,
}

impl OidcLike {
    fn new(app: &TestApp, client_secret: &str) -> Self {
        Self {
            issuer: format!("{}{ISSUER_PATH}", app.maropost.uri()),
            client_id: BOL_CLIENT_ID.to_owned(),
            client_secret: client_secret.to_owned(),
            clock: app.clock.clone(),
            codes: Arc::default(),
            issued: Arc::default(),
            token_type: "Bearer",
            sends_iss: true,
        }
    }

    /// Mounts its authorize and token endpoints where the app looks for bol.com's.
    async fn mount(&self, app: &TestApp) {
        app.maropost.reset().await;
        Mock::given(method("GET"))
            .and(path(BOL_AUTHORIZE_PATH))
            .respond_with(Authorize(self.clone()))
            .mount(&app.maropost)
            .await;
        Mock::given(method("POST"))
            .and(path(BOL_TOKEN_PATH))
            .respond_with(Token(self.clone()))
            .mount(&app.maropost)
            .await;
    }

    /// The client the request authenticates as: `client_secret_basic` decoded as RFC 6749
    /// §2.3.1 says (base64, then split at the first `:`, then form-urldecode each half), or
    /// `client_secret_post`.
    fn client_of(request: &Request) -> Option<(String, String)> {
        let fields = form(request);
        if let Some(value) = request.headers.get("authorization") {
            let encoded = value.to_str().ok()?.strip_prefix("Basic ")?;
            let decoded = String::from_utf8(BASE64.decode(encoded).ok()?).ok()?;
            let (id, secret) = decoded.split_once(':')?;
            let urldecode = |s: &str| -> Option<String> {
                // Strict, as oidc-provider is: a `%` not followed by two hex digits is an error.
                let bytes = s.as_bytes();
                for (i, b) in bytes.iter().enumerate() {
                    if *b == b'%'
                        && !(bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                            && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
                    {
                        return None;
                    }
                }
                Some(
                    url::form_urlencoded::parse(format!("x={s}").as_bytes())
                        .next()?
                        .1
                        .into_owned(),
                )
            };
            return Some((urldecode(id)?, urldecode(secret)?));
        }
        Some((
            fields.get("client_id")?.clone(),
            fields.get("client_secret")?.clone(),
        ))
    }
}

struct Authorize(OidcLike);

impl Respond for Authorize {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let server = &self.0;
        let params: HashMap<String, String> = request.url.query_pairs().into_owned().collect();
        let mut back = Url::parse(&params["redirect_uri"]).unwrap();
        let consent = params.get("prompt").is_some_and(|p| p.contains("consent"));
        // oidc-provider ignores offline_access unless the user is asked for consent.
        let granted: Vec<&str> = params["scope"]
            .split_whitespace()
            .filter(|s| *s != "offline_access" || consent)
            .collect();
        {
            let mut q = back.query_pairs_mut();
            if granted.is_empty() {
                q.append_pair("error", "access_denied");
                q.append_pair("error_description", "requested scope was not granted");
            } else {
                let code = format!("code-{}", server.issued.fetch_add(1, Ordering::SeqCst));
                server
                    .codes
                    .lock()
                    .unwrap()
                    .insert(code.clone(), granted.join(" "));
                q.append_pair("code", &code);
            }
            q.append_pair("state", &params["state"]);
            if server.sends_iss {
                q.append_pair("iss", &server.issuer);
            }
        }
        ResponseTemplate::new(303).insert_header("location", back.as_str())
    }
}

struct Token(OidcLike);

impl Respond for Token {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let server = &self.0;
        let refuse = |status, error: &str| {
            ResponseTemplate::new(status).set_body_json(json!({
                "error": error, "error_description": format!("{error} (stand-in)")
            }))
        };
        match OidcLike::client_of(request) {
            Some((id, secret)) if id == server.client_id && secret == server.client_secret => {}
            _ => return refuse(401, "invalid_client"),
        }
        let fields = form(request);
        let scope = match fields.get("grant_type").map(String::as_str) {
            Some("authorization_code") => {
                let code = fields.get("code").cloned().unwrap_or_default();
                match server.codes.lock().unwrap().remove(&code) {
                    Some(scope) => scope,
                    None => return refuse(400, "invalid_grant"),
                }
            }
            Some("refresh_token") => "offline_access".to_owned(),
            _ => return refuse(400, "unsupported_grant_type"),
        };
        let now = server.clock.unix();
        let mut answer = json!({
            "access_token": jwt(json!({"sub": RETAILER, "exp": now + 600, "iat": now})),
            "token_type": server.token_type,
            "expires_in": 600,
            "scope": scope,
        });
        if scope.split_whitespace().any(|s| s == "offline_access") {
            answer["refresh_token"] = json!(format!(
                "rt-{}",
                server.issued.fetch_add(1, Ordering::SeqCst)
            ));
        }
        ResponseTemplate::new(200).set_body_json(answer)
    }
}

/// An app whose bol.com is the stand-in, with `configure` applied to its settings.
async fn app_with(
    configure: impl FnOnce(&mut storelink::config::Settings) + Send + 'static,
) -> TestApp {
    spawn_with(Options {
        configure: Some(Box::new(configure)),
        ..Options::default()
    })
    .await
}

/// Runs the whole flow in a new browser: start, the stand-in's authorize answer, our callback.
/// Returns the authorize URL, the callback URL the stand-in sent the browser to, and our answer.
async fn run_flow(app: &TestApp) -> (Url, Url, reqwest::Response) {
    let browser = browser();
    let authorize = app.start_bol(&browser).await;
    let answer = browser.get(authorize.clone()).send().await.unwrap();
    assert_eq!(
        answer.status(),
        303,
        "the stand-in answers the authorize request"
    );
    let callback = Url::parse(&location(&answer)).unwrap();
    let response = browser.get(callback.clone()).send().await.unwrap();
    (authorize, callback, response)
}

async fn nothing_stored(app: &TestApp) -> bool {
    app.count("SELECT COUNT(*) FROM installs").await == 0
        && app.count("SELECT COUNT(*) FROM credentials").await == 0
}

// ----- item 9: extra authorize parameters; access_denied worded neutrally -----

#[tokio::test]
async fn interop_without_prompt_a_standard_server_denies_and_the_page_stays_neutral() {
    let app = app_with(|_| {}).await;
    OidcLike::new(&app, BOL_CLIENT_SECRET).mount(&app).await;

    let (authorize, callback, response) = run_flow(&app).await;
    assert!(!query(&authorize).contains_key("prompt"));
    assert_eq!(query(&callback)["error"], "access_denied");
    assert_eq!(response.status(), 200);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("bol.com did not approve the request"),
        "{page}"
    );
    assert!(
        page.contains("requested scope was not granted"),
        "the platform's description is shown for our own flow: {page}"
    );
    assert!(
        !page.contains("You chose"),
        "the retailer never chose: {page}"
    );
    assert!(app.bol_token_requests().await.is_empty());
}

#[tokio::test]
async fn interop_extra_authorize_params_get_offline_access_from_a_standard_server() {
    let app = app_with(|s| {
        s.env.set("BOL_AUTHORIZE_EXTRA_PARAMS", "prompt=consent");
    })
    .await;
    OidcLike::new(&app, BOL_CLIENT_SECRET).mount(&app).await;

    let (authorize, _, response) = run_flow(&app).await;
    let pairs: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
    assert_eq!(
        pairs.last().unwrap(),
        &("prompt".to_owned(), "consent".to_owned())
    );
    assert_eq!(pairs.iter().filter(|(k, _)| k == "state").count(), 1);
    assert_eq!(query(&authorize)["scope"], "offline_access");
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/installed");
    let id = app.install_id(RETAILER).await;
    assert_eq!(
        app.credential_kinds(&id).await,
        ["access_token", "refresh_token"]
    );
}

#[tokio::test]
async fn interop_an_unknown_state_callback_does_not_show_the_description() {
    let app = app_with(|_| {}).await;
    let response = app
        .bol_callback(
            &browser(),
            &[
                ("error", "access_denied"),
                (
                    "error_description",
                    "Call +31 555 0100 to restore your account",
                ),
                ("state", "not-a-state-of-ours"),
            ],
        )
        .await;
    let page = response.text().await.unwrap();
    assert!(page.contains("did not approve the request"), "{page}");
    assert!(!page.contains("555 0100"), "{page}");

    let response = app
        .bol_callback(
            &browser(),
            &[
                ("error", "server_error"),
                (
                    "error_description",
                    "Call +31 555 0100 to restore your account",
                ),
                ("state", "not-a-state-of-ours"),
            ],
        )
        .await;
    assert_eq!(response.status(), 502);
    let page = response.text().await.unwrap();
    assert!(page.contains("server_error"), "{page}");
    assert!(!page.contains("555 0100"), "{page}");
}

// ----- item 10: no refresh token although offline access was asked for; scope kept -----

#[tokio::test]
async fn interop_a_code_answer_without_a_refresh_token_is_refused() {
    // The stand-in grants `openid` but drops `offline_access` (no prompt=consent), so its
    // answer has no refresh token.
    let app = app_with(|s| s.env.set("BOL_SCOPE", "openid offline_access")).await;
    OidcLike::new(&app, BOL_CLIENT_SECRET).mount(&app).await;

    let (_, callback, response) = run_flow(&app).await;
    assert!(query(&callback).contains_key("code"));
    assert_eq!(response.status(), 502);
    let page = response.text().await.unwrap();
    assert!(page.contains("without a refresh token"), "{page}");
    assert!(page.contains("granted scope: openid"), "{page}");
    assert!(page.contains("Nothing was stored"), "{page}");
    assert_eq!(app.bol_token_requests().await.len(), 1);
    assert!(nothing_stored(&app).await);
}

#[tokio::test]
async fn interop_the_granted_scope_is_stored_and_shown() {
    let app = app_with(|s| {
        s.env.set("BOL_SCOPE", "offline_access orders");
        s.env.set("BOL_AUTHORIZE_EXTRA_PARAMS", "prompt=consent");
    })
    .await;
    OidcLike::new(&app, BOL_CLIENT_SECRET).mount(&app).await;
    let (_, _, response) = run_flow(&app).await;
    assert_eq!(response.status(), 303);
    let id = app.install_id(RETAILER).await;
    assert_eq!(
        app.install_field::<String>(&id, "scope").await,
        "offline_access orders"
    );
    let operator = app.operator().await;
    let page = operator.get(&format!("/console/installs/{id}")).await;
    assert!(page.contains("offline_access orders"), "{page}");

    // A refresh that grants another scope is kept too.
    app.advance(600);
    crate::bol::bol_token(&app.state, &id).await.unwrap();
    assert_eq!(
        app.install_field::<String>(&id, "scope").await,
        "offline_access"
    );
}

// ----- item 11: client authentication -----

#[tokio::test]
async fn interop_raw_basic_auth_fails_with_a_secret_a_standard_server_decodes() {
    let app = app_with(|s| {
        s.env.set("BOL_CLIENT_SECRET", AWKWARD_SECRET);
        s.env.set("BOL_AUTHORIZE_EXTRA_PARAMS", "prompt=consent");
    })
    .await;
    OidcLike::new(&app, AWKWARD_SECRET).mount(&app).await;
    let (_, _, response) = run_flow(&app).await;
    assert_eq!(response.status(), 502);
    assert!(response.text().await.unwrap().contains("invalid_client"));
    assert!(nothing_stored(&app).await);
}

#[tokio::test]
async fn interop_client_auth_rfc6749_is_used_for_every_token_request() {
    let app = app_with(|s| {
        s.env.set("BOL_CLIENT_SECRET", AWKWARD_SECRET);
        s.env.set("BOL_CLIENT_AUTH", "rfc6749");
        s.env.set("BOL_AUTHORIZE_EXTRA_PARAMS", "prompt=consent");
    })
    .await;
    let server = OidcLike::new(&app, AWKWARD_SECRET);
    server.mount(&app).await;

    // The code.
    let (_, _, response) = run_flow(&app).await;
    assert_eq!(response.status(), 303, "{:?}", response.text().await);
    let id = app.install_id(RETAILER).await;
    // The refresh.
    app.advance(600);
    crate::bol::bol_token(&app.state, &id).await.unwrap();
    let requests = app.bol_token_requests().await;
    assert_eq!(requests.len(), 2);
    for request in &requests {
        let basic = header(request, "authorization");
        let decoded = String::from_utf8(
            BASE64
                .decode(basic.strip_prefix("Basic ").unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(decoded, format!("{BOL_CLIENT_ID}:s3cr%2Bt%2F%3D%25%3Ax+y"));
        assert!(!form(request).contains_key("client_secret"));
    }
    assert_eq!(form(&requests[1])["grant_type"], "refresh_token");
}

#[tokio::test]
async fn interop_client_auth_applies_to_retailers_own_credentials_too() {
    // client_secret_post: a retailer's own credentials go in the form as well.
    let app = app_with(|s| s.env.set("BOL_CLIENT_AUTH", "client_secret_post")).await;
    app.bol_token_endpoint(ResponseTemplate::new(200).set_body_json(json!({
        "access_token": "opaque-cc-token", "token_type": "Bearer", "expires_in": 299,
        "scope": "RETAILER"
    })))
    .await;
    let mut operator = app.operator().await;
    operator.form_page("/console/connections/bol/new").await;
    let response = operator
        .post_form(
            "/console/connections/bol",
            &[
                ("name", "Own credentials"),
                ("client_id", "retailer-own-id"),
                ("client_secret", "own+s3cr/t=%:x"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303, "{:?}", response.text().await);
    let requests = app.bol_token_requests().await;
    assert_eq!(requests.len(), 1);
    assert!(requests[0].headers.get("authorization").is_none());
    let fields = form(&requests[0]);
    assert_eq!(fields["grant_type"], "client_credentials");
    assert_eq!(fields["client_id"], "retailer-own-id");
    assert_eq!(fields["client_secret"], "own+s3cr/t=%:x");
}

// ----- item 12: iss (RFC 9207) and token_type -----

#[tokio::test]
async fn interop_a_callback_naming_another_issuer_is_refused_before_any_token_request() {
    let app = app_with(|s| {
        let origin = url::Url::parse(s.env.get("BOL_TOKEN_URL").unwrap())
            .unwrap()
            .origin()
            .ascii_serialization();
        s.env.set("BOL_ISSUER", format!("{origin}{ISSUER_PATH}"));
        s.env.set("BOL_AUTHORIZE_EXTRA_PARAMS", "prompt=consent");
    })
    .await;
    let server = OidcLike::new(&app, BOL_CLIENT_SECRET);
    server.mount(&app).await;

    // A mixed-up answer: our state, another server's issuer.
    let browser = browser();
    let state = query(&app.start_bol(&browser).await)["state"].clone();
    let response = app
        .bol_callback(
            &browser,
            &[
                ("code", "code-0"),
                ("state", &state),
                ("iss", "https://attacker.example.com"),
            ],
        )
        .await;
    assert_eq!(response.status(), 400);
    let page = response.text().await.unwrap();
    assert!(page.contains("another authorization server"), "{page}");
    assert!(!page.contains("attacker.example.com"));
    assert!(app.bol_token_requests().await.is_empty());
    assert!(nothing_stored(&app).await);

    // The stand-in's own answer, with its issuer, goes through.
    let (_, callback, response) = run_flow(&app).await;
    assert_eq!(query(&callback)["iss"], server.issuer);
    assert_eq!(response.status(), 303);

    // A server that sends no iss is not checked.
    let mut quiet = OidcLike::new(&app, BOL_CLIENT_SECRET);
    quiet.sends_iss = false;
    quiet.mount(&app).await;
    let (_, callback, response) = run_flow(&app).await;
    assert!(!query(&callback).contains_key("iss"));
    assert_eq!(response.status(), 303);
}

#[tokio::test]
async fn interop_a_maropost_callback_naming_another_issuer_is_refused() {
    let app = app_with(|s| s.env.set("MAROPOST_ISSUER", "https://apps.getneto.com")).await;
    let browser = browser();
    let authorize = app.start_install(&browser, "iss.example.com").await;
    let response = app
        .callback(
            &browser,
            &[
                ("code", "c"),
                ("state", &authorize["state"]),
                ("iss", "https://apps.getneto.com.evil.example"),
            ],
        )
        .await;
    assert_eq!(response.status(), 400);
    assert!(app.token_requests().await.is_empty());
    // The panel form (no state) is checked the same way.
    let response = app
        .callback(&browser, &[("code", "c"), ("iss", "https://other.example")])
        .await;
    assert_eq!(response.status(), 400);
    assert!(app.token_requests().await.is_empty());
}

#[tokio::test]
async fn interop_a_token_type_other_than_bearer_is_refused() {
    let app = app_with(|s| {
        s.env.set("BOL_AUTHORIZE_EXTRA_PARAMS", "prompt=consent");
    })
    .await;
    let mut server = OidcLike::new(&app, BOL_CLIENT_SECRET);
    server.token_type = "DPoP";
    server.mount(&app).await;
    let (_, _, response) = run_flow(&app).await;
    assert_eq!(response.status(), 502);
    let page = response.text().await.unwrap();
    assert!(page.contains("only Bearer tokens"), "{page}");
    assert!(nothing_stored(&app).await);

    // Any spelling of Bearer is fine.
    server.token_type = "bearer";
    server.mount(&app).await;
    let (_, _, response) = run_flow(&app).await;
    assert_eq!(response.status(), 303);
}

#[tokio::test]
async fn interop_the_sandboxes_send_their_issuer_and_it_is_checked() {
    let app = spawn_sandbox().await;
    let browser = browser();
    let authorize = app.start_bol(&browser).await;
    let state = query(&authorize)["state"].clone();
    let approved = browser
        .post(app.url("/sandbox/bol/authorize"))
        .form(&[
            ("client_id", query(&authorize)["client_id"].as_str()),
            ("redirect_uri", &query(&authorize)["redirect_uri"]),
            ("response_type", "code"),
            ("scope", "offline_access"),
            ("state", &state),
            ("code_challenge", &query(&authorize)["code_challenge"]),
            ("code_challenge_method", "S256"),
            ("retailer", RETAILER),
            ("decision", "approve"),
        ])
        .send()
        .await
        .unwrap();
    let back = Url::parse(&location(&approved)).unwrap();
    assert_eq!(
        query(&back)["iss"],
        app.url("/sandbox/bol").as_str().trim_end_matches('/')
    );
    // The same answer with another issuer is refused.
    let mut forged = back.clone();
    forged
        .query_pairs_mut()
        .clear()
        .extend_pairs(query(&back).iter().map(|(k, v)| {
            if k == "iss" {
                (k.as_str(), "http://localhost:1/sandbox/bol")
            } else {
                (k.as_str(), v.as_str())
            }
        }));
    let refused = browser.get(forged).send().await.unwrap();
    assert_eq!(refused.status(), 400);
    let accepted = browser.get(back).send().await.unwrap();
    assert_eq!(accepted.status(), 303);
    assert_eq!(location(&accepted), "/installed");
}
