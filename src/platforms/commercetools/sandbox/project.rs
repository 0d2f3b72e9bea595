//! The commercetools project stand-in: one project, [`PROJECT_KEY`], in every region, with one
//! API client (its page at `/sandbox/commercetools` shows the credentials, as the Merchant
//! Center shows a new API client's once):
//!
//! - `POST /sandbox/commercetools/auth/{region}/oauth/token`: the client-credentials grant with
//!   Basic auth; scopes must be of the project (`invalid_scope` otherwise), a wrong client is
//!   `401 invalid_client`, as commercetools answers;
//! - `GET /sandbox/commercetools/api/{region}/{projectKey}` (the project) and `.../orders`: a
//!   valid, unexpired bearer token for that project and region, else `401` in commercetools'
//!   error form (`{"statusCode", "message", "errors": [{"code", "message"}]}`).
//!
//! Access tokens are HS256 JWTs (project, region, scope, `exp` [`ACCESS_TOKEN_LIFETIME_SECS`]
//! later) under a key derived from the master key: valid across restarts, nothing remembered.

use std::sync::Arc;

use askama::Template;
use axum::{
    Form, Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use serde::Deserialize;
use serde_json::{Map, json};
use zeroize::Zeroizing;

use crate::{
    clock::Clock,
    crypto::{Keyring, constant_time_eq, random_hex},
    platforms::{commercetools::cloud::CloudIdentifier, kit::jwt},
    render::render_or_plain,
    sandbox::pages::oauth_error,
};

/// The platform's name on the stand-in's pages.
const PLATFORM: &str = "commercetools";
/// The sandbox project's key.
pub const PROJECT_KEY: &str = "sandbox-shop";
/// Its API client's id.
pub const CLIENT_ID: &str = "sandbox-ct-client";
/// Its API client's secret. Not a secret: the sandbox's page shows it.
pub const CLIENT_SECRET: &str = "sandbox-ct-secret-5d8e";
/// How long a sandbox access token lives, in seconds (commercetools' live 48 hours; these
/// are short so renewals can be watched).
pub const ACCESS_TOKEN_LIFETIME_SECS: i64 = 1800;

/// The project stand-in's state.
pub struct SandboxProject {
    access_key: Zeroizing<[u8; 32]>,
    clock: Arc<dyn Clock>,
}

impl SandboxProject {
    /// A stand-in signing under a key derived from the master key.
    pub fn new(keyring: &Keyring, clock: Arc<dyn Clock>) -> Self {
        Self {
            access_key: keyring
                .current()
                .derive_subkey("sandbox commercetools access tokens"),
            clock,
        }
    }

    /// Whether `headers` carry a valid token for the project in `region`.
    fn authorized(&self, headers: &HeaderMap, region: &str) -> bool {
        let Some(token) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        let Ok(claims) = jwt::verify_hs256(self.access_key.as_ref(), token.trim()) else {
            return false;
        };
        claims
            .expires_at()
            .is_some_and(|exp| exp > self.clock.unix())
            && claims.string("region").as_deref() == Some(region)
            && claims.string("project").as_deref() == Some(PROJECT_KEY)
    }
}

/// The stand-in's routes, with its state.
pub fn router<S: Clone + Send + Sync + 'static>(sandbox: Arc<SandboxProject>) -> Router<S> {
    Router::new()
        .route("/sandbox/commercetools", get(page))
        .route(
            "/sandbox/commercetools/auth/{region}/oauth/token",
            post(token),
        )
        .route(
            "/sandbox/commercetools/api/{region}/{project}",
            get(project),
        )
        .route(
            "/sandbox/commercetools/api/{region}/{project}/orders",
            get(orders),
        )
        .with_state(sandbox)
}

#[derive(Template)]
#[template(path = "sandbox/commercetools.html")]
struct ProjectPage {
    platform: &'static str,
    project_key: &'static str,
    client_id: &'static str,
    client_secret: &'static str,
    regions: Vec<(&'static str, &'static str)>,
}

async fn page() -> Response {
    render_or_plain(&ProjectPage {
        platform: PLATFORM,
        project_key: PROJECT_KEY,
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        regions: CloudIdentifier::ALL
            .iter()
            .map(|c| (c.as_str(), c.region()))
            .collect(),
    })
}

/// A token request's form.
#[derive(Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    scope: Option<String>,
}

/// `Basic base64(id:secret)`, decoded.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let encoded = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Basic ")?;
    let decoded = String::from_utf8(BASE64.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

async fn token(
    State(sandbox): State<Arc<SandboxProject>>,
    Path(region): Path<String>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    if !CloudIdentifier::ALL.iter().any(|c| c.region() == region) {
        return oauth_error(StatusCode::NOT_FOUND, "not_found", "No such region.");
    }
    let client_ok = basic_credentials(&headers).is_some_and(|(id, secret)| {
        id == CLIENT_ID && constant_time_eq(secret.as_bytes(), CLIENT_SECRET.as_bytes())
    });
    if !client_ok {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Please provide valid client credentials using HTTP Basic Authentication.",
        );
    }
    if form.grant_type.as_deref() != Some("client_credentials") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Only client_credentials is supported.",
        );
    }
    let scope = form
        .scope
        .unwrap_or_else(|| format!("manage_project:{PROJECT_KEY}"));
    let ours = scope
        .split_whitespace()
        .all(|s| s.split(':').nth(1) == Some(PROJECT_KEY));
    if scope.trim().is_empty() || !ours {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "The requested scopes are not granted to this client.",
        );
    }
    let now = sandbox.clock.unix();
    let mut claims = Map::new();
    claims.insert("project".into(), json!(PROJECT_KEY));
    claims.insert("region".into(), json!(region));
    claims.insert("scope".into(), json!(scope));
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(now + ACCESS_TOKEN_LIFETIME_SECS));
    claims.insert("jti".into(), json!(random_hex(8)));
    Json(json!({
        "access_token": jwt::sign_hs256(sandbox.access_key.as_ref(), &claims),
        "token_type": "Bearer",
        "expires_in": ACCESS_TOKEN_LIFETIME_SECS,
        "scope": scope,
    }))
    .into_response()
}

/// commercetools' error answer.
fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({
            "statusCode": status.as_u16(),
            "message": message,
            "errors": [{"code": code, "message": message}],
        })),
    )
        .into_response()
}

/// Checks the token and the project; the refusal when they do not fit.
fn refused(
    sandbox: &SandboxProject,
    headers: &HeaderMap,
    region: &str,
    key: &str,
) -> Option<Response> {
    if !sandbox.authorized(headers, region) {
        return Some(error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "The access token is invalid or has expired.",
        ));
    }
    (key != PROJECT_KEY).then(|| {
        error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            &format!(
                "The project with key '{}' was not found.",
                key.chars().take(36).collect::<String>()
            ),
        )
    })
}

async fn project(
    State(sandbox): State<Arc<SandboxProject>>,
    Path((region, key)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(refusal) = refused(&sandbox, &headers, &region, &key) {
        return refusal;
    }
    Json(json!({
        "key": PROJECT_KEY,
        "name": "Sandbox Shop",
        "countries": ["NL", "DE"],
        "currencies": ["EUR"],
        "languages": ["en", "nl"],
        "createdAt": "2026-01-05T09:00:00.000Z",
        "version": 3,
    }))
    .into_response()
}

async fn orders(
    State(sandbox): State<Arc<SandboxProject>>,
    Path((region, key)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(refusal) = refused(&sandbox, &headers, &region, &key) {
        return refusal;
    }
    Json(json!({
        "limit": 20, "offset": 0, "count": 2, "total": 2,
        "results": [
            {"id": "0f6c1c9e-1", "orderNumber": "CT-1001", "orderState": "Open",
             "totalPrice": {"currencyCode": "EUR", "centAmount": 12995}},
            {"id": "0f6c1c9e-2", "orderNumber": "CT-1002", "orderState": "Complete",
             "totalPrice": {"currencyCode": "EUR", "centAmount": 4200}},
        ],
    }))
    .into_response()
}
