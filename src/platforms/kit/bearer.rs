//! Calls to a platform's API with a bearer token from the token lifecycle (OrderCloud,
//! commercetools): the token is the stored one while it lasts, and a `401` before it expired
//! (the platform revoked or rotated it) gets one renewal and one retry.

use secrecy::{ExposeSecret as _, SecretString};
use serde_json::Value;
use url::Url;

use crate::domain::rate_budget::Patience;

use super::{
    api_call::{ApiError, parse_json, read_body},
    budget::{self, Budget, OWN_PATIENCE},
    context::Context,
    http::problem_detail,
    lifecycle::{Renewal, Want},
};

/// `GET url` as install `install_id`, within `budget`, its answer as JSON; a platform's error
/// answer is named by its own words.
pub async fn get_json<R: Renewal>(
    ctx: &Context<'_>,
    renewal: &R,
    install_id: &str,
    url: &Url,
    budget: &Budget,
) -> Result<Value, ApiError> {
    let token = ctx
        .tokens
        .get(ctx, renewal, install_id, &Want::default())
        .await?;
    let mut response = get(ctx, url, &token.secret, budget).await?;
    if response.status() == reqwest::StatusCode::UNAUTHORIZED {
        let want = Want {
            rejected: Some(&token.secret),
            at_least_secs: 0,
        };
        let renewed = ctx.tokens.get(ctx, renewal, install_id, &want).await?;
        response = get(ctx, url, &renewed.secret, budget).await?;
    }
    let status = response.status().as_u16();
    let body = read_body(response).await?;
    if !(200..300).contains(&status) {
        return Err(ApiError::Status {
            status,
            detail: problem_detail(&body),
        });
    }
    parse_json(&body)
}

/// One `GET` with the token within `budget`, to a URL an operator chose from the platform's own
/// hosts (trusted as given; the client never follows redirects).
async fn get(
    ctx: &Context<'_>,
    url: &Url,
    token: &SecretString,
    budget: &Budget,
) -> Result<reqwest::Response, ApiError> {
    let request = ctx
        .http
        .get(url.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .bearer_auth(token.expose_secret());
    budget::send(ctx.budgets, budget, Patience::Wait(OWN_PATIENCE), request)
        .await?
        .map_err(|e| ApiError::from_transport(&e))
}
