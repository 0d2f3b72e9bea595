//! Requests forwarded by the commercetools Merchant Center API gateway: the valid case through
//! the sandbox's gateway stand-in; every refusal (another key, `alg` none, HS256 with the public
//! key as the secret, expired, wrong `aud`, wrong `iss`, an unknown cloud, each missing header)
//! answering `401`; a project seeing its own commercetools installs only (`404` for the rest,
//! `403` for revoking); and the key set fetched only a few times a minute however many unknown
//! `kid`s arrive.
//!
//! The real binary's log names a forwarded caller `merchant-center:{sub}` and holds no token.
//!
//! Outside the sandbox tests, `COMMERCETOOLS_MC_API_URL` points at a wiremock gateway that
//! publishes the test key's set and counts how often it is fetched.

use std::sync::Arc;

use base64::{
    Engine as _,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64URL},
};
use rsa::pkcs8::EncodePublicKey as _;
use serde_json::{Value, json};
use storelink::{
    clock::Clock as _,
    crypto::hmac_sha256,
    db::installs::{self, NewInstall},
    domain::{Initiator, InstallingUser, Platform},
    platforms::commercetools::sandbox::{GatewayKey, PATH as SANDBOX_GATEWAY},
};
use tokio::sync::OnceCell;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path},
};

use crate::{
    api::{backend, ok_json, problem},
    helpers::*,
};

const JWKS_PATH: &str = "/.well-known/jwks.json";
const PROJECT: &str = "acme-shop";
const USER: &str = "mc-user-42";

/// The gateway's key (the process's sandbox key: the wiremock gateway publishes it too).
async fn gateway_key() -> Arc<GatewayKey> {
    GatewayKey::shared().await.unwrap()
}

/// A key the gateway never published.
async fn other_key() -> &'static GatewayKey {
    static OTHER: OnceCell<GatewayKey> = OnceCell::const_new();
    OTHER
        .get_or_init(|| async {
            tokio::task::spawn_blocking(|| GatewayKey::generate().unwrap())
                .await
                .unwrap()
        })
        .await
}

/// An app whose Merchant Center gateway is a wiremock server publishing [`gateway_key`].
struct Forwarding {
    app: TestApp,
    gateway: MockServer,
}

async fn spawn_forwarding() -> Forwarding {
    spawn_forwarding_with(|_| {}).await
}

async fn spawn_forwarding_with(
    configure: impl FnOnce(&mut storelink::config::Settings) + Send + 'static,
) -> Forwarding {
    let key = gateway_key().await;
    let gateway = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(JWKS_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(key.jwks()))
        .mount(&gateway)
        .await;
    let issuer = url::Url::parse(&gateway.uri()).unwrap();
    let app = spawn_with(Options {
        configure: Some(Box::new(move |settings| {
            settings
                .env
                .set("COMMERCETOOLS_MC_API_URL", issuer.as_str());
            configure(settings);
        })),
        ..Options::default()
    })
    .await;
    Forwarding { app, gateway }
}

impl Forwarding {
    fn issuer(&self) -> String {
        self.gateway.uri()
    }

    /// The audience of a request to `path` of the app (its query is not part of it).
    fn audience(&self, path: &str) -> String {
        let path = path.split('?').next().unwrap_or_default();
        format!("{}{path}", self.app.base.as_str().trim_end_matches('/'))
    }

    /// Claims the gateway would sign for `path` and `project`.
    fn claims(&self, path: &str, project: &str) -> Value {
        let now = self.app.clock.unix();
        json!({
            "iss": self.issuer(),
            "sub": USER,
            "aud": self.audience(path),
            "iat": now,
            "exp": now + 300,
            format!("{}/claims/project_key", self.issuer()): project,
        })
    }

    async fn token(&self, path: &str, project: &str) -> String {
        gateway_key().await.sign(&self.claims(path, project))
    }

    /// `verb path`, forwarded with `token` for cloud `gcp-eu`.
    async fn send(&self, verb: reqwest::Method, path: &str, token: &str) -> reqwest::Response {
        backend()
            .request(verb, self.app.url(path))
            .header("X-MC-API-Forward-To-Version", "v2")
            .header("X-MC-API-Cloud-Identifier", "gcp-eu")
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// `GET path` as a user of `project`, with a good token.
    async fn get_as(&self, project: &str, path: &str) -> reqwest::Response {
        let token = self.token(path, project).await;
        self.send(reqwest::Method::GET, path, &token).await
    }

    async fn post_as(&self, project: &str, path: &str) -> reqwest::Response {
        let token = self.token(path, project).await;
        self.send(reqwest::Method::POST, path, &token).await
    }

    async fn jwks_fetches(&self) -> usize {
        self.gateway
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.url.path() == JWKS_PATH)
            .count()
    }
}

/// A commercetools install of `account_id` (`{cloud}:{project}`), as connections store them.
async fn commercetools_install(app: &TestApp, account_id: &str) -> String {
    save(app, Platform::Commercetools, account_id).await
}

async fn save(app: &TestApp, platform: Platform, account_id: &str) -> String {
    installs::save(
        &app.db,
        &app.state.keyring,
        &NewInstall {
            platform,
            account_id,
            store_domain: None,
            store_name: Some(account_id),
            timezone: None,
            scope: None,
            user: InstallingUser::default(),
            billing_address: None,
            initiated_by: Initiator::Storelink,
            access_token: b"t",
        },
        app.clock.unix(),
    )
    .await
    .unwrap()
    .id
}

/// The PEM of a public key, as an attacker would copy it from the key set.
fn public_pem(key: &GatewayKey) -> String {
    let der = key.public_key().to_public_key_der().unwrap();
    let body = STANDARD.encode(der.as_bytes());
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        lines.join("\n")
    )
}

/// A token with `header` and `claims`, "signed" with `signature` (already encoded).
fn unsigned(header: &Value, claims: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        B64URL.encode(header.to_string()),
        B64URL.encode(claims.to_string())
    )
}

/// An HS256 token keyed with `secret`.
fn hs256(claims: &Value, secret: &[u8]) -> String {
    let signed = format!(
        "{}.{}",
        B64URL.encode(json!({"alg": "HS256", "typ": "JWT"}).to_string()),
        B64URL.encode(claims.to_string())
    );
    let mac = hmac_sha256(secret, signed.as_bytes());
    format!("{signed}.{}", B64URL.encode(mac.as_slice()))
}

#[tokio::test]
async fn a_project_sees_its_own_commercetools_installs_only() {
    let f = spawn_forwarding().await;
    let app = &f.app;
    let own = commercetools_install(app, "gcp-eu:acme-shop").await;
    let other_project = commercetools_install(app, "gcp-eu:other-shop").await;
    let other_cloud = commercetools_install(app, "aws-fra:acme-shop").await;
    let maropost = save(app, Platform::Maropost, "gcp-eu:acme-shop").await;

    let list = ok_json(f.get_as(PROJECT, "/api/v1/installs").await).await;
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [own.as_str()]);
    assert_eq!(list["data"][0]["platform"], "commercetools");
    assert_eq!(list["data"][0]["account_id"], "gcp-eu:acme-shop");
    // A filter cannot widen the view.
    let filtered = ok_json(
        f.get_as(PROJECT, "/api/v1/installs?platform=maropost")
            .await,
    )
    .await;
    assert_eq!(filtered["data"], json!([]));

    let one = ok_json(f.get_as(PROJECT, &format!("/api/v1/installs/{own}")).await).await;
    assert_eq!(one["id"], own.as_str());

    // Anything else is answered exactly as a missing install is.
    let missing = problem(f.get_as(PROJECT, "/api/v1/installs/ab12cd").await, 404).await;
    for id in [&other_project, &other_cloud, &maropost] {
        for (verb, path) in [
            ("GET", format!("/api/v1/installs/{id}")),
            ("POST", format!("/api/v1/installs/{id}/access-token")),
            ("GET", format!("/api/v1/installs/{id}/proxy/orders")),
            ("GET", format!("/api/v1/events?install_id={id}")),
        ] {
            let answer = match verb {
                "GET" => f.get_as(PROJECT, &path).await,
                _ => f.post_as(PROJECT, &path).await,
            };
            let body = problem(answer, 404).await;
            if path.ends_with(id.as_str()) {
                assert_eq!(body, missing, "{verb} {path}");
            }
        }
    }
    // Its own install gets past the check (to what the platform module answers).
    let token_answer = f
        .post_as(PROJECT, &format!("/api/v1/installs/{own}/access-token"))
        .await;
    assert!(
        ![401, 403, 404].contains(&token_answer.status().as_u16()),
        "{}",
        token_answer.status()
    );

    // Revoking is refused, the same way for its own install and any other id.
    for id in [&own, &other_project, &"ab12cd".to_owned()] {
        let body = problem(
            f.post_as(PROJECT, &format!("/api/v1/installs/{id}/revoke"))
                .await,
            403,
        )
        .await;
        assert_eq!(body["type"], "urn:storelink:problem:forbidden");
    }
    let status: String = sqlx::query_scalar("SELECT status FROM installs WHERE id = $1")
        .bind(&own)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(status, "active");

    // The events feed holds its own installs' events only (none here).
    let events = ok_json(f.get_as(PROJECT, "/api/v1/events").await).await;
    assert_eq!(events["data"], json!([]));

    // Another project sees its own.
    let theirs = ok_json(f.get_as("other-shop", "/api/v1/installs").await).await;
    assert_eq!(theirs["data"][0]["id"], other_project.as_str());
    assert_eq!(theirs["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn every_bad_forwarded_request_is_refused_with_401() {
    let f = spawn_forwarding().await;
    commercetools_install(&f.app, "gcp-eu:acme-shop").await;
    let route = "/api/v1/installs";
    let key = gateway_key().await;
    let good = f.claims(route, PROJECT);
    let with = |name: &str, value: Value| {
        let mut claims = good.clone();
        claims[name] = value;
        claims
    };
    let now = f.app.clock.unix();
    let other = other_key().await;
    let cases: Vec<(&str, String)> = vec![
        (
            "signed by another key, naming the gateway's kid",
            other.sign_with_header(
                &json!({"alg": "RS256", "typ": "JWT", "kid": key.kid()}),
                &good,
            ),
        ),
        ("signed by another key, its own kid", other.sign(&good)),
        (
            "alg none",
            unsigned(&json!({"alg": "none", "typ": "JWT"}), &good, ""),
        ),
        (
            "alg none with the gateway's kid",
            unsigned(&json!({"alg": "none", "kid": key.kid()}), &good, ""),
        ),
        (
            "HS256 keyed with the gateway's public key",
            hs256(&good, public_pem(&key).as_bytes()),
        ),
        (
            "HS256 keyed with the key's DER",
            hs256(
                &good,
                key.public_key().to_public_key_der().unwrap().as_bytes(),
            ),
        ),
        ("expired", key.sign(&with("exp", json!(now - 120)))),
        (
            "for another path",
            key.sign(&with("aud", json!(f.audience("/api/v1/events")))),
        ),
        (
            "for another origin",
            key.sign(&with(
                "aud",
                json!(format!("https://evil.example.com{route}")),
            )),
        ),
        (
            "from another issuer",
            key.sign(&with(
                "iss",
                json!("https://mc-api.europe-west1.gcp.commercetools.com"),
            )),
        ),
        ("a tampered payload", {
            let token = key.sign(&good);
            let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
            parts[1] = B64URL.encode(with("sub", json!("admin")).to_string());
            parts.join(".")
        }),
        ("not a JWT", "slk_not-a-jwt".to_owned()),
    ];
    for (case, token) in &cases {
        let body = problem(f.send(reqwest::Method::GET, route, token).await, 401).await;
        assert_eq!(body["type"], "urn:storelink:problem:unauthorized", "{case}");
        assert!(
            body["detail"].as_str().unwrap().contains("Merchant Center"),
            "{case}: {body}"
        );
        assert!(!body.to_string().contains(token.as_str()), "{case}");
    }

    // Headers: an unknown cloud, an unknown version, and each one missing.
    let token = f.token(route, PROJECT).await;
    let request = |version: Option<&str>, cloud: Option<&str>, bearer: bool| {
        let mut request = backend().get(f.app.url(route));
        if let Some(version) = version {
            request = request.header("X-MC-API-Forward-To-Version", version);
        }
        if let Some(cloud) = cloud {
            request = request.header("X-MC-API-Cloud-Identifier", cloud);
        }
        if bearer {
            request = request.bearer_auth(&token);
        }
        request
    };
    for (case, version, cloud, bearer) in [
        ("unknown cloud", Some("v2"), Some("azure-us"), true),
        ("unknown version", Some("v3"), Some("gcp-eu"), true),
        ("no version", None, Some("gcp-eu"), true),
        ("no cloud", Some("v2"), None, true),
        ("no token", Some("v2"), Some("gcp-eu"), false),
    ] {
        let answer = request(version, cloud, bearer).send().await.unwrap();
        assert_eq!(
            answer.headers()["www-authenticate"],
            "Bearer realm=\"storelink\"",
            "{case}"
        );
        let body = problem(answer, 401).await;
        assert_eq!(body["type"], "urn:storelink:problem:unauthorized", "{case}");
    }
    // Neither Merchant Center header: the token is taken for an API key, and refused as one.
    let body = problem(request(None, None, true).send().await.unwrap(), 401).await;
    assert_eq!(body["type"], "urn:storelink:problem:unauthorized");
    // An API key does not count on a forwarded request.
    let api_key = f.app.api_key("backend").await;
    let answer = backend()
        .get(f.app.url(route))
        .header("X-MC-API-Cloud-Identifier", "gcp-eu")
        .bearer_auth(&api_key)
        .send()
        .await
        .unwrap();
    problem(answer, 401).await;

    // And the good token, for contrast.
    ok_json(f.send(reqwest::Method::GET, route, &token).await).await;
}

/// Keys named by the token itself (`jwk`, `jku`, `x5u`, `x5c`) are never fetched nor used: a
/// token signed by another key that carries or points at that key is refused, and the place it
/// points at is never asked; the gateway's own token with such headers still verifies with the
/// gateway's key. A `crit` header is refused even over a good signature.
#[tokio::test]
async fn keys_named_by_the_token_are_never_fetched_or_used() {
    let f = spawn_forwarding().await;
    let route = "/api/v1/installs";
    let key = gateway_key().await;
    let other = other_key().await;
    let attacker = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(other.jwks()))
        .mount(&attacker)
        .await;
    let pointed = format!("{}{JWKS_PATH}", attacker.uri());
    let claims = f.claims(route, PROJECT);
    let own_jwk = other.jwks()["keys"][0].clone();
    let carrying = |kid: &str| {
        json!({
            "alg": "RS256",
            "typ": "JWT",
            "kid": kid,
            "jwk": own_jwk,
            "jku": pointed,
            "x5u": pointed,
            "x5c": [STANDARD.encode(b"not a certificate")],
        })
    };
    for (case, kid) in [
        ("its own kid", other.kid()),
        ("the gateway's kid", key.kid()),
    ] {
        let token = other.sign_with_header(&carrying(kid), &claims);
        let body = problem(f.send(reqwest::Method::GET, route, &token).await, 401).await;
        assert_eq!(body["type"], "urn:storelink:problem:unauthorized", "{case}");
    }
    assert!(
        attacker
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty(),
        "a key URL in the token is never fetched"
    );

    // The gateway's own token, the same headers added: they are ignored.
    let token = key.sign_with_header(&carrying(key.kid()), &claims);
    ok_json(f.send(reqwest::Method::GET, route, &token).await).await;

    let critical = key.sign_with_header(
        &json!({"alg": "RS256", "typ": "JWT", "kid": key.kid(), "crit": ["exp"]}),
        &claims,
    );
    problem(f.send(reqwest::Method::GET, route, &critical).await, 401).await;
}

#[tokio::test]
async fn a_flood_of_unknown_keys_fetches_the_key_set_a_few_times_a_minute() {
    let f = spawn_forwarding().await;
    let route = "/api/v1/installs";
    let good = f.token(route, PROJECT).await;
    ok_json(f.send(reqwest::Method::GET, route, &good).await).await;
    assert_eq!(f.jwks_fetches().await, 1);

    let key = gateway_key().await;
    let claims = f.claims(route, PROJECT);
    let made_up = |n: usize| {
        key.sign_with_header(
            &json!({"alg": "RS256", "typ": "JWT", "kid": format!("made-up-{n}")}),
            &claims,
        )
    };
    let flood = (0..30).map(|n| {
        let token = made_up(n);
        let f = &f;
        async move { f.send(reqwest::Method::GET, route, &token).await }
    });
    for answer in futures::future::join_all(flood).await {
        problem(answer, 401).await;
    }
    let fetched = f.jwks_fetches().await;
    assert_eq!(fetched, 3, "at most 3 fetches a minute per issuer");
    // Known keys keep working without a fetch.
    ok_json(f.send(reqwest::Method::GET, route, &good).await).await;
    assert_eq!(f.jwks_fetches().await, fetched);

    // A minute later, an unknown key may cause one fetch again.
    f.app.clock.advance(time::Duration::seconds(61));
    problem(
        f.send(reqwest::Method::GET, route, &made_up(1000)).await,
        401,
    )
    .await;
    assert_eq!(f.jwks_fetches().await, fetched + 1);
}

#[tokio::test]
async fn an_unreachable_gateway_is_unavailable_not_a_server_error() {
    let closed = closed_port();
    let app = spawn_with(Options {
        configure: Some(Box::new(move |settings| {
            settings.env.set(
                "COMMERCETOOLS_MC_API_URL",
                format!("http://127.0.0.1:{closed}"),
            );
        })),
        ..Options::default()
    })
    .await;
    let key = gateway_key().await;
    let issuer = format!("http://127.0.0.1:{closed}");
    let now = app.clock.unix();
    let token = key.sign(&json!({
        "iss": issuer,
        "sub": USER,
        "aud": format!("{}api/v1/installs", app.base),
        "exp": now + 60,
        format!("{issuer}/claims/project_key"): PROJECT,
    }));
    let answer = backend()
        .get(app.url("/api/v1/installs"))
        .header("X-MC-API-Forward-To-Version", "v2")
        .header("X-MC-API-Cloud-Identifier", "gcp-eu")
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    problem(answer, 503).await;
}

#[tokio::test]
async fn the_sandbox_gateway_forwards_for_a_project() {
    let app = spawn_sandbox().await;
    let own = commercetools_install(&app, "gcp-eu:acme-shop").await;
    commercetools_install(&app, "gcp-eu:other-shop").await;
    let gateway = app.url(&format!("{SANDBOX_GATEWAY}/proxy/forward-to"));
    let forward = |target: String, project: &'static str| {
        backend()
            .get(gateway.clone())
            .header("X-Forward-To", target)
            .header("X-Project-Key", project)
            .header("Accept-version", "v2")
    };

    let answer = forward(app.url("/api/v1/installs").to_string(), PROJECT)
        .send()
        .await
        .unwrap();
    assert!(answer.headers().contains_key("x-storelink-sandbox"));
    let list = ok_json(answer).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["id"], own.as_str());
    let one = ok_json(
        forward(
            app.url(&format!("/api/v1/installs/{own}")).to_string(),
            PROJECT,
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(one["account_id"], "gcp-eu:acme-shop");
    let none = ok_json(
        forward(app.url("/api/v1/installs").to_string(), "third-shop")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(none["data"], json!([]));

    // The stand-in publishes its key and forwards to storelink only.
    let jwks: Value = backend()
        .get(app.url(&format!("{SANDBOX_GATEWAY}/.well-known/jwks.json")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["kty"], "RSA");
    assert_eq!(jwks["keys"][0]["alg"], "RS256");
    for target in [
        "https://evil.example.com/api/v1/installs".to_owned(),
        app.url(&format!("{SANDBOX_GATEWAY}/proxy/forward-to"))
            .to_string(),
        "not a url".to_owned(),
    ] {
        let answer = forward(target.clone(), PROJECT).send().await.unwrap();
        assert_eq!(answer.status(), 400, "{target}");
    }
    let answer = forward(app.url("/api/v1/installs").to_string(), "Not A Key")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
}

#[tokio::test]
async fn the_openapi_document_describes_the_merchant_center_scheme() {
    let app = spawn_app().await;
    let doc = ok_json(
        backend()
            .get(app.url("/api/v1/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let scheme = &doc["components"]["securitySchemes"]["merchant_center"];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");
    assert_eq!(scheme["bearerFormat"], "JWT");
    assert!(
        scheme["description"]
            .as_str()
            .unwrap()
            .contains("X-MC-API-Cloud-Identifier")
    );
    let security = |route: &str, verb: &str| doc["paths"][route][verb]["security"].clone();
    assert_eq!(
        security("/api/v1/installs", "get")[1]["merchant_center"],
        json!([])
    );
    assert_eq!(
        security("/api/v1/installs/{id}/proxy/{path}", "post")[1]["merchant_center"],
        json!([])
    );
    assert_eq!(
        security("/api/v1/installs/{id}/revoke", "post")
            .as_array()
            .unwrap()
            .len(),
        1,
        "revoking is for keys only"
    );
}

#[tokio::test]
async fn the_log_names_the_merchant_center_user_and_never_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let mut running = start_binary(
        dir.path(),
        &[("STORELINK_SANDBOX", "on"), ("RUST_LOG", "debug")],
    )
    .await;
    let (mut log, mut lines) = (std::mem::take(&mut running.log), running.lines);
    let collector = tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            log.push_str(&line);
            log.push('\n');
        }
        log
    });
    let base = url::Url::parse(&format!("http://localhost:{}/", running.port)).unwrap();
    let through_gateway = backend()
        .get(
            base.join(&format!("{SANDBOX_GATEWAY}/proxy/forward-to"))
                .unwrap(),
        )
        .header(
            "X-Forward-To",
            base.join("/api/v1/installs").unwrap().as_str(),
        )
        .header("X-Project-Key", PROJECT)
        .send()
        .await
        .unwrap();
    assert_eq!(through_gateway.status(), 200);
    // A token of another key, sent straight to storelink: refused, and not logged either.
    let issuer = format!("{}{SANDBOX_GATEWAY}", base.as_str().trim_end_matches('/'));
    let forged = other_key().await.sign(&json!({
        "iss": issuer,
        "sub": "intruder",
        "aud": base.join("/api/v1/installs").unwrap().as_str().to_owned(),
        "exp": 4_000_000_000_i64,
        format!("{issuer}/claims/project_key"): PROJECT,
    }));
    let refused = backend()
        .get(base.join("/api/v1/installs").unwrap())
        .header("X-MC-API-Forward-To-Version", "v2")
        .header("X-MC-API-Cloud-Identifier", "gcp-eu")
        .bearer_auth(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    running.child.kill().await.unwrap();
    let log = collector.await.unwrap();
    assert!(
        log.contains("merchant-center:sandbox-merchant-center-user"),
        "the caller is named: {log}"
    );
    assert!(log.contains("forwarded Merchant Center request was refused"));
    let signature = forged.rsplit('.').next().unwrap();
    assert!(!log.contains(signature), "the refused token is not logged");
    // A JWT's header always starts `eyJ` (`{"`): none of the gateway's tokens is logged.
    assert!(!log.contains("eyJ"), "no token is logged: {log}");
}

/// Issue 20: a Merchant Center user has the API's rate limit, as a key has; another user of the
/// same project has an allowance of their own.
#[tokio::test]
async fn a_forwarded_user_past_the_rate_limit_is_told_to_wait() {
    let forwarding = spawn_forwarding_with(|s| s.api.rate_limit = 5).await;
    let path = "/api/v1/installs";
    let token = forwarding.token(path, PROJECT).await;
    let mut limited = 0;
    let mut retry_after = None;
    for _ in 0..30 {
        let answer = forwarding.send(reqwest::Method::GET, path, &token).await;
        if answer.status() == 429 {
            limited += 1;
            retry_after = answer.headers().get("retry-after").cloned();
            let problem = problem(answer, 429).await;
            assert_eq!(problem["type"], "urn:storelink:problem:rate-limited");
        } else {
            assert_eq!(answer.status(), 200);
        }
    }
    assert!(
        limited >= 15,
        "a burst of 30 at 5 a second is limited: {limited}"
    );
    assert!(retry_after.is_some());
    // Another Merchant Center user is not held back by the first one's burst.
    let mut claims = forwarding.claims(path, PROJECT);
    claims["sub"] = json!("mc-user-43");
    let other = gateway_key().await.sign(&claims);
    let answer = forwarding.send(reqwest::Method::GET, path, &other).await;
    assert_eq!(answer.status(), 200);
}
