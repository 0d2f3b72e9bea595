//! The commercetools Merchant Center API gateway stand-in, at [`PATH`]:
//!
//! - `GET {PATH}/.well-known/jwks.json`: the stand-in's signing key (see [`key`]) as a key set;
//! - `{PATH}/proxy/forward-to`, any method: what a Custom Application calls. It takes
//!   `X-Forward-To` (a URL under storelink's own public URL only, and not a sandbox one: the
//!   stand-in reaches nothing else) and `X-Project-Key`, signs a forward-to JWT as the real
//!   gateway does (`iss` = the stand-in's issuer, `aud` = the target's origin and path, `sub` =
//!   [`SANDBOX_USER`], the project in `{iss}/claims/project_key`, five minutes to live), and
//!   forwards the request with `X-MC-API-Forward-To-Version: v2`, `X-MC-API-Cloud-Identifier:
//!   gcp-eu` and that token, handing back the answer's status, content type and body.
//!
//! The real gateway only forwards for a logged-in Merchant Center user with access to the
//! project; the stand-in forwards for anyone who can reach it, for any project. That is the
//! point of a sandbox, and why storelink trusts its key only when `COMMERCETOOLS_MC_API_URL`
//! points here (which sandbox mode does when it is unset). Every answer carries
//! `X-Storelink-Sandbox`, and its own refusals say they come from the sandbox.

pub mod key;
pub mod project;

use std::{sync::Arc, time::Duration};

use axum::{
    Json, Router,
    body::{Body, to_bytes},
    extract::State,
    http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{any, get},
};
use url::Url;

pub use key::GatewayKey;

use crate::{
    clock::Clock,
    platforms::{
        commercetools::{
            cloud::{CloudIdentifier, is_project_key},
            forward_to::{CLOUD_HEADER, VERSION_HEADER, audience},
        },
        kit::http::{self, read_limited},
    },
};

/// Where the stand-in is served; with the public URL's origin before it, its issuer.
pub const PATH: &str = "/sandbox/commercetools/mc";
/// The cloud the stand-in says it is.
pub const CLOUD: CloudIdentifier = CloudIdentifier::GcpEu;
/// The Merchant Center user every forwarded request is made for.
pub const SANDBOX_USER: &str = "sandbox-merchant-center-user";
/// How long a token the stand-in signs lives, in seconds.
pub const TOKEN_LIFETIME_SECS: i64 = 300;
/// The largest request body forwarded, and the largest answer handed back.
const MAX_BODY: usize = 1024 * 1024;
/// The header on every answer that says it came from the sandbox.
const LABEL_HEADER: &str = "x-storelink-sandbox";
const LABEL: &str = "commercetools Merchant Center API gateway stand-in";

/// The stand-in's state.
pub struct SandboxMerchantCenter {
    public_url: Url,
    issuer: String,
    clock: Arc<dyn Clock>,
    http: reqwest::Client,
}

impl SandboxMerchantCenter {
    /// A gateway forwarding to storelink at `public_url`, on the app's clock.
    pub fn new(public_url: &Url, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        Ok(Self {
            public_url: public_url.clone(),
            issuer: format!("{}{PATH}", public_url.origin().ascii_serialization()),
            clock,
            http: http::client(Duration::from_secs(10))?,
        })
    }

    /// The stand-in's issuer: storelink's public origin and [`PATH`].
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Where a request may be forwarded: under storelink's public URL (same origin), never to
    /// the sandbox itself.
    fn target(&self, value: Option<&HeaderValue>) -> Result<Url, String> {
        let value = value
            .and_then(|v| v.to_str().ok())
            .ok_or("X-Forward-To is missing")?;
        let url = Url::parse(value.trim()).map_err(|_| "X-Forward-To is not a URL")?;
        if url.origin() != self.public_url.origin()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err("X-Forward-To must be a URL under storelink's public URL".to_owned());
        }
        if url.path().starts_with("/sandbox/") {
            return Err("X-Forward-To must not point into the sandbox".to_owned());
        }
        Ok(url)
    }
}

/// The stand-in's routes, with its state.
pub fn router<S: Clone + Send + Sync + 'static>(gateway: Arc<SandboxMerchantCenter>) -> Router<S> {
    Router::new()
        .route(&format!("{PATH}/.well-known/jwks.json"), get(jwks))
        .route(&format!("{PATH}/proxy/forward-to"), any(forward_to))
        .with_state(gateway)
}

fn labelled(mut response: Response) -> Response {
    response.headers_mut().insert(
        HeaderName::from_static(LABEL_HEADER),
        HeaderValue::from_static(LABEL),
    );
    response
}

/// A refusal of the stand-in's own, in the gateway's JSON error form.
fn refused(status: StatusCode, message: &str) -> Response {
    labelled(
        (
            status,
            Json(serde_json::json!({
                "statusCode": status.as_u16(),
                "message": format!("storelink sandbox ({LABEL}): {message}"),
            })),
        )
            .into_response(),
    )
}

async fn jwks() -> Response {
    match GatewayKey::shared().await {
        Ok(key) => labelled(
            (
                [(header::CACHE_CONTROL, "public, max-age=60")],
                Json(key.jwks()),
            )
                .into_response(),
        ),
        Err(why) => {
            tracing::error!(why, "sandbox gateway: no signing key");
            refused(StatusCode::SERVICE_UNAVAILABLE, "no signing key")
        }
    }
}

async fn forward_to(
    State(gateway): State<Arc<SandboxMerchantCenter>>,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let target = match gateway.target(headers.get("x-forward-to")) {
        Ok(url) => url,
        Err(why) => return refused(StatusCode::BAD_REQUEST, &why),
    };
    let project_key = match headers.get("x-project-key").and_then(|v| v.to_str().ok()) {
        Some(key) if is_project_key(key) => key.to_owned(),
        Some(_) => {
            return refused(
                StatusCode::BAD_REQUEST,
                "X-Project-Key is not a project key",
            );
        }
        None => return refused(StatusCode::BAD_REQUEST, "X-Project-Key is missing"),
    };
    if let Some(version) = headers.get("accept-version")
        && version.as_bytes() != b"v2"
    {
        return refused(StatusCode::BAD_REQUEST, "only Accept-version: v2 is served");
    }
    let Ok(body) = to_bytes(body, MAX_BODY).await else {
        return refused(StatusCode::PAYLOAD_TOO_LARGE, "the body is too large");
    };
    let key = match GatewayKey::shared().await {
        Ok(key) => key,
        Err(why) => {
            tracing::error!(why, "sandbox gateway: no signing key");
            return refused(StatusCode::SERVICE_UNAVAILABLE, "no signing key");
        }
    };
    let now = gateway.clock.unix();
    let token = key.sign(&serde_json::json!({
        "iss": gateway.issuer,
        "sub": SANDBOX_USER,
        "aud": audience(&target, target.path()),
        "iat": now,
        "exp": now + TOKEN_LIFETIME_SECS,
        format!("{}/claims/project_key", gateway.issuer): project_key,
    }));
    let mut request = gateway
        .http
        .request(method, target)
        .header(VERSION_HEADER, "v2")
        .header(CLOUD_HEADER, CLOUD.as_str())
        .bearer_auth(token)
        .body(body);
    // The browser's own headers stay behind (cookies, its Authorization), as at the gateway;
    // what describes the body and the answer wanted goes along.
    for name in [header::CONTENT_TYPE, header::ACCEPT] {
        if let Some(value) = headers.get(&name) {
            request = request.header(name, value.clone());
        }
    }
    let answer = match request.send().await {
        Ok(answer) => answer,
        Err(e) => {
            tracing::info!(error = %e, "sandbox gateway: storelink did not answer");
            return refused(StatusCode::BAD_GATEWAY, "storelink did not answer");
        }
    };
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let content_type = answer
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok());
    let Ok(bytes) = read_limited(answer, MAX_BODY).await else {
        return refused(
            StatusCode::BAD_GATEWAY,
            "storelink's answer could not be read",
        );
    };
    let mut response = (status, bytes).into_response();
    if let Some(content_type) = content_type {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type);
    }
    labelled(response)
}
