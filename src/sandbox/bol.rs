//! The bol.com stand-in:
//!
//! - `/sandbox/bol/authorize`: the retailer picks one of its accounts and approves or denies;
//! - `/sandbox/bol/token`: `authorization_code` (with the PKCE check), `refresh_token` (rotated
//!   on every use) and `client_credentials`, all with Basic auth, refusing anything secret in the
//!   URL query as bol.com does, and answering `400 invalid_grant` for a used or expired code or
//!   refresh token;
//! - `/sandbox/bol/retailer/orders`: requires a valid, unexpired bearer token and answers `429`
//!   with `Retry-After` past [`RATE_LIMIT_PER_SECOND`] requests a second per retailer;
//! - `/sandbox/bol/credentials`: creates a retailer's own client id and secret, as bol.com's
//!   Seller Dashboard does, for client-credentials connections.
//!
//! Access tokens are HS256 JWTs (`sub` = the retailer id, `iat`, `exp` only
//! [`ACCESS_TOKEN_LIFETIME_SECS`] later, so refreshes happen while you watch), signed under a key
//! derived from the master key. Refresh tokens and client secrets are signed too, so they stay
//! valid across restarts; which refresh tokens were spent is remembered in memory only (a
//! restart forgets it, which a sandbox can afford).

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard},
    time::{Duration, Instant},
};

use askama::Template;
use axum::{
    Form, Json, Router,
    extract::{Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, Uri, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use secrecy::ExposeSecret as _;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use super::{codes::CodeStore, error_page, oauth_error};
use crate::{
    app::AppState,
    crypto::{Keyring, constant_time_eq, hex, hmac_sha256, random_hex},
    error::render_or_plain,
    providers::bol::{API_MEDIA_TYPE, BolClient, BolConfig, jwt},
};

const PLATFORM: &str = "bol.com";
/// How long a sandbox access token lives, in seconds: short, so refreshes are exercised.
pub const ACCESS_TOKEN_LIFETIME_SECS: i64 = 120;
/// How long a sandbox refresh token lives, in seconds (bol.com's live about a year).
pub const REFRESH_TOKEN_LIFETIME_SECS: i64 = 365 * 24 * 60 * 60;
pub use super::codes::CODE_LIFETIME_SECS;
/// Requests per second per retailer the orders endpoint answers before `429`.
pub const RATE_LIMIT_PER_SECOND: u32 = 5;
/// Spent refresh tokens remembered at most.
const MAX_SPENT: usize = 100_000;

/// The retailer accounts a sandbox user can pick: id and name.
pub const RETAILERS: [(&str, &str); 3] = [
    ("1100001", "Tulip Traders"),
    ("1100002", "Windmill Wares"),
    ("1100003", "Stroopwafel Supplies"),
];

/// The bol.com stand-in's state.
pub struct SandboxBol {
    /// storelink's intermediary client, as the sandbox has it registered.
    client: Option<BolClient>,
    redirect_uri: String,
    access_key: Zeroizing<[u8; 32]>,
    refresh_key: Zeroizing<[u8; 32]>,
    credentials_key: Zeroizing<[u8; 32]>,
    codes: CodeStore<String>,
    /// Spent refresh tokens' nonces, with when they would have expired.
    spent: Mutex<HashMap<String, i64>>,
    /// Per retailer: when the current one-second window started, and requests in it.
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave these maps inconsistent: use them as they are.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl SandboxBol {
    /// A stand-in that expects storelink's own bol.com settings.
    pub fn new(keyring: &Keyring, config: &BolConfig) -> Self {
        let key = |label| keyring.current().derive_subkey(label);
        Self {
            client: config.code_flow().cloned(),
            redirect_uri: config.redirect_uri.to_string(),
            access_key: key("sandbox bol access tokens"),
            refresh_key: key("sandbox bol refresh tokens"),
            credentials_key: key("sandbox bol client credentials"),
            codes: CodeStore::default(),
            spent: Mutex::new(HashMap::new()),
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// New API credentials of `retailer`'s own, as the Seller Dashboard creates them: a client
    /// id naming the retailer, and a secret derived from it.
    pub fn create_client_credentials(&self, retailer: &str) -> (String, String) {
        let client_id = format!("sbx-{retailer}-{}", random_hex(6));
        let secret = self.client_secret_for(&client_id);
        (client_id, secret)
    }

    fn client_secret_for(&self, client_id: &str) -> String {
        hex(hmac_sha256(self.credentials_key.as_ref(), client_id.as_bytes()).as_ref())
    }

    /// The retailer whose own credentials these are, if they are valid.
    fn retailer_of_credentials(&self, client_id: &str, secret: &str) -> Option<String> {
        let retailer = client_id.strip_prefix("sbx-")?.split('-').next()?;
        let valid = known_retailer(retailer)
            && constant_time_eq(
                secret.as_bytes(),
                self.client_secret_for(client_id).as_bytes(),
            );
        valid.then(|| retailer.to_owned())
    }

    /// A signed access token for `retailer`.
    pub fn issue_access_token(&self, retailer: &str, client_id: &str, now: i64) -> String {
        let mut claims = Map::new();
        claims.insert("sub".into(), json!(retailer));
        claims.insert("client_id".into(), json!(client_id));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + ACCESS_TOKEN_LIFETIME_SECS));
        claims.insert("jti".into(), json!(random_hex(8)));
        jwt::sign_hs256(self.access_key.as_ref(), &claims)
    }

    /// A signed refresh token for `retailer`: `rt.{retailer}.{expires}.{nonce}.{signature}`.
    fn issue_refresh_token(&self, retailer: &str, now: i64) -> String {
        let expires = now + REFRESH_TOKEN_LIFETIME_SECS;
        let nonce = random_hex(16);
        let signature = self.sign_refresh(retailer, expires, &nonce);
        format!("rt.{retailer}.{expires}.{nonce}.{signature}")
    }

    fn sign_refresh(&self, retailer: &str, expires: i64, nonce: &str) -> String {
        let message = format!("{retailer}|{expires}|{nonce}");
        hex(&hmac_sha256(self.refresh_key.as_ref(), message.as_bytes())[..16])
    }

    /// Spends a refresh token: the retailer it was issued to, or why it is refused.
    fn spend_refresh_token(&self, token: &str, now: i64) -> Result<String, &'static str> {
        let parts: Vec<&str> = token.split('.').collect();
        let ["rt", retailer, expires_text, nonce, signature] = parts.as_slice() else {
            return Err("Refresh token is invalid");
        };
        let expires: i64 = expires_text
            .parse()
            .map_err(|_| "Refresh token is invalid")?;
        let expected = self.sign_refresh(retailer, expires, nonce);
        if !constant_time_eq(signature.as_bytes(), expected.as_bytes()) {
            return Err("Refresh token is invalid");
        }
        if now >= expires {
            return Err("Refresh token has expired");
        }
        let mut spent = locked(&self.spent);
        if spent.contains_key(*nonce) {
            return Err("Refresh token has already been used");
        }
        if spent.len() >= MAX_SPENT {
            spent.retain(|_, exp| *exp > now);
        }
        spent.insert((*nonce).to_owned(), expires);
        Ok((*retailer).to_owned())
    }

    /// Counts a request of `retailer`'s; `false` once it is past the limit for this second.
    fn within_rate_limit(&self, retailer: &str) -> bool {
        let mut windows = locked(&self.windows);
        let now = Instant::now();
        let window = windows.entry(retailer.to_owned()).or_insert((now, 0));
        if now.duration_since(window.0) >= Duration::from_secs(1) {
            *window = (now, 0);
        }
        window.1 += 1;
        window.1 <= RATE_LIMIT_PER_SECOND
    }
}

fn known_retailer(id: &str) -> bool {
    RETAILERS.iter().any(|(r, _)| *r == id)
}

/// The stand-in's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/sandbox/bol/authorize",
            get(authorize_page).post(authorize_decision),
        )
        .route("/sandbox/bol/token", post(token))
        .route("/sandbox/bol/retailer/orders", get(orders))
        .route(
            "/sandbox/bol/credentials",
            get(credentials_page).post(create_credentials),
        )
}

fn sandbox(state: &AppState) -> Option<&SandboxBol> {
    state.sandbox.as_ref()?.bol.as_ref()
}

// ----- authorize -----

/// The authorize request's parameters, also carried through the Approve/Deny form.
#[derive(Debug, Default, Deserialize)]
struct AuthorizeParams {
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    redirect_uri: String,
    #[serde(default)]
    response_type: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    code_challenge: Option<String>,
    #[serde(default)]
    code_challenge_method: Option<String>,
    #[serde(default)]
    retailer: Option<String>,
    #[serde(default)]
    decision: Option<String>,
}

#[derive(Template)]
#[template(path = "sandbox/bol_authorize.html")]
struct AuthorizePage<'a> {
    platform: &'a str,
    client_id: &'a str,
    redirect_uri: &'a str,
    scope: &'a str,
    state: &'a str,
    code_challenge: &'a str,
    code_challenge_method: &'a str,
    retailers: &'a [(&'a str, &'a str)],
}

/// Checks an authorize request as a strict provider does: an unknown client or an unregistered
/// redirect URI gets an error page; other errors go back to the redirect URI. `None` when the
/// request is acceptable.
fn refuse_authorize(sandbox: &SandboxBol, params: &AuthorizeParams) -> Option<Response> {
    let known_client = sandbox
        .client
        .as_ref()
        .is_some_and(|c| constant_time_eq(params.client_id.as_bytes(), c.client_id.as_bytes()));
    if !known_client {
        return Some(error_page(
            StatusCode::BAD_REQUEST,
            PLATFORM,
            "Unknown client_id: no intermediary is registered with it.",
        ));
    }
    if params.redirect_uri != sandbox.redirect_uri {
        return Some(error_page(
            StatusCode::BAD_REQUEST,
            PLATFORM,
            "The redirect_uri is not the one registered for this intermediary.",
        ));
    }
    if params.response_type.as_deref() != Some("code") {
        return Some(redirect_error(
            params,
            "unsupported_response_type",
            "Only response_type=code is supported.",
        ));
    }
    if params
        .code_challenge
        .as_deref()
        .is_some_and(|c| !c.is_empty())
        && params.code_challenge_method.as_deref().unwrap_or("plain") != "S256"
    {
        return Some(redirect_error(
            params,
            "invalid_request",
            "Only the S256 code challenge method is supported.",
        ));
    }
    None
}

async fn authorize_page(
    State(state): State<AppState>,
    Query(params): Query<AuthorizeParams>,
) -> Response {
    let Some(sandbox) = sandbox(&state) else {
        return crate::web::not_found().await;
    };
    if let Some(refusal) = refuse_authorize(sandbox, &params) {
        return refusal;
    }
    render_or_plain(&AuthorizePage {
        platform: PLATFORM,
        client_id: &params.client_id,
        redirect_uri: &params.redirect_uri,
        scope: params.scope.as_deref().unwrap_or_default(),
        state: params.state.as_deref().unwrap_or_default(),
        code_challenge: params.code_challenge.as_deref().unwrap_or_default(),
        code_challenge_method: params.code_challenge_method.as_deref().unwrap_or_default(),
        retailers: &RETAILERS,
    })
}

async fn authorize_decision(
    State(state): State<AppState>,
    Form(params): Form<AuthorizeParams>,
) -> Response {
    let Some(sandbox) = sandbox(&state) else {
        return crate::web::not_found().await;
    };
    if let Some(refusal) = refuse_authorize(sandbox, &params) {
        return refusal;
    }
    if params.decision.as_deref() != Some("approve") {
        return redirect_error(
            &params,
            "access_denied",
            "The retailer denied the intermediary access.",
        );
    }
    let Some(retailer) = params.retailer.clone().filter(|r| known_retailer(r)) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            PLATFORM,
            "Pick one of the sandbox's retailer accounts.",
        );
    };
    let Some(code) = sandbox.codes.issue(
        retailer,
        &params.redirect_uri,
        params.code_challenge.as_deref(),
        state.clock.unix(),
    ) else {
        return error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            PLATFORM,
            "Too many approvals are waiting to be exchanged; try again in a minute.",
        );
    };
    redirect_back(&params, &[("code", &code)])
}

/// `303` to the verified redirect URI with `pairs` and the state.
fn redirect_back(params: &AuthorizeParams, pairs: &[(&str, &str)]) -> Response {
    super::redirect_back(
        PLATFORM,
        &params.redirect_uri,
        params.state.as_deref(),
        pairs,
    )
}

fn redirect_error(params: &AuthorizeParams, error: &str, description: &str) -> Response {
    redirect_back(
        params,
        &[("error", error), ("error_description", description)],
    )
}

// ----- token -----

/// The token request's form. Client credentials come as Basic auth, never here.
#[derive(Debug, Default, Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
}

fn invalid_grant(description: &str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", description)
}

/// `Authorization: Basic base64(id:secret)`.
fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = String::from_utf8(BASE64.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// Whether the request accepts a JSON answer (bol.com's token endpoint serves nothing else).
fn accepts_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

async fn token(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Some(sandbox) = sandbox(&state) else {
        return crate::web::not_found().await;
    };
    if uri.query().is_some_and(|q| !q.is_empty()) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Credentials, codes and tokens must not be sent in the URL.",
        );
    }
    if !accepts_json(&headers) {
        return oauth_error(
            StatusCode::NOT_ACCEPTABLE,
            "invalid_request",
            "Only Accept: application/json is supported.",
        );
    }
    let Some((client_id, secret)) = basic_auth(&headers) else {
        let mut refusal = oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication with HTTP Basic is required.",
        );
        refusal.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"bol.com sandbox\""),
        );
        return refusal;
    };
    let Ok(Form(form)) = form else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Expected a form-encoded body.",
        );
    };
    let now = state.clock.unix();
    let intermediary = sandbox.client.as_ref().is_some_and(|c| {
        constant_time_eq(client_id.as_bytes(), c.client_id.as_bytes())
            & constant_time_eq(
                secret.as_bytes(),
                c.client_secret.expose_secret().as_bytes(),
            )
    });
    match form.grant_type.as_deref() {
        Some("authorization_code") if intermediary => {
            exchange_code(sandbox, &form, &client_id, now)
        }
        Some("refresh_token") if intermediary => refresh(sandbox, &form, &client_id, now),
        Some("client_credentials") => match sandbox.retailer_of_credentials(&client_id, &secret) {
            Some(retailer) => Json(json!({
                "access_token": sandbox.issue_access_token(&retailer, &client_id, now),
                "token_type": "Bearer",
                "expires_in": ACCESS_TOKEN_LIFETIME_SECS,
                "scope": "RETAILER",
            }))
            .into_response(),
            None => bad_client(),
        },
        Some("authorization_code" | "refresh_token") => bad_client(),
        _ => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Use authorization_code, refresh_token or client_credentials.",
        ),
    }
}

fn bad_client() -> Response {
    oauth_error(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "Client authentication failed.",
    )
}

fn exchange_code(sandbox: &SandboxBol, form: &TokenForm, client_id: &str, now: i64) -> Response {
    let retailer = match sandbox.codes.redeem(
        form.code.as_deref(),
        form.redirect_uri.as_deref(),
        form.code_verifier.as_deref(),
        now,
    ) {
        Ok(retailer) => retailer,
        Err(description) => return invalid_grant(description),
    };
    token_answer(sandbox, &retailer, client_id, now)
}

fn refresh(sandbox: &SandboxBol, form: &TokenForm, client_id: &str, now: i64) -> Response {
    let Some(presented) = form.refresh_token.as_deref().filter(|t| !t.is_empty()) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "refresh_token is required.",
        );
    };
    match sandbox.spend_refresh_token(presented, now) {
        Ok(retailer) => token_answer(sandbox, &retailer, client_id, now),
        Err(reason) => invalid_grant(reason),
    }
}

/// A code-flow token answer: an access token and a new (rotated) refresh token.
fn token_answer(sandbox: &SandboxBol, retailer: &str, client_id: &str, now: i64) -> Response {
    Json(json!({
        "access_token": sandbox.issue_access_token(retailer, client_id, now),
        "token_type": "Bearer",
        "expires_in": ACCESS_TOKEN_LIFETIME_SECS,
        "refresh_token": sandbox.issue_refresh_token(retailer, now),
        "scope": "offline_access",
    }))
    .into_response()
}

// ----- the Retailer API -----

/// An RFC 7807 problem, as the Retailer API answers errors.
fn problem(status: StatusCode, title: &str, detail: &str) -> Response {
    let mut response = (
        status,
        Json(json!({
            "type": "https://api.bol.com/problems",
            "title": title,
            "status": status.as_u16(),
            "detail": detail,
        })),
    )
        .into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.retailer.v10+json"),
    );
    response
}

/// The retailer a bearer token was issued to, or the title and detail of the `401` to answer.
fn authenticate(
    sandbox: &SandboxBol,
    headers: &HeaderMap,
    now: i64,
) -> Result<String, (&'static str, &'static str)> {
    let unauthorized = |title, detail| Err((title, detail));
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return unauthorized("Unauthorized", "A bearer token is required.");
    };
    let Ok(claims) = jwt::verify_hs256(sandbox.access_key.as_ref(), token.trim()) else {
        return unauthorized("Invalid JWT", "The token was not issued by this sandbox.");
    };
    if claims.expires_at().is_none_or(|exp| exp <= now) {
        return unauthorized("Expired JWT", "The token has expired.");
    }
    match claims.string("sub") {
        Some(retailer) => Ok(retailer),
        None => unauthorized("Invalid JWT", "The token names no retailer."),
    }
}

async fn orders(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(sandbox) = sandbox(&state) else {
        return crate::web::not_found().await;
    };
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !accept.contains(API_MEDIA_TYPE) {
        return problem(
            StatusCode::NOT_ACCEPTABLE,
            "Not Acceptable",
            "Accept must be application/vnd.retailer.v10+json.",
        );
    }
    let retailer = match authenticate(sandbox, &headers, state.clock.unix()) {
        Ok(retailer) => retailer,
        Err((title, detail)) => return problem(StatusCode::UNAUTHORIZED, title, detail),
    };
    if !sandbox.within_rate_limit(&retailer) {
        let mut refusal = problem(
            StatusCode::TOO_MANY_REQUESTS,
            "Too Many Requests",
            "At most 5 requests a second; see Retry-After.",
        );
        let headers = refusal.headers_mut();
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        headers.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        return refusal;
    }
    let mut response = Json(json!({"orders": sample_orders(&retailer)})).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.retailer.v10+json"),
    );
    response
}

fn sample_orders(retailer: &str) -> Value {
    json!([
        {"orderId": format!("{retailer}-A4K8LP3"), "orderPlacedDateTime": "2024-01-03T10:11:12+01:00",
         "orderItems": [{"orderItemId": "6107434013", "ean": "8712626055143", "quantity": 1}]},
        {"orderId": format!("{retailer}-B7Q2XZ9"), "orderPlacedDateTime": "2024-01-03T11:20:05+01:00",
         "orderItems": [{"orderItemId": "6107434014", "ean": "8804269223123", "quantity": 2}]},
    ])
}

// ----- a retailer's own credentials -----

#[derive(Template)]
#[template(path = "sandbox/bol_credentials.html")]
struct CredentialsPage<'a> {
    platform: &'a str,
    retailers: &'a [(&'a str, &'a str)],
    created: Option<(String, String, String)>,
}

async fn credentials_page(State(state): State<AppState>) -> Response {
    if sandbox(&state).is_none() {
        return crate::web::not_found().await;
    }
    render_or_plain(&CredentialsPage {
        platform: PLATFORM,
        retailers: &RETAILERS,
        created: None,
    })
}

/// The form that creates credentials.
#[derive(Debug, Deserialize)]
struct CreateCredentials {
    #[serde(default)]
    retailer: String,
}

async fn create_credentials(
    State(state): State<AppState>,
    Form(form): Form<CreateCredentials>,
) -> Response {
    let Some(sandbox) = sandbox(&state) else {
        return crate::web::not_found().await;
    };
    if !known_retailer(&form.retailer) {
        return error_page(
            StatusCode::BAD_REQUEST,
            PLATFORM,
            "Pick one of the sandbox's retailer accounts.",
        );
    }
    let (client_id, secret) = sandbox.create_client_credentials(&form.retailer);
    render_or_plain(&CredentialsPage {
        platform: PLATFORM,
        retailers: &RETAILERS,
        created: Some((form.retailer, client_id, secret)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{config::BolSettings, crypto::MasterKey};

    fn sandbox() -> SandboxBol {
        let keyring = Keyring::new(MasterKey::from_base64(&MasterKey::generate_base64()).unwrap());
        let public = url::Url::parse("http://localhost:3000").unwrap();
        let config = BolConfig::resolve(&BolSettings::default(), true, &public).unwrap();
        SandboxBol::new(&keyring, &config)
    }

    #[test]
    fn refresh_tokens_are_single_use_and_expire() {
        let sandbox = sandbox();
        let token = sandbox.issue_refresh_token("1100001", 1000);
        assert_eq!(
            sandbox.spend_refresh_token(&token, 1001).unwrap(),
            "1100001"
        );
        assert_eq!(
            sandbox.spend_refresh_token(&token, 1002),
            Err("Refresh token has already been used")
        );
        let old = sandbox.issue_refresh_token("1100001", 0);
        assert_eq!(
            sandbox.spend_refresh_token(&old, REFRESH_TOKEN_LIFETIME_SECS),
            Err("Refresh token has expired")
        );
        let forged = token.replace("1100001", "1100002");
        assert_eq!(
            sandbox.spend_refresh_token(&forged, 1001),
            Err("Refresh token is invalid")
        );
        assert!(sandbox.spend_refresh_token("rt.x", 1).is_err());
    }

    #[test]
    fn own_credentials_name_their_retailer() {
        let sandbox = sandbox();
        let (id, secret) = sandbox.create_client_credentials("1100002");
        assert_eq!(
            sandbox.retailer_of_credentials(&id, &secret).as_deref(),
            Some("1100002")
        );
        assert_eq!(sandbox.retailer_of_credentials(&id, "wrong"), None);
        let other = id.replace("1100002", "1100003");
        assert_eq!(sandbox.retailer_of_credentials(&other, &secret), None);
    }

    #[test]
    fn access_tokens_verify_and_carry_the_retailer() {
        let sandbox = sandbox();
        let token = sandbox.issue_access_token("1100003", "cid", 500);
        let claims = jwt::verify_hs256(sandbox.access_key.as_ref(), &token).unwrap();
        assert_eq!(claims.string("sub").as_deref(), Some("1100003"));
        assert_eq!(claims.expires_at(), Some(500 + ACCESS_TOKEN_LIFETIME_SECS));
        assert_eq!(claims.unix_time("iat"), Some(500));
    }

    #[test]
    fn rate_limit_counts_per_retailer() {
        let sandbox = sandbox();
        for _ in 0..RATE_LIMIT_PER_SECOND {
            assert!(sandbox.within_rate_limit("1100001"));
        }
        assert!(!sandbox.within_rate_limit("1100001"));
        assert!(sandbox.within_rate_limit("1100002"));
    }
}
