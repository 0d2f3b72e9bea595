//! The Maropost stand-in: `/sandbox/maropost/oauth/v2/auth` (Approve/Deny),
//! `/sandbox/maropost/oauth/v2/token`, `/sandbox/maropost/api-keys` (a control panel's API keys,
//! user-based or global), and `GetOrder` on `/sandbox/maropost/{store_domain}/do/WS/NetoAPI`
//! with either an add-on's `X_ACCESS_KEY`/`X_SECRET_KEY` or an API key's
//! `NETOAPI_KEY`/`NETOAPI_USERNAME`.
//!
//! Codes are single use and live 60 seconds. Access tokens and API keys are signed (HMAC under a
//! key derived from the master key), so they can be checked statelessly and stay valid across
//! restarts.

use std::sync::Arc;

use askama::Template;
use axum::{
    Form, Json, Router,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::sandbox::{
    codes::CodeStore,
    pages::{Approval, ReturnTo, approve, error_page, oauth_error},
};
use crate::{
    clock::Clock,
    crypto::{Keyring, constant_time_eq, hex, hmac_sha256, random_hex},
    domain::StoreDomain,
    platforms::{
        kit::endpoints::sandbox_issuer,
        maropost::settings::{MaropostConfig, SANDBOX_ISSUER_PATH},
    },
    render::render_or_plain,
};

const PLATFORM: &str = "Maropost";
pub use crate::sandbox::codes::CODE_LIFETIME_SECS;

/// The Maropost stand-in's state.
pub struct SandboxMaropost {
    client_id: String,
    client_secret: SecretString,
    redirect_uri: String,
    /// Sent as `iss` with every authorization answer.
    issuer: String,
    token_key: Zeroizing<[u8; 32]>,
    api_key_key: Zeroizing<[u8; 32]>,
    codes: CodeStore<StoreDomain>,
    clock: Arc<dyn Clock>,
}

impl SandboxMaropost {
    /// A stand-in that expects storelink's own Maropost settings.
    pub fn new(keyring: &Keyring, clock: Arc<dyn Clock>, config: &MaropostConfig) -> Self {
        Self {
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            redirect_uri: config.redirect_uri.to_string(),
            issuer: sandbox_issuer(&config.redirect_uri, SANDBOX_ISSUER_PATH),
            token_key: keyring
                .current()
                .derive_subkey("sandbox maropost access tokens"),
            api_key_key: keyring.current().derive_subkey("sandbox maropost api keys"),
            codes: CodeStore::default(),
            clock,
        }
    }

    /// A new access token for `domain`: a random nonce and its signature.
    fn issue_token(&self, domain: &StoreDomain) -> String {
        let nonce = random_hex(16);
        format!("sbx_{nonce}.{}", self.sign(domain, &nonce))
    }

    fn sign(&self, domain: &StoreDomain, nonce: &str) -> String {
        let message = format!("{}|{nonce}", domain.as_str());
        hex(&hmac_sha256(self.token_key.as_ref(), message.as_bytes())[..16])
    }

    /// The API key of `domain`'s staff user `username` (the global key when empty).
    pub fn api_key(&self, domain: &StoreDomain, username: &str) -> String {
        let message = format!("{}|{username}", domain.as_str());
        format!(
            "sbxkey{}",
            hex(&hmac_sha256(self.api_key_key.as_ref(), message.as_bytes())[..16])
        )
    }

    /// Whether `token` was issued by this sandbox for `domain`.
    fn token_is_valid(&self, domain: &StoreDomain, token: &str) -> bool {
        let Some((nonce, signature)) = token
            .strip_prefix("sbx_")
            .and_then(|rest| rest.split_once('.'))
        else {
            return false;
        };
        constant_time_eq(signature.as_bytes(), self.sign(domain, nonce).as_bytes())
    }
}

/// The stand-in's routes, with its state.
pub fn router<S: Clone + Send + Sync + 'static>(sandbox: Arc<SandboxMaropost>) -> Router<S> {
    Router::new()
        .route(
            "/sandbox/maropost/oauth/v2/auth",
            get(authorize_page).post(authorize_decision),
        )
        .route("/sandbox/maropost/oauth/v2/token", post(token))
        .route(
            "/sandbox/maropost/api-keys",
            get(api_keys_page).post(create_api_key),
        )
        .route("/sandbox/maropost/{store_domain}/do/WS/NetoAPI", post(api))
        .with_state(sandbox)
}

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
    store_domain: String,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    code_challenge: Option<String>,
    #[serde(default)]
    code_challenge_method: Option<String>,
    #[serde(default)]
    decision: Option<String>,
}

#[derive(Template)]
#[template(path = "sandbox/maropost_authorize.html")]
struct AuthorizePage<'a> {
    platform: &'a str,
    client_id: &'a str,
    redirect_uri: &'a str,
    store_domain: &'a str,
    state: &'a str,
    code_challenge: &'a str,
    code_challenge_method: &'a str,
}

/// What a checked authorize request becomes.
enum Checked {
    /// Show an error page (the redirect URI cannot be trusted).
    Page(Response),
    /// Send the error back to the (verified) redirect URI.
    Redirect(Response),
    /// Go on, for this store.
    Ok(StoreDomain),
}

/// Checks an authorize request the way a strict provider does: an unknown client or an
/// unregistered redirect URI gets an error page; other errors go back to the redirect URI.
fn check_authorize(sandbox: &SandboxMaropost, params: &AuthorizeParams) -> Checked {
    if !constant_time_eq(params.client_id.as_bytes(), sandbox.client_id.as_bytes()) {
        return Checked::Page(error_page(
            StatusCode::BAD_REQUEST,
            PLATFORM,
            "Unknown client_id: no add-on is registered with it.",
        ));
    }
    if params.redirect_uri != sandbox.redirect_uri {
        return Checked::Page(error_page(
            StatusCode::BAD_REQUEST,
            PLATFORM,
            "The redirect_uri is not the one registered for this add-on.",
        ));
    }
    if params.response_type.as_deref().is_some_and(|t| t != "code") {
        return Checked::Redirect(return_to(sandbox, params).error(
            "unsupported_response_type",
            "Only response_type=code is supported.",
        ));
    }
    if params.code_challenge.is_some()
        && params.code_challenge_method.as_deref().unwrap_or("plain") != "S256"
    {
        return Checked::Redirect(return_to(sandbox, params).error(
            "invalid_request",
            "Only the S256 code challenge method is supported.",
        ));
    }
    match StoreDomain::parse(&params.store_domain) {
        Ok(domain) => Checked::Ok(domain),
        Err(e) => Checked::Page(error_page(
            StatusCode::BAD_REQUEST,
            PLATFORM,
            &format!("The store_domain is not valid: {e}."),
        )),
    }
}

async fn authorize_page(
    State(sandbox): State<Arc<SandboxMaropost>>,
    Query(params): Query<AuthorizeParams>,
) -> Response {
    match check_authorize(&sandbox, &params) {
        Checked::Page(r) | Checked::Redirect(r) => r,
        Checked::Ok(domain) => render_or_plain(&AuthorizePage {
            platform: PLATFORM,
            client_id: &params.client_id,
            redirect_uri: &params.redirect_uri,
            store_domain: domain.as_str(),
            state: params.state.as_deref().unwrap_or_default(),
            code_challenge: params.code_challenge.as_deref().unwrap_or_default(),
            code_challenge_method: params.code_challenge_method.as_deref().unwrap_or_default(),
        }),
    }
}

async fn authorize_decision(
    State(sandbox): State<Arc<SandboxMaropost>>,
    Form(params): Form<AuthorizeParams>,
) -> Response {
    let domain = match check_authorize(&sandbox, &params) {
        Checked::Page(r) | Checked::Redirect(r) => return r,
        Checked::Ok(domain) => domain,
    };
    let approval = Approval {
        back: return_to(&sandbox, &params),
        decision: params.decision.as_deref(),
        code_challenge: params.code_challenge.as_deref(),
        denied: "The merchant denied the add-on access.",
        // The store was checked with the request; there is always something to grant.
        nothing_to_grant: "The store_domain is not valid.",
    };
    approve(&approval, &sandbox.codes, sandbox.clock.unix(), || {
        Some(domain)
    })
}

/// Where the request's answer goes: its redirect URI, with its state.
fn return_to<'a>(sandbox: &'a SandboxMaropost, params: &'a AuthorizeParams) -> ReturnTo<'a> {
    ReturnTo {
        platform: PLATFORM,
        redirect_uri: &params.redirect_uri,
        state: params.state.as_deref(),
        issuer: &sandbox.issuer,
    }
}

/// The token request's form.
#[derive(Debug, Default, Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    redirect_uri: Option<String>,
    code: Option<String>,
    code_verifier: Option<String>,
}

async fn token(
    State(sandbox): State<Arc<SandboxMaropost>>,
    form: Result<Form<TokenForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Expected a form-encoded body.",
        );
    };
    if form.grant_type.as_deref() != Some("authorization_code") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Only authorization_code is supported.",
        );
    }
    let client_ok = constant_time_eq(
        form.client_id.as_deref().unwrap_or_default().as_bytes(),
        sandbox.client_id.as_bytes(),
    ) & constant_time_eq(
        form.client_secret.as_deref().unwrap_or_default().as_bytes(),
        sandbox.client_secret.expose_secret().as_bytes(),
    );
    if !client_ok {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed.",
        );
    }
    let domain = match sandbox.codes.redeem(
        form.code.as_deref(),
        form.redirect_uri.as_deref(),
        form.code_verifier.as_deref(),
        sandbox.clock.unix(),
    ) {
        Ok(domain) => domain,
        Err(description) => {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", description);
        }
    };
    Json(token_answer(&domain, &sandbox.issue_token(&domain))).into_response()
}

/// A token answer in Maropost's shape, with store details made up from the domain.
fn token_answer(domain: &StoreDomain, access_token: &str) -> Value {
    let first_label = domain.as_str().split('.').next().unwrap_or("store");
    let mut name: Vec<char> = first_label.chars().collect();
    if let Some(c) = name.first_mut() {
        *c = c.to_ascii_uppercase();
    }
    let name: String = name.into_iter().collect();
    json!({
        "scope": "api user address",
        "store_id": store_id(domain),
        "store_domain": domain.as_str(),
        "store_name": format!("{name} (sandbox)"),
        "store_timezone": "Australia/Brisbane",
        "access_token": access_token,
        "user": {
            "id": "1",
            "first_name": "Sandy",
            "last_name": "Box",
            "email": format!("owner@{}", domain.as_str()),
        },
        "billing_address": {
            "street1": "1 Sample Street",
            "street2": "",
            "city": "Brisbane",
            "state": "QLD",
            "post_code": "4000",
            "country_name": "Australia",
            "country_code": "AU",
        },
    })
}

/// A stable id per domain, so installing the same sandbox store twice is a re-install.
pub fn store_id(domain: &StoreDomain) -> String {
    format!(
        "sbx-{}",
        &crate::crypto::sha256_hex(domain.as_str().as_bytes())[..12]
    )
}

/// The API's `Ack: Error` answer.
fn ack_error(message: &str) -> Response {
    Json(json!({
        "Ack": "Error",
        "Messages": [{"Error": {"Message": message, "SeverityLevel": "Error"}}],
    }))
    .into_response()
}

async fn api(
    State(sandbox): State<Arc<SandboxMaropost>>,
    Path(store_domain): Path<String>,
    headers: HeaderMap,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    let Ok(domain) = StoreDomain::parse(&store_domain) else {
        return ack_error("Unknown store.");
    };
    if headers.contains_key("NETOAPI_KEY") {
        let expected = sandbox.api_key(&domain, header("NETOAPI_USERNAME"));
        if !constant_time_eq(header("NETOAPI_KEY").as_bytes(), expected.as_bytes()) {
            return ack_error("Invalid API key: check NETOAPI_KEY and NETOAPI_USERNAME.");
        }
    } else {
        let key_ok = constant_time_eq(
            header("X_ACCESS_KEY").as_bytes(),
            sandbox.client_id.as_bytes(),
        );
        if !key_ok || !sandbox.token_is_valid(&domain, header("X_SECRET_KEY")) {
            return ack_error("Invalid API credentials: check X_ACCESS_KEY and X_SECRET_KEY.");
        }
    }
    match header("NETOAPI_ACTION") {
        "GetOrder" => Json(json!({
            "Order": sample_orders(),
            "CurrentTime": sandbox.clock.now().date().to_string(),
            "Ack": "Success",
        }))
        .into_response(),
        "" => ack_error("Missing NETOAPI_ACTION header."),
        _ => ack_error("This sandbox answers only the GetOrder action."),
    }
}

#[derive(Template)]
#[template(path = "sandbox/maropost_api_keys.html")]
struct ApiKeysPage {
    platform: &'static str,
    created: Option<(String, String, String)>,
}

async fn api_keys_page() -> Response {
    render_or_plain(&ApiKeysPage {
        platform: PLATFORM,
        created: None,
    })
}

/// The form that generates a key.
#[derive(Debug, Deserialize)]
struct NewApiKey {
    #[serde(default)]
    store_domain: String,
    #[serde(default)]
    username: String,
}

async fn create_api_key(
    State(sandbox): State<Arc<SandboxMaropost>>,
    Form(form): Form<NewApiKey>,
) -> Response {
    let Ok(domain) = StoreDomain::parse(&form.store_domain) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            PLATFORM,
            "Enter a store domain such as sandbox-store.neto.com.au.",
        );
    };
    let username = form.username.trim();
    if username.chars().count() > 200 || username.chars().any(char::is_control) {
        return error_page(
            StatusCode::BAD_REQUEST,
            PLATFORM,
            "Enter a staff user's name.",
        );
    }
    let key = sandbox.api_key(&domain, username);
    render_or_plain(&ApiKeysPage {
        platform: PLATFORM,
        created: Some((domain.as_str().to_owned(), username.to_owned(), key)),
    })
}

fn sample_orders() -> Value {
    json!([
        {"OrderID": "N10154", "OrderStatus": "Pick", "Email": "alex@example.com",
         "GrandTotal": "129.95", "DatePlaced": "2024-01-03 01:11:12"},
        {"OrderID": "N10155", "OrderStatus": "New", "Email": "sam@example.com",
         "GrandTotal": "42.00", "DatePlaced": "2024-01-03 02:20:05"},
        {"OrderID": "N10156", "OrderStatus": "Dispatched", "Email": "kim@example.com",
         "GrandTotal": "310.10", "DatePlaced": "2024-01-02 23:59:41"},
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{crypto::MasterKey, platforms::maropost::settings::MaropostSettings};

    fn sandbox() -> SandboxMaropost {
        let keyring = Keyring::new(MasterKey::from_base64(&MasterKey::generate_base64()).unwrap());
        let public = url::Url::parse("http://localhost:3000").unwrap();
        let config = MaropostConfig::resolve(&MaropostSettings::default(), true, &public)
            .unwrap()
            .unwrap();
        SandboxMaropost::new(&keyring, Arc::new(crate::clock::SystemClock), &config)
    }

    #[test]
    fn tokens_are_valid_only_for_their_store() {
        let sandbox = sandbox();
        let a = StoreDomain::parse("a.example.com").unwrap();
        let b = StoreDomain::parse("b.example.com").unwrap();
        let token = sandbox.issue_token(&a);
        assert!(sandbox.token_is_valid(&a, &token));
        assert!(!sandbox.token_is_valid(&b, &token));
        assert!(!sandbox.token_is_valid(&a, "sbx_00.00"));
        assert!(!sandbox.token_is_valid(&a, ""));
    }

    #[test]
    fn api_keys_belong_to_one_store_and_user() {
        let sandbox = sandbox();
        let a = StoreDomain::parse("a.example.com").unwrap();
        let b = StoreDomain::parse("b.example.com").unwrap();
        assert_eq!(
            sandbox.api_key(&a, "warehouse"),
            sandbox.api_key(&a, "warehouse")
        );
        assert_ne!(sandbox.api_key(&a, "warehouse"), sandbox.api_key(&a, ""));
        assert_ne!(sandbox.api_key(&a, ""), sandbox.api_key(&b, ""));
    }

    #[test]
    fn store_ids_are_stable() {
        let d = StoreDomain::parse("shop.example.com").unwrap();
        assert_eq!(store_id(&d), store_id(&d));
        assert_ne!(
            store_id(&d),
            store_id(&StoreDomain::parse("x.example.com").unwrap())
        );
    }
}
