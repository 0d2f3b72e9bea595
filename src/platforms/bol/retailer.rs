//! Calls to bol.com's Retailer API for one install, with its token from [`super::lifecycle`].
//!
//! A `401` gets one token refresh and one retry; a `429` waits as long as `Retry-After` says
//! (within [`MAX_RETRY_AFTER`]) and tries again, at most [`MAX_RATE_LIMIT_RETRIES`] times.

use std::time::Duration;

use secrecy::{ExposeSecret as _, SecretString};
use serde_json::Value;

use super::{
    renewal::BolContext,
    settings::{API_MEDIA_TYPE, BolConfig},
};
use crate::{
    db::installs::Install,
    domain::StoreName,
    platforms::{
        kit::api_call::CheckFailure,
        kit::api_call::{self as api, ApiError},
        kit::context::TestOutcome,
        kit::http,
    },
};

/// The longest `Retry-After` we wait for within one call; a longer one is reported instead.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);
/// How many `429`s one call waits out.
pub const MAX_RATE_LIMIT_RETRIES: u32 = 2;
/// The wait when a `429` carries no usable `Retry-After`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// `GET {BOL_API_URL}{path}` for install `install_id`; the answer's JSON.
pub async fn get(ctx: &BolContext<'_>, install_id: &str, path: &str) -> Result<Value, ApiError> {
    let url = ctx
        .config
        .api_endpoint(path)
        .map_err(|_| ApiError::Unreachable)?;
    let mut token = ctx.access_token(install_id).await?;
    let mut refreshed = false;
    let mut rate_limited = 0;
    loop {
        let response = send(ctx, &url, &token).await?;
        let status = response.status().as_u16();
        match status {
            401 if !refreshed => {
                tracing::info!(
                    install_id,
                    "bol.com refused the access token; refreshing once"
                );
                token = ctx.replace_rejected(install_id, &token).await?;
                refreshed = true;
            }
            429 => {
                let wait = http::retry_after(response.headers()).unwrap_or(DEFAULT_RETRY_AFTER);
                if rate_limited >= MAX_RATE_LIMIT_RETRIES || wait > MAX_RETRY_AFTER {
                    return Err(ApiError::RateLimited {
                        retry_after: wait.as_secs(),
                    });
                }
                tracing::info!(
                    install_id,
                    wait_secs = wait.as_secs(),
                    "bol.com rate limit; waiting"
                );
                tokio::time::sleep(wait).await;
                rate_limited += 1;
            }
            200..=299 => return api::parse_json(&api::read_body(response).await?),
            _ => {
                let body = api::read_body(response).await.unwrap_or_default();
                return Err(ApiError::Status {
                    status,
                    detail: http::problem_detail(&body),
                });
            }
        }
    }
}

/// The retailer's orders (`GET /orders`): what "Test connection" calls.
pub async fn orders(ctx: &BolContext<'_>, install_id: &str) -> Result<Value, ApiError> {
    get(ctx, install_id, "/orders").await
}

async fn send(
    ctx: &BolContext<'_>,
    url: &url::Url,
    token: &SecretString,
) -> Result<reqwest::Response, ApiError> {
    ctx.http
        .get(url.clone())
        .bearer_auth(token.expose_secret())
        .header(reqwest::header::ACCEPT, API_MEDIA_TYPE)
        .send()
        .await
        .map_err(|e| ApiError::from_transport(&e))
}

/// The Retailer API's "retailer information" of the token's own account.
pub const CURRENT_RETAILER_PATH: &str = "/retailers/current";

/// The retailer's name as bol.com shows it: `displayName` (else `companyName`) of
/// `GET {BOL_API_URL}/retailers/current` (the Retailer API's retailer information, `current`
/// naming the token's own account), called with a fresh token before the connection is stored.
/// `None` when the call fails or names nobody usable; the caller then falls back to the account
/// id. Best effort: one call, no retry, nothing stored when it fails.
pub async fn current_retailer_name(
    http: &reqwest::Client,
    config: &BolConfig,
    access_token: &SecretString,
) -> Option<StoreName> {
    let url = config.api_endpoint(CURRENT_RETAILER_PATH).ok()?;
    let answer = async {
        let response = http
            .get(url)
            .bearer_auth(access_token.expose_secret())
            .header(reqwest::header::ACCEPT, API_MEDIA_TYPE)
            .send()
            .await
            .map_err(|e| ApiError::from_transport(&e))?;
        let status = response.status().as_u16();
        if !response.status().is_success() {
            return Err(ApiError::Status {
                status,
                detail: None,
            });
        }
        api::parse_json(&api::read_body(response).await?)
    }
    .await;
    match answer {
        Ok(info) => {
            let name = ["displayName", "companyName"]
                .iter()
                .filter_map(|field| info.get(field).and_then(Value::as_str))
                .find_map(|name| StoreName::parse(name).ok());
            if name.is_none() {
                tracing::info!("bol.com's retailer information names no retailer");
            }
            name
        }
        Err(e) => {
            tracing::info!(error = %e, "bol.com's retailer information is unavailable; naming the connection by its account");
            None
        }
    }
}

/// "Test connection": `GET /orders` with the install's (possibly refreshed) token.
pub async fn test_connection(ctx: &BolContext<'_>, install: &Install) -> TestOutcome {
    match orders(ctx, &install.id).await {
        Ok(answer) => {
            let orders = answer
                .get("orders")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            Ok(format!(
                "bol.com answered GET /orders ({orders} order(s) on the first page)"
            ))
        }
        Err(e) => Err(CheckFailure::api("bol.com", &e)),
    }
}
