//! The caller of an API request, one of two kinds:
//!
//! - a live API key (`Authorization: Bearer slk_...`), within its rate: sees every install;
//! - a Merchant Center user, for a request the commercetools Merchant Center API gateway
//!   forwarded (`X-MC-API-Forward-To-Version`, `X-MC-API-Cloud-Identifier` and the gateway's
//!   JWT; see [`crate::providers::commercetools::forward_to`]): sees only the commercetools
//!   installs of its project on its cloud (`account_id` `{cloud}:{project_key}`). Anything else
//!   is answered as if it did not exist (`404`), and it may not revoke (`403`).
//!
//! A request carrying either Merchant Center header is a forwarded one: all three headers and a
//! valid token are then required, and an API key in `Authorization` does not count. Every
//! refusal is a `401` problem (a `503` when the gateway's keys cannot be fetched at all).
//! Every endpoint but the OpenAPI document takes a caller, so none can be reached without.

use axum::{extract::FromRequestParts, http::request::Parts};

use super::problem::Problem;
use crate::{
    api_access::Refused,
    db::{api_keys, installs::Install},
    domain::Platform,
    providers::commercetools::forward_to::{Forwarded, McUser, audience},
    state::AppState,
};

/// A request's authenticated caller.
pub enum ApiCaller {
    /// An API key: the vendor's backend.
    Key(api_keys::Caller),
    /// A Merchant Center user, through the commercetools gateway.
    MerchantCenter(McUser),
}

impl ApiCaller {
    /// How the audit log and logs name this caller: `api-key:{name}` or
    /// `merchant-center:{sub}` (never a secret).
    pub fn actor(&self) -> String {
        match self {
            Self::Key(key) => api_keys::actor(key),
            Self::MerchantCenter(user) => user.actor(),
        }
    }

    /// Whether this caller may see `install` at all.
    pub fn sees(&self, install: &Install) -> bool {
        match self {
            Self::Key(_) => true,
            Self::MerchantCenter(user) => {
                install.platform == Platform::Commercetools
                    && install.account_id == user.account_id()
            }
        }
    }

    /// The one account whose installs this caller may see, when it is limited to one.
    pub fn only_account(&self) -> Option<(Platform, String)> {
        match self {
            Self::Key(_) => None,
            Self::MerchantCenter(user) => Some((Platform::Commercetools, user.account_id())),
        }
    }
}

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let forwarded = Forwarded::from_headers(&parts.headers);
        if forwarded.claims_forwarding() {
            let audience = audience(&state.public_url, parts.uri.path());
            return match state
                .forward_to
                .verify(&forwarded, &audience, state.clock.unix())
                .await
            {
                Ok(user) => {
                    tracing::debug!(caller = %user.actor(), "API: a forwarded Merchant Center request");
                    if let Err(wait) = state.api.admit_forwarded(&user.actor()) {
                        return Err(Problem::rate_limited(
                            wait,
                            "This Merchant Center user is past the API's rate limit \
                             (STORELINK_API_RATE_LIMIT requests a second).",
                        ));
                    }
                    Ok(Self::MerchantCenter(user))
                }
                Err(refusal) if refusal.is_unavailable() => Err(Problem::unavailable(
                    "The Merchant Center gateway's keys could not be fetched; try again.",
                )),
                Err(refusal) => {
                    tracing::info!(%refusal, path = parts.uri.path(), "API: a forwarded Merchant Center request was refused");
                    Err(Problem::unauthorized_forwarded(&refusal))
                }
            };
        }
        let authorization = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .map(|v| v.as_bytes());
        match state
            .api
            .admit(&state.db, authorization, state.clock.unix())
            .await
        {
            Ok(caller) => Ok(Self::Key(caller)),
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
