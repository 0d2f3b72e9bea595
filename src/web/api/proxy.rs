//! `/api/v1/installs/{id}/proxy[/{path}]`, any method: storelink calls the install's platform
//! for the backend with the install's credentials, and passes the answer back as it comes
//! (status, body, content type), streamed, cut off past `STORELINK_PROXY_MAX_RESPONSE`.

use axum::{
    Extension,
    body::Body,
    extract::{ConnectInfo, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use futures_util::StreamExt as _;
use std::{net::SocketAddr, time::Duration};

use super::{
    body::read_limited, caller::PendingCaller, installs::find_with_token_checking,
    installs::platform_problem, problem::Problem,
};
use crate::{
    domain::rate_budget::Patience,
    health,
    platforms::{
        ProxyRequest, kit::api_call::ApiError, kit::budget::caller_tag, kit::proxy::checked_path,
        proxy::forward,
    },
    state::AppState,
};

/// Where the proxy routes start.
const PREFIX: &str = "/api/v1/installs/";
/// The longest a caller may wait for its turn in the install's rate budget (`Prefer: wait=N`).
const MAX_WAIT_SECS: u64 = 30;

/// Answer headers passed back to the backend (besides the status and body).
fn passed_back(name: &str) -> bool {
    matches!(name, "content-type" | "retry-after" | "location") || name.starts_with("x-ratelimit-")
}

/// Any method on the install's API base URL itself, or on a path under it.
#[utoipa::path(
    method(get, post, put, patch, delete),
    path = "/api/v1/installs/{id}/proxy/{path}",
    tag = "proxy",
    description = "Calls the install's platform with the install's credentials: `{path}` (any \
                   depth, optional: `/proxy` alone reaches the base itself) under its API base \
                   URL (the `api_base_url` of the install's access token). Every method works \
                   the same way. The query, the body, `Content-Type`, `Accept` and the \
                   platform's own headers pass through; the backend's `Authorization` never \
                   does. The platform's status, body and content type come back as they are. \
                   Every call draws on the install's rate budget for the platform (per endpoint \
                   group where the platform limits by group): over budget nothing is sent and \
                   the answer is `429`, a `urn:storelink:problem:rate-limited` problem whose \
                   `budget` names the budget, with a `Retry-After` after which the call goes. \
                   With `Prefer: wait=N` the call waits up to N seconds (at most 30) for its \
                   turn instead, and the answer carries `Preference-Applied: wait=N`.",
    params(
        ("id" = String, Path, description = "The install's id"),
        ("path" = String, Path, description = "The path under the install's API base URL"),
        ("Prefer" = Option<String>, Header,
         description = "`wait=N` (RFC 7240): wait up to N seconds (capped at 30) for a turn in \
                        the install's rate budget instead of being answered 429 at once"),
    ),
    responses(
        (status = "default", description = "The platform's answer, whatever its status",
         content_type = "*/*"),
        (status = 400, description = "The path would leave the API base URL", body = Problem,
         content_type = "application/problem+json"),
        super::responses::ProxyRefusals,
        super::responses::Common,
    ),
    security(("api_key" = []), ("merchant_center" = []))
)]
pub(super) async fn proxy(
    State(state): State<AppState>,
    caller: PendingCaller,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    // The key is checked before any other refusal, as on every endpoint.
    let Some((id, raw_path)) = split(uri.path()) else {
        caller.check(&state).await?;
        return Err(Problem::not_found("There is no such proxy address."));
    };
    let path = match checked_path(raw_path) {
        Ok(path) => path,
        Err(e) => {
            caller.check(&state).await?;
            return Err(Problem::bad_request(format!(
                "{}.",
                crate::error::capitalize(&e.to_string())
            )));
        }
    };
    let (caller, install, stored_token) = find_with_token_checking(&state, caller, id).await?;
    let cap = state.proxy_max_response;
    let wait = preferred_wait(&headers);
    let body = read_limited(&headers, body, cap).await?;
    let request = ProxyRequest {
        method: method.clone(),
        path: path.to_owned(),
        query: uri.query().map(str::to_owned),
        headers,
        body,
    };
    let ctx = state.calls();
    let handoff = state
        .platforms
        .handoff(&ctx, &install, stored_token.as_ref())
        .await
        .map_err(platform_problem)?;
    let driver = state.platforms.get(install.platform);
    let patience = wait.map_or(Patience::Refuse, |secs| {
        Patience::Wait(Duration::from_secs(secs))
    });
    let tag = caller_tag(
        &caller.actor(),
        peer.map(|Extension(ConnectInfo(peer))| peer),
    );
    let forwarded = forward(&ctx, driver, &install, &handoff, &request, patience, tag).await;
    // The vendor's calls count towards the install's health as its checks do.
    if let Some(outcome) = call_outcome(&forwarded) {
        health::record_call(
            &state.db,
            &state.health_calls,
            &install.id,
            outcome.err().as_deref(),
            state.clock.unix(),
        )
        .await;
    }
    let upstream = match forwarded {
        Ok(upstream) => upstream,
        Err(e) => return Ok(with_wait_applied(platform_problem(e), wait)),
    };
    if upstream.content_length().is_some_and(|n| n > cap as u64) {
        return Err(Problem::bad_gateway(format!(
            "The platform's answer is larger than {cap} bytes (STORELINK_PROXY_MAX_RESPONSE)."
        )));
    }
    let status =
        StatusCode::from_u16(upstream.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut answer_headers = HeaderMap::new();
    for (name, value) in upstream.headers() {
        if passed_back(name.as_str())
            && let Ok(value) = HeaderValue::from_bytes(value.as_bytes())
            && let Ok(name) = header::HeaderName::from_bytes(name.as_str().as_bytes())
        {
            answer_headers.append(name, value);
        }
    }
    answer_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(secs) = wait {
        answer_headers.insert(PREFERENCE_APPLIED, wait_applied(secs));
    }
    let install_id = install.id.clone();
    let mut seen = 0usize;
    let stream = upstream.bytes_stream().map(move |chunk| {
        let chunk = chunk.map_err(|e| {
            tracing::info!(%install_id, error = %e, "proxy: the platform's answer broke off");
            std::io::Error::other("the platform's answer broke off")
        })?;
        seen += chunk.len();
        if seen > cap {
            tracing::warn!(%install_id, cap, "proxy: the platform's answer is too large; cut off");
            return Err(std::io::Error::other("the platform's answer is too large"));
        }
        Ok(chunk)
    });
    Ok((status, answer_headers, Body::from_stream(stream)).into_response())
}

/// `Preference-Applied` (RFC 7240).
const PREFERENCE_APPLIED: header::HeaderName =
    header::HeaderName::from_static("preference-applied");

/// The `wait` preference of `Prefer` (RFC 7240: `Prefer: wait=N`, among other preferences,
/// in any of the header's values), capped at [`MAX_WAIT_SECS`]; `None` when not asked for or
/// unreadable (a preference a server does not understand is ignored).
fn preferred_wait(headers: &HeaderMap) -> Option<u64> {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(|preference| {
            // `wait=10; param` → the name and value before any parameter.
            let token = preference.split(';').next()?.trim();
            let (name, value) = token.split_once('=')?;
            if !name.trim().eq_ignore_ascii_case("wait") {
                return None;
            }
            let secs: u64 = value.trim().trim_matches('"').parse().ok()?;
            Some(secs.min(MAX_WAIT_SECS))
        })
}

/// `Preference-Applied: wait=N`.
fn wait_applied(secs: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("wait={secs}")).unwrap_or(HeaderValue::from_static("wait"))
}

/// `problem`, as an answer that says the caller's `wait` preference was honoured.
fn with_wait_applied(problem: Problem, wait: Option<u64>) -> Response {
    let mut answer = problem.into_response();
    if let Some(secs) = wait {
        answer
            .headers_mut()
            .insert(PREFERENCE_APPLIED, wait_applied(secs));
    }
    answer
}

/// `/api/v1/installs/{id}/proxy[/{path}]` → (id, path); `None` for anything else.
fn split(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix(PREFIX)?;
    let (id, rest) = rest.split_once('/')?;
    let rest = rest.strip_prefix("proxy")?;
    match rest {
        "" => Some((id, "")),
        _ => Some((id, rest.strip_prefix('/')?)),
    }
}

/// What one of the vendor's calls says about the install's health: it worked (an answer that
/// is not an error), it failed for a reason that may pass (the platform's 5xx or 429, no
/// answer, a refused connection), or nothing (the platform refused the vendor's request, which
/// is the vendor's business, or storelink did not send it).
fn call_outcome(forwarded: &Result<reqwest::Response, ApiError>) -> Option<Result<(), String>> {
    match forwarded {
        Ok(upstream) => {
            let status = upstream.status();
            if status.is_server_error() || status.as_u16() == 429 {
                Some(Err(format!(
                    "the platform answered HTTP {}",
                    status.as_u16()
                )))
            } else if status.is_success() || status.is_redirection() {
                Some(Ok(()))
            } else {
                None
            }
        }
        Err(e @ (ApiError::Timeout | ApiError::Unreachable)) => Some(Err(e.to_string())),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_are_read_from_prefer_and_capped() {
        let with = |values: &[&str]| {
            let mut headers = HeaderMap::new();
            for value in values {
                headers.append("prefer", HeaderValue::from_str(value).unwrap());
            }
            preferred_wait(&headers)
        };
        assert_eq!(with(&[]), None);
        assert_eq!(with(&["wait=10"]), Some(10));
        assert_eq!(with(&["respond-async, Wait = 5"]), Some(5));
        assert_eq!(with(&["return=minimal", "wait=\"7\"; x=y"]), Some(7));
        assert_eq!(with(&["wait=3600"]), Some(MAX_WAIT_SECS));
        assert_eq!(with(&["wait=soon", "handling=lenient"]), None);
        assert_eq!(with(&["wait=-1"]), None);
    }

    #[test]
    fn proxy_addresses_split_into_install_and_path() {
        assert_eq!(split("/api/v1/installs/ab12/proxy"), Some(("ab12", "")));
        assert_eq!(
            split("/api/v1/installs/ab12/proxy/orders/1"),
            Some(("ab12", "orders/1"))
        );
        assert_eq!(split("/api/v1/installs/ab12/proxy/"), Some(("ab12", "")));
        assert_eq!(split("/api/v1/installs/ab12/proxyx"), None);
        assert_eq!(split("/api/v1/other"), None);
    }
}
