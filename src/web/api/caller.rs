//! The caller of an API request, one of two kinds:
//!
//! - a live API key (`Authorization: Bearer slk_...`), within its rate: sees every install;
//! - a platform's user, for a request the platform's own gateway forwarded (the commercetools
//!   Merchant Center's forward-to: see the platform's [`ForwardedCallers`]): sees only the
//!   installs of the one account the gateway proved, on that platform. Anything else is answered
//!   as if it did not exist (`404`), and it may not revoke (`403`).
//!
//! A request carrying a gateway's marks is a forwarded one: everything the gateway sends and a
//! valid token are then required, and an API key in `Authorization` does not count. Every
//! refusal is a `401` problem (a `503` when the gateway's keys cannot be fetched at all).
//! Every endpoint but the OpenAPI document takes a caller, so none can be reached without.

use axum::{extract::FromRequestParts, http::request::Parts};

use super::problem::Problem;
use crate::{
    api_access::{self, Refused},
    db::{api_keys, installs::Install},
    domain::{Platform, api_key::ApiKeySecret},
    platforms::driver::{ForwardedCallers, ForwardedUser},
    state::AppState,
};

/// A request's authenticated caller.
pub(super) enum ApiCaller {
    /// An API key: the vendor's backend.
    Key(api_keys::Caller),
    /// A platform's user, through the platform's gateway.
    Forwarded(ForwardedUser),
}

impl ApiCaller {
    /// How the audit log and logs name this caller: `api-key:{name}`, or the gateway's
    /// (`merchant-center:{sub}`); never a secret.
    pub(super) fn actor(&self) -> String {
        match self {
            Self::Key(key) => api_keys::actor(key),
            Self::Forwarded(user) => user.actor.clone(),
        }
    }

    /// Whether this caller is a gateway's user (who may not add connections or revoke).
    pub(super) fn is_forwarded(&self) -> bool {
        matches!(self, Self::Forwarded(_))
    }

    /// Whether this caller may see `install` at all.
    pub(super) fn sees(&self, install: &Install) -> bool {
        match self {
            Self::Key(_) => true,
            Self::Forwarded(user) => {
                install.platform == user.platform && install.account_id == user.account_id
            }
        }
    }

    /// The one account whose installs this caller may see, when it is limited to one.
    pub(super) fn only_account(&self) -> Option<(Platform, String)> {
        match self {
            Self::Key(_) => None,
            Self::Forwarded(user) => Some((user.platform, user.account_id.clone())),
        }
    }
}

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        PendingCaller::from_request_parts(parts, state)
            .await?
            .check(state)
            .await
    }
}

/// A request's caller with its key not yet looked up: the endpoints that read one install (a
/// token, a proxied call: the API's hottest) look the key up in the query that reads the
/// install, one round trip instead of two. Either way the key is checked before anything is
/// done for the caller, and a forwarded request is verified as [`ApiCaller`]'s is.
pub(super) enum PendingCaller {
    /// A well-formed key (a malformed one is refused without a query).
    Key(ApiKeySecret),
    /// A platform's user, through the platform's gateway, verified.
    Forwarded(ForwardedUser),
}

impl PendingCaller {
    /// The caller, its key looked up on its own.
    pub(super) async fn check(self, state: &AppState) -> Result<ApiCaller, Problem> {
        match self {
            Self::Forwarded(user) => Ok(ApiCaller::Forwarded(user)),
            Self::Key(key) => state
                .api
                .admit(&state.db, &key, state.clock.unix())
                .await
                .map(ApiCaller::Key)
                .map_err(refusal),
        }
    }

    /// The caller of a key a request's own query found live, within its rate.
    pub(super) async fn admit_live(
        state: &AppState,
        caller: api_keys::Caller,
    ) -> Result<ApiCaller, Problem> {
        state
            .api
            .admit_live(&state.db, caller, state.clock.unix())
            .await
            .map(ApiCaller::Key)
            .map_err(refusal)
    }
}

impl FromRequestParts<AppState> for PendingCaller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        if let Some(gateway) = state.platforms.forwarding(&parts.headers) {
            return forwarded(gateway, parts, state).await.map(Self::Forwarded);
        }
        let authorization = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .map(|v| v.as_bytes());
        api_access::presented_key(authorization)
            .map(Self::Key)
            .ok_or_else(Problem::unauthorized)
    }
}

/// The problem a failed key lookup is answered with (a `503`), logged.
pub(super) fn lookup_failed(error: sqlx::Error) -> Problem {
    refusal(api_access::unavailable(error))
}

/// The problem a refused key is answered with.
fn refusal(refused: Refused) -> Problem {
    match refused {
        Refused::Unauthorized => Problem::unauthorized(),
        Refused::RateLimited(wait) => Problem::rate_limited(
            wait,
            "This key is past its rate limit (STORELINK_API_RATE_LIMIT requests a second).",
        ),
        Refused::Unavailable => Problem::unavailable("The key could not be checked; try again."),
    }
}

/// The user a gateway's forwarded request proves, within the API's rate.
async fn forwarded(
    gateway: &dyn ForwardedCallers,
    parts: &Parts,
    state: &AppState,
) -> Result<ForwardedUser, Problem> {
    let name = gateway.gateway();
    match gateway
        .verify(
            &parts.headers,
            &state.public_url,
            parts.uri.path(),
            state.clock.unix(),
        )
        .await
    {
        Ok(user) => {
            tracing::debug!(caller = %user.actor, "API: a forwarded {name} request");
            if let Err(wait) = state.api.admit_forwarded(&user.actor) {
                return Err(Problem::rate_limited(
                    wait,
                    format!(
                        "This {name} user is past the API's rate limit \
                         (STORELINK_API_RATE_LIMIT requests a second)."
                    ),
                ));
            }
            Ok(user)
        }
        Err(refusal) if refusal.unavailable => Err(Problem::unavailable(format!(
            "The {name} gateway's keys could not be fetched; try again."
        ))),
        Err(refusal) => {
            tracing::info!(refusal = %refusal.reason, path = parts.uri.path(), "API: a forwarded {name} request was refused");
            Err(Problem::unauthorized_forwarded(name, &refusal.reason))
        }
    }
}
