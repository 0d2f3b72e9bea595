//! The OrderCloud stand-in: one marketplace with two API clients and two users, at
//! `/sandbox/ordercloud` (its page lists them, as OrderCloud's portal would):
//!
//! - `POST /sandbox/ordercloud/oauth/token`: the `password`, `client_credentials` and
//!   `refresh_token` grants, form-encoded. An API client with a secret requires it
//!   (`InvalidGrant` without it, as OrderCloud answers); a wrong user name or password is
//!   `InvalidCredentials`, without saying which. Only [`SELLER_APP`] issues refresh tokens (its
//!   RefreshTokenDuration is set), so both renewal paths run.
//! - `GET /sandbox/ordercloud/v1/me` and `GET /sandbox/ordercloud/v1/orders/Incoming`: a valid,
//!   unexpired bearer token, else `401` in OrderCloud's error form
//!   (`{"Errors": [{"ErrorCode", "Message"}]}`); any other `/v1/...` path is a `404` in that form.
//!
//! Access tokens are HS256 JWTs (`usr`, `cid`, `exp` [`ACCESS_TOKEN_LIFETIME_SECS`] later) and
//! refresh tokens are signed too, under keys derived from the master key: they stay valid across
//! restarts, and nothing is remembered.

use std::sync::Arc;

use askama::Template;
use axum::{
    Form, Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{any, get, post},
};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use crate::sandbox::pages::oauth_error;
use crate::{
    clock::Clock,
    crypto::{Keyring, constant_time_eq, random_hex},
    platforms::kit::jwt,
    render::render_or_plain,
};

/// The platform's name on the stand-in's pages.
pub const PLATFORM: &str = "OrderCloud";
/// How long a sandbox access token lives, in seconds (OrderCloud's default is 600).
pub const ACCESS_TOKEN_LIFETIME_SECS: i64 = 600;
/// How long a sandbox refresh token lives, in seconds.
const REFRESH_TOKEN_LIFETIME_SECS: i64 = 7 * 24 * 3600;

/// The API client without a secret, which issues refresh tokens.
pub const SELLER_APP: &str = "sandbox-seller-app";
/// The API client with a secret, without refresh tokens.
pub const INTEGRATION: &str = "sandbox-integration";
/// [`INTEGRATION`]'s secret. Not a secret: the sandbox's page shows it.
pub const INTEGRATION_SECRET: &str = "sandbox-integration-secret";
/// The marketplace's users: user name, password, id, name.
pub const USERS: [(&str, &str, &str, &str); 2] = [
    ("admin01", "sandbox-password-01", "u-admin01", "Ada Admin"),
    ("buyer01", "sandbox-password-02", "u-buyer01", "Ben Buyer"),
];
/// The user [`INTEGRATION`]'s client-credentials tokens act as (its default context user).
const CONTEXT_USER: &str = "admin01";

/// The stand-in's state: its signing keys and the clock.
pub struct SandboxOrderCloud {
    access_key: Zeroizing<[u8; 32]>,
    refresh_key: Zeroizing<[u8; 32]>,
    clock: Arc<dyn Clock>,
}

impl SandboxOrderCloud {
    /// A stand-in signing under keys derived from the master key.
    pub fn new(keyring: &Keyring, clock: Arc<dyn Clock>) -> Self {
        let key = |label| keyring.current().derive_subkey(label);
        Self {
            access_key: key("sandbox ordercloud access tokens"),
            refresh_key: key("sandbox ordercloud refresh tokens"),
            clock,
        }
    }

    fn token_answer(&self, client_id: &str, user: &str) -> Value {
        let now = self.clock.unix();
        let mut claims = Map::new();
        claims.insert("usr".into(), json!(user));
        claims.insert("cid".into(), json!(client_id));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + ACCESS_TOKEN_LIFETIME_SECS));
        claims.insert("jti".into(), json!(random_hex(8)));
        let mut answer = json!({
            "access_token": jwt::sign_hs256(self.access_key.as_ref(), &claims),
            "expires_in": ACCESS_TOKEN_LIFETIME_SECS,
            "token_type": "bearer",
        });
        if client_id == SELLER_APP {
            let mut refresh = Map::new();
            refresh.insert("usr".into(), json!(user));
            refresh.insert("cid".into(), json!(client_id));
            refresh.insert("exp".into(), json!(now + REFRESH_TOKEN_LIFETIME_SECS));
            answer["refresh_token"] = json!(jwt::sign_hs256(self.refresh_key.as_ref(), &refresh));
        }
        answer
    }

    /// The user a valid, unexpired access token acts as.
    fn user_of(
        &self,
        headers: &HeaderMap,
    ) -> Option<&'static (&'static str, &'static str, &'static str, &'static str)> {
        let token = headers
            .get(header::AUTHORIZATION)?
            .to_str()
            .ok()?
            .strip_prefix("Bearer ")?;
        let claims = jwt::verify_hs256(self.access_key.as_ref(), token.trim()).ok()?;
        if claims.expires_at()? <= self.clock.unix() {
            return None;
        }
        let user = claims.string("usr")?;
        USERS.iter().find(|u| u.0 == user)
    }
}

/// The stand-in's routes, with its state.
pub fn router<S: Clone + Send + Sync + 'static>(sandbox: Arc<SandboxOrderCloud>) -> Router<S> {
    Router::new()
        .route("/sandbox/ordercloud", get(page))
        .route("/sandbox/ordercloud/oauth/token", post(token))
        .route("/sandbox/ordercloud/v1/me", get(me))
        .route("/sandbox/ordercloud/v1/orders/Incoming", get(orders))
        .route("/sandbox/ordercloud/v1/{*rest}", any(not_found))
        .with_state(sandbox)
}

#[derive(Template)]
#[template(path = "sandbox/ordercloud.html")]
struct MarketplacePage {
    platform: &'static str,
    seller_app: &'static str,
    integration: &'static str,
    integration_secret: &'static str,
    users: &'static [(&'static str, &'static str, &'static str, &'static str)],
}

async fn page() -> Response {
    render_or_plain(&MarketplacePage {
        platform: PLATFORM,
        seller_app: SELLER_APP,
        integration: INTEGRATION,
        integration_secret: INTEGRATION_SECRET,
        users: &USERS,
    })
}

/// A token request's form.
#[derive(Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    username: Option<String>,
    password: Option<String>,
    refresh_token: Option<String>,
}

async fn token(
    State(sandbox): State<Arc<SandboxOrderCloud>>,
    Form(form): Form<TokenForm>,
) -> Response {
    let invalid_grant = |why: &str| oauth_error(StatusCode::BAD_REQUEST, "InvalidGrant", why);
    let client_id = form.client_id.as_deref().unwrap_or_default();
    let secret = form.client_secret.as_deref().unwrap_or_default();
    let client_ok = match client_id {
        SELLER_APP => true,
        INTEGRATION => constant_time_eq(secret.as_bytes(), INTEGRATION_SECRET.as_bytes()),
        _ => false,
    };
    if !client_ok {
        return invalid_grant(
            "The requested API Client does not exist or is not available, or its ClientSecret \
             is missing or wrong.",
        );
    }
    match form.grant_type.as_deref() {
        Some("password") => {
            let username = form.username.as_deref().unwrap_or_default();
            let password = form.password.as_deref().unwrap_or_default();
            let user = USERS
                .iter()
                .find(|u| u.0 == username && constant_time_eq(u.1.as_bytes(), password.as_bytes()));
            match user {
                Some(user) => Json(sandbox.token_answer(client_id, user.0)).into_response(),
                None => oauth_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidCredentials",
                    "The provided credentials do not match any account on record for the \
                     provided client.",
                ),
            }
        }
        Some("client_credentials") => {
            Json(sandbox.token_answer(client_id, CONTEXT_USER)).into_response()
        }
        Some("refresh_token") => {
            let claims = form
                .refresh_token
                .as_deref()
                .and_then(|t| jwt::verify_hs256(sandbox.refresh_key.as_ref(), t).ok());
            let valid = claims.as_ref().is_some_and(|c| {
                c.expires_at().is_some_and(|exp| exp > sandbox.clock.unix())
                    && c.string("cid").as_deref() == Some(client_id)
            });
            match claims.and_then(|c| c.string("usr")).filter(|_| valid) {
                Some(user) => Json(sandbox.token_answer(client_id, &user)).into_response(),
                None => invalid_grant("The refresh token is invalid or expired."),
            }
        }
        _ => oauth_error(
            StatusCode::BAD_REQUEST,
            "UnsupportedGrantType",
            "grant_type must be password, client_credentials or refresh_token.",
        ),
    }
}

/// OrderCloud's error answer.
fn errors(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"Errors": [{"ErrorCode": code, "Message": message, "Data": null}]})),
    )
        .into_response()
}

fn unauthorized() -> Response {
    errors(
        StatusCode::UNAUTHORIZED,
        "InvalidToken",
        "Access token is invalid or expired.",
    )
}

async fn me(State(sandbox): State<Arc<SandboxOrderCloud>>, headers: HeaderMap) -> Response {
    let Some(&(username, _, id, name)) = sandbox.user_of(&headers) else {
        return unauthorized();
    };
    let (first, last) = name.split_once(' ').unwrap_or((name, ""));
    Json(json!({
        "ID": id,
        "Username": username,
        "FirstName": first,
        "LastName": last,
        "Email": format!("{username}@sandbox.example.com"),
        "Active": true,
    }))
    .into_response()
}

async fn orders(State(sandbox): State<Arc<SandboxOrderCloud>>, headers: HeaderMap) -> Response {
    if sandbox.user_of(&headers).is_none() {
        return unauthorized();
    }
    Json(json!({
        "Meta": {"Page": 1, "PageSize": 20, "TotalCount": 2, "TotalPages": 1, "ItemRange": [1, 2]},
        "Items": [
            {"ID": "SO-1001", "Status": "Open", "Total": 129.95, "DateSubmitted": "2026-11-20T09:12:00+00:00"},
            {"ID": "SO-1002", "Status": "Completed", "Total": 42.0, "DateSubmitted": "2026-11-21T15:40:00+00:00"},
        ],
    }))
    .into_response()
}

async fn not_found() -> Response {
    errors(
        StatusCode::NOT_FOUND,
        "NotFound",
        "This sandbox answers only /v1/me and /v1/orders/Incoming.",
    )
}
