//! The bol.com stand-in's login: the authorize page (a retailer picks an account and approves or
//! denies) and the token endpoint (`authorization_code` with the PKCE check, `refresh_token`
//! rotated on every use, `client_credentials`), all with Basic auth, refusing anything secret in
//! the URL query as bol.com does.

use std::sync::Arc;

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
use serde_json::json;

use super::state::{ACCESS_TOKEN_LIFETIME_SECS, PLATFORM, RETAILERS, SandboxBol, known_retailer};
use crate::{
    crypto::constant_time_eq,
    render::render_or_plain,
    sandbox::pages::{Approval, ReturnTo, approve, error_page, oauth_error},
};

/// The authorize page and the token endpoint.
pub(super) fn routes() -> Router<Arc<SandboxBol>> {
    Router::new()
        .route(
            "/sandbox/bol/authorize",
            get(authorize_page).post(authorize_decision),
        )
        .route("/sandbox/bol/token", post(token))
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
        return Some(return_to(sandbox, params).error(
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
        return Some(return_to(sandbox, params).error(
            "invalid_request",
            "Only the S256 code challenge method is supported.",
        ));
    }
    None
}

async fn authorize_page(
    State(sandbox): State<Arc<SandboxBol>>,
    Query(params): Query<AuthorizeParams>,
) -> Response {
    if let Some(refusal) = refuse_authorize(&sandbox, &params) {
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
    State(sandbox): State<Arc<SandboxBol>>,
    Form(params): Form<AuthorizeParams>,
) -> Response {
    if let Some(refusal) = refuse_authorize(&sandbox, &params) {
        return refusal;
    }
    let approval = Approval {
        back: return_to(&sandbox, &params),
        decision: params.decision.as_deref(),
        code_challenge: params.code_challenge.as_deref(),
        denied: "The retailer denied the intermediary access.",
        nothing_to_grant: "Pick one of the sandbox's retailer accounts.",
    };
    approve(&approval, &sandbox.codes, sandbox.clock.unix(), || {
        params.retailer.clone().filter(|r| known_retailer(r))
    })
}

/// Where the request's answer goes: its redirect URI, with its state.
fn return_to<'a>(sandbox: &'a SandboxBol, params: &'a AuthorizeParams) -> ReturnTo<'a> {
    ReturnTo {
        platform: PLATFORM,
        redirect_uri: &params.redirect_uri,
        state: params.state.as_deref(),
        issuer: &sandbox.issuer,
    }
}

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
    State(sandbox): State<Arc<SandboxBol>>,
    uri: Uri,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, axum::extract::rejection::FormRejection>,
) -> Response {
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
    let now = sandbox.clock.unix();
    let intermediary = sandbox.client.as_ref().is_some_and(|c| {
        constant_time_eq(client_id.as_bytes(), c.client_id.as_bytes())
            & constant_time_eq(
                secret.as_bytes(),
                c.client_secret.expose_secret().as_bytes(),
            )
    });
    match form.grant_type.as_deref() {
        Some("authorization_code") if intermediary => {
            exchange_code(&sandbox, &form, &client_id, now)
        }
        Some("refresh_token") if intermediary => refresh(&sandbox, &form, &client_id, now),
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
