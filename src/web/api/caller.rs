//! The caller of an API request: the live key its `Authorization: Bearer` header names, within
//! its rate. Every endpoint but the OpenAPI document takes one, so none can be reached without.

use axum::{extract::FromRequestParts, http::request::Parts};

use super::problem::Problem;
use crate::{api_access::Refused, db::api_keys, state::AppState};

/// A request's authenticated caller.
pub struct ApiCaller(pub api_keys::Caller);

impl ApiCaller {
    /// How the audit log names this caller.
    pub fn actor(&self) -> String {
        api_keys::actor(&self.0)
    }
}

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let authorization = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .map(|v| v.as_bytes());
        match state
            .api
            .admit(&state.db, authorization, state.clock.unix())
            .await
        {
            Ok(caller) => Ok(Self(caller)),
            Err(Refused::Unauthorized) => Err(Problem::unauthorized()),
            Err(Refused::RateLimited(wait)) => Err(Problem::rate_limited(
                wait,
                "This key is past its rate limit (STORELINK_API_RATE_LIMIT requests a second).",
            )),
            Err(Refused::Unavailable) => Err(Problem::unavailable(
                "The key could not be checked; try again.",
            )),
        }
    }
}
