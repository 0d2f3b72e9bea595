//! Calls to bol.com's Retailer API for one install, with its token from [`super::lifecycle`],
//! each within the install's rate budget for the endpoint group ([`BolConfig::api_budget`]).
//!
//! A `401` gets one token refresh and one retry; a `429` stops the budget for as long as
//! `Retry-After` says, and the call waits its turn again (when that is within
//! [`MAX_RETRY_AFTER`]), at most [`MAX_RATE_LIMIT_RETRIES`] times.

use std::time::Duration;

use secrecy::{ExposeSecret as _, SecretString};
use serde_json::Value;

use super::{
    renewal::BolContext,
    settings::{API_MEDIA_TYPE, BolConfig},
};
use crate::{
    db::installs::Install,
    domain::{StoreName, rate_budget::Patience},
    platforms::{
        kit::api_call::CheckFailure,
        kit::api_call::{self as api, ApiError},
        kit::budget::{self, Budget, OWN_PATIENCE},
        kit::context::{Context, TestOutcome},
        kit::http,
    },
};

/// The longest `Retry-After` we wait for within one call; a longer one is reported instead.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);
/// How many `429`s one call waits out.
pub const MAX_RATE_LIMIT_RETRIES: u32 = 2;
/// The wait when a `429` carries no usable `Retry-After`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// `GET {BOL_API_URL}{path}` for `install`; the answer's JSON.
pub async fn get(ctx: &BolContext<'_>, install: &Install, path: &str) -> Result<Value, ApiError> {
    let url = ctx
        .config
        .api_endpoint(path)
        .map_err(|_| ApiError::Unreachable)?;
    let budget = ctx.config.api_budget(&install.account_id, path);
    let install_id = install.id.as_str();
    let mut token = ctx.access_token(install_id).await?;
    let mut refreshed = false;
    let mut rate_limited = 0;
    loop {
        let response = send(ctx, &budget, &url, &token).await?;
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
                // The budget has taken the pause; the next turn comes after it.
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
pub async fn orders(ctx: &BolContext<'_>, install: &Install) -> Result<Value, ApiError> {
    get(ctx, install, "/orders").await
}

async fn send(
    ctx: &Context<'_>,
    budget: &Budget,
    url: &url::Url,
    token: &SecretString,
) -> Result<reqwest::Response, ApiError> {
    let request = ctx
        .http
        .get(url.clone())
        .bearer_auth(token.expose_secret())
        .header(reqwest::header::ACCEPT, API_MEDIA_TYPE);
    budget::send(ctx.budgets, budget, Patience::Wait(OWN_PATIENCE), request)
        .await?
        .map_err(|e| ApiError::from_transport(&e))
}

/// The Retailer API's "retailer information" of the token's own account.
pub const CURRENT_RETAILER_PATH: &str = "/retailers/current";

/// The retailer's name as bol.com shows it: `displayName` (else `companyName`) of
/// `GET {BOL_API_URL}/retailers/current` (the Retailer API's retailer information, `current`
/// naming the token's own account), called with a fresh token before the connection is stored,
/// within `account`'s budget. `None` when the call fails or names nobody usable; the caller then
/// falls back to the account id. Best effort: one call, no retry, nothing stored when it fails.
pub async fn current_retailer_name(
    ctx: &Context<'_>,
    config: &BolConfig,
    account: &str,
    access_token: &SecretString,
) -> Option<StoreName> {
    let url = config.api_endpoint(CURRENT_RETAILER_PATH).ok()?;
    let budget = config.api_budget(account, CURRENT_RETAILER_PATH);
    let answer = async {
        let response = send(ctx, &budget, &url, access_token).await?;
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
    match orders(ctx, install).await {
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
