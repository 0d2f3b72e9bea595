//! `/api/v1/installs`: the list, one install, its access token, and revoking it.
//!
//! A Merchant Center caller (see [`super::caller`]) sees its project's commercetools installs
//! only: the list is filtered, any other install answers `404` exactly as a missing one does,
//! and revoking is refused with `403` before any lookup (so the answer says nothing about
//! which installs exist). Revoking erases the connection's credentials for every user of the
//! add-on; that is the vendor's or an operator's decision, not one any Merchant Center user of
//! the project should be able to make from a Custom Application.

use axum::{
    Json,
    body::Body,
    extract::{Path, Query, State, rejection::QueryRejection},
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD as B64URL};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{
    body::{read_json, read_limited},
    caller::{ApiCaller, PendingCaller, lookup_failed},
    objects::{AccessToken, InstallList, InstallObject, RevokeRequest, rfc3339},
    params,
    problem::Problem,
    responses::{BadInput, Common, ForInstall, UsesCredentials},
};
use crate::{
    crypto::Sealed,
    db::{
        credentials::Kind,
        health,
        installs::{self, Cursor, Install, ListFilter, Revoked},
    },
    domain::{HealthState, InstallStatus, Platform, text::shorten},
    platforms::kit::api_call::{ApiError, TokenUnavailable},
    state::AppState,
};

/// Installs per page unless asked otherwise.
const DEFAULT_LIMIT: i64 = 50;
/// The most installs one page holds.
const MAX_LIMIT: i64 = 200;
/// The largest body `revoke` reads.
const MAX_REVOKE_BODY: usize = 16 * 1024;

/// The list's query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// Only installs on this platform.
    #[param(value_type = Option<Platform>)]
    platform: Option<String>,
    /// Only installs with this status.
    #[param(value_type = Option<InstallStatus>)]
    status: Option<String>,
    /// Only installs whose health is this.
    #[param(value_type = Option<HealthState>)]
    health: Option<String>,
    /// Installs per page, 1 to 200 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    limit: Option<String>,
    /// The previous page's `next_cursor` (opaque: only cursors this API gave out are valid).
    #[param(pattern = "^[A-Za-z0-9_-]{0,200}$")]
    cursor: Option<String>,
}

/// The list, newest change first.
#[utoipa::path(
    get,
    path = "/api/v1/installs",
    tag = "installs",
    params(ListQuery),
    responses(
        (status = 200, description = "One page of installs", body = InstallList),
        BadInput,
        Common,
    ),
    security(("api_key" = []), ("merchant_center" = []))
)]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: ApiCaller,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<InstallList>, Problem> {
    let Query(query) =
        query.map_err(|_| Problem::bad_request("The query string could not be read."))?;
    let filter = ListFilter {
        platform: parse_choice(&query.platform, "platform", Platform::parse, Platform::ALL)?,
        status: parse_choice(
            &query.status,
            "status",
            InstallStatus::parse,
            InstallStatus::ALL,
        )?,
        search: None,
        account: caller.only_account(),
        health: parse_choice(
            &query.health,
            "health",
            HealthState::parse,
            HealthState::ALL,
        )?,
    };
    let limit = params::limit(query.limit.as_deref(), DEFAULT_LIMIT, MAX_LIMIT)?;
    // An empty cursor is the first page, as no cursor is.
    let cursor = query
        .cursor
        .as_deref()
        .filter(|text| !text.is_empty())
        .map(|text| {
            decode_cursor(text).ok_or_else(|| {
                Problem::bad_parameter("cursor", "cursor is not one this API gave out.")
            })
        })
        .transpose()?;
    let mut found = installs::list(&state.db, &filter, cursor.as_ref(), limit + 1).await?;
    let more = found.len() as i64 > limit;
    found.truncate(usize::try_from(limit).unwrap_or(0));
    let next_cursor = more.then(|| found.last()).flatten().map(encode_cursor);
    Ok(Json(InstallList {
        data: objects(&state, &found).await?,
        next_cursor,
    }))
}

/// A filter value: absent, or one of `all`; anything else names the parameter.
fn parse_choice<T: Copy + std::fmt::Display>(
    value: &Option<String>,
    parameter: &'static str,
    parse: fn(&str) -> Option<T>,
    all: &[T],
) -> Result<Option<T>, Problem> {
    let Some(text) = value.as_deref() else {
        return Ok(None);
    };
    parse(text.trim()).map(Some).ok_or_else(|| {
        let choices: Vec<String> = all.iter().map(ToString::to_string).collect();
        Problem::bad_parameter(
            parameter,
            format!(
                "{parameter} {:?} is not one of {}.",
                shorten(text, 40),
                choices.join(", ")
            ),
        )
    })
}

/// The position after `last`, opaque to callers.
fn encode_cursor(last: &Install) -> String {
    B64URL.encode(
        Cursor {
            updated_at: last.updated_at,
            id: last.id.clone(),
        }
        .encode(),
    )
}

fn decode_cursor(text: &str) -> Option<Cursor> {
    let bytes = B64URL.decode(text.trim()).ok()?;
    Cursor::decode(std::str::from_utf8(&bytes).ok()?)
}

/// The install with this id as `caller` may see it, or a `404` problem: for an id that cannot
/// exist (refused without a query), one that does not, and one the caller may not see alike.
pub(super) async fn find(
    state: &AppState,
    caller: &ApiCaller,
    id: &str,
) -> Result<Install, Problem> {
    if !plausible_id(id) {
        return Err(no_such_install());
    }
    installs::find(&state.db, id)
        .await?
        .filter(|install| caller.sees(install))
        .ok_or_else(no_such_install)
}

/// Install ids are hex; anything else cannot be one, and is not looked up.
fn plausible_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

fn no_such_install() -> Problem {
    Problem::not_found("There is no install with this id.")
}

/// [`find`], with the install's sealed access token read in the same query.
pub(super) async fn find_with_token(
    state: &AppState,
    caller: &ApiCaller,
    id: &str,
) -> Result<(Install, Option<Sealed>), Problem> {
    if !plausible_id(id) {
        return Err(no_such_install());
    }
    installs::find_with_credential(&state.db, id, Kind::AccessToken)
        .await?
        .filter(|(install, _)| caller.sees(install))
        .ok_or_else(no_such_install)
}

/// [`find_with_token`] for a caller whose key is not yet looked up: the key is read in the
/// same query as the install (the token and the proxy, the API's hottest paths, pay one round
/// trip, not two). A key that is not live is a `401` whatever the id, as [`ApiCaller`]'s check
/// answers; then the key's rate applies, and only then is a missing install a `404`.
pub(super) async fn find_with_token_checking(
    state: &AppState,
    caller: PendingCaller,
    id: &str,
) -> Result<(ApiCaller, Install, Option<Sealed>), Problem> {
    let key = match caller {
        PendingCaller::Key(key) if plausible_id(id) => key,
        other => {
            let caller = other.check(state).await?;
            let (install, token) = find_with_token(state, &caller, id).await?;
            return Ok((caller, install, token));
        }
    };
    let found =
        installs::find_with_credential_for_key(&state.db, &key.hash(), id, Kind::AccessToken)
            .await
            .map_err(lookup_failed)?;
    let Some((caller, install)) = found else {
        return Err(Problem::unauthorized());
    };
    let caller = PendingCaller::admit_live(state, caller).await?;
    let (install, token) = install.ok_or_else(no_such_install)?;
    Ok((caller, install, token))
}

/// One install.
#[utoipa::path(
    get,
    path = "/api/v1/installs/{id}",
    tag = "installs",
    params(("id" = String, Path, description = "The install's id")),
    responses(
        (status = 200, description = "The install", body = InstallObject),
        ForInstall,
        Common,
    ),
    security(("api_key" = []), ("merchant_center" = []))
)]
pub(super) async fn get(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<InstallObject>, Problem> {
    let install = find(&state, &caller, &id).await?;
    Ok(Json(object(&state, &install).await?))
}

/// The install object of `install`, with its health.
pub(super) async fn object(state: &AppState, install: &Install) -> Result<InstallObject, Problem> {
    let mut object = InstallObject::from(install);
    object.health = health::find(&state.db, &install.id).await?.object();
    Ok(object)
}

/// The install objects of `found`, with their health (read in one query).
async fn objects(state: &AppState, found: &[Install]) -> Result<Vec<InstallObject>, Problem> {
    let ids: Vec<&str> = found.iter().map(|i| i.id.as_str()).collect();
    let healths = health::of_installs(&state.db, &ids).await?;
    Ok(found
        .iter()
        .map(|install| {
            let mut object = InstallObject::from(install);
            if let Some(health) = healths.get(&install.id) {
                object.health = health.object();
            }
            object
        })
        .collect())
}

/// The install's access token, to call the platform directly: refreshed first when it would
/// expire within a minute. Audited with the key's name (at most once per key, install and
/// minute).
#[utoipa::path(
    post,
    path = "/api/v1/installs/{id}/access-token",
    tag = "installs",
    params(("id" = String, Path, description = "The install's id")),
    responses(
        (status = 200, description = "A usable access token and where to use it", body = AccessToken,
         headers(("Cache-Control" = String, description = "`no-store`"))),
        ForInstall,
        UsesCredentials,
        Common,
    ),
    security(("api_key" = []), ("merchant_center" = []))
)]
pub(super) async fn access_token(
    State(state): State<AppState>,
    caller: PendingCaller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let (caller, install, stored_token) = find_with_token_checking(&state, caller, &id).await?;
    let handoff = state
        .platforms
        .handoff(&state.calls(), &install, stored_token.as_ref())
        .await
        .map_err(platform_problem)?;
    let now = state.clock.unix();
    match &caller {
        ApiCaller::Key(key) => {
            state
                .api
                .note_token_read(&state.db, key, &install.id, now)
                .await?
        }
        ApiCaller::Forwarded(_) => {
            state
                .api
                .note_forwarded_token_read(&state.db, &caller.actor(), &install.id, now)
                .await?
        }
    }
    let answer = AccessToken {
        access_token: handoff.expose_token().to_owned(),
        token_type: handoff.token_type.to_owned(),
        expires_at: handoff.expires_at.map(rfc3339),
        api_base_url: handoff.api_base_url.to_string(),
        x_access_key: handoff.x_access_key.clone(),
        netoapi_username: handoff.netoapi_username.clone(),
    };
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(answer)).into_response())
}

/// Revokes the install: marks it revoked and erases its credentials, as the console's revoke
/// does, audited with the key's name. Revoking a revoked install changes nothing.
#[utoipa::path(
    post,
    path = "/api/v1/installs/{id}/revoke",
    tag = "installs",
    params(("id" = String, Path, description = "The install's id")),
    request_body(content = Option<RevokeRequest>, description = "Optional: why, for the audit log",
                 content_type = "application/json"),
    responses(
        (status = 200, description = "The install, now revoked", body = InstallObject),
        (status = 413, description = "The body is too large", body = Problem,
         content_type = "application/problem+json"),
        (status = 403, description = "A Merchant Center caller: revoking is the vendor's",
         body = Problem, content_type = "application/problem+json"),
        BadInput,
        ForInstall,
        Common,
    ),
    security(("api_key" = []))
)]
pub(super) async fn revoke(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<InstallObject>, Problem> {
    if caller.is_forwarded() {
        // Refused before the install is looked up: the answer is the same for every id.
        return Err(Problem::forbidden(
            "Merchant Center users cannot revoke connections; the add-on's vendor can.",
        ));
    }
    let body = read_limited(&headers, body, MAX_REVOKE_BODY).await?;
    // No body, `null` and `{}` all mean "no reason given".
    let request: RevokeRequest = read_json::<Option<RevokeRequest>>(&headers, &body)?
        .flatten()
        .unwrap_or_default();
    let reason = request
        .reason
        .as_deref()
        .map(|r| shorten(r.trim(), 200))
        .filter(|r| !r.is_empty());
    let install = find(&state, &caller, &id).await?;
    let actor = caller.actor();
    let revoked = installs::revoke_because(
        &state.db,
        &install.id,
        &actor,
        reason.as_deref(),
        state.clock.unix(),
    )
    .await?;
    match revoked {
        Revoked::Now { erased } => {
            tracing::info!(install_id = %install.id, caller = %actor, erased, "install revoked through the API");
        }
        Revoked::Already => {}
        Revoked::Missing => return Err(no_such_install()),
    }
    let install = find(&state, &caller, &id).await?;
    Ok(Json(object(&state, &install).await?))
}

/// The problem a platform failure is answered with.
pub(super) fn platform_problem(error: ApiError) -> Problem {
    match error {
        ApiError::Token(TokenUnavailable::NotFound) => no_such_install(),
        ApiError::Token(TokenUnavailable::Revoked) => Problem::revoked(),
        ApiError::Token(TokenUnavailable::NeedsReauthorization) => Problem::needs_attention(),
        ApiError::Token(TokenUnavailable::Internal) => {
            Problem::internal("the install's tokens could not be read")
        }
        ApiError::Token(TokenUnavailable::Refresh(why)) => {
            Problem::bad_gateway(format!("No fresh access token could be had: {why}."))
        }
        ApiError::Timeout => Problem::gateway_timeout("The platform did not answer in time."),
        ApiError::OverBudget(over) => Problem::over_budget(over),
        ApiError::NotAllowed(refusal) => Problem::bad_gateway(format!(
            "storelink does not call this store's API address: {refusal}."
        )),
        ApiError::NotConfigured(what) => Problem::unavailable(format!("{what}.")),
        ApiError::NoCredentials(_) | ApiError::BadAddress(_) => Problem::internal(error),
        other => Problem::bad_gateway(format!("The platform call failed: {other}.")),
    }
}
