//! Calling an install's platform for the vendor's backend: the backend names a method, a path
//! under the install's API base URL, a query, a few headers and a body; storelink adds the
//! install's credentials (the platform's driver says how) and sends it. Nothing outside the base
//! URL can be reached ([`crate::platforms::kit::proxy`] checks the path and the URL).

use reqwest::header::HeaderMap;

use super::{
    driver::{Handoff, PlatformDriver, ProxyCall, ProxyRequest},
    kit::{api_call::ApiError, budget, context::Context, outbound::Outbound, proxy::target_url},
};
use crate::{db::installs::Install, domain::rate_budget::Patience};

/// Request headers the backend may send through, on every platform. Everything else (its
/// `Authorization`, cookies, hop-by-hop headers, other credentials) stays behind.
const PASSED_REQUEST_HEADERS: [&str; 5] = [
    "accept",
    "accept-language",
    "content-type",
    "if-match",
    "if-none-match",
];

/// The headers of `request` that may go to the platform: those every platform gets, and the
/// platform's own (its driver says which).
fn passed_headers(own: impl Fn(&str) -> bool, from: &HeaderMap) -> HeaderMap {
    let mut passed = HeaderMap::new();
    for (name, value) in from {
        let allowed = PASSED_REQUEST_HEADERS.contains(&name.as_str()) || own(name.as_str());
        if allowed {
            passed.append(name.clone(), value.clone());
        }
    }
    passed
}

/// Sends `request` to `install`'s platform with its credentials (`handoff`), within the
/// install's rate budget for the call (waiting for a turn as long as `patience` allows: over
/// budget, nothing is sent and the answer is [`ApiError::OverBudget`]), and returns the
/// platform's answer as it is (status, headers, body unread); a "slow down" in it stops the
/// budget's other callers. `caller` tells the vendor's callers apart ([`budget::caller_tag`]). Platforms with expiring bearer tokens: a `401` gets one token
/// renewal and one retry, which draws on the budget too.
pub async fn forward(
    ctx: &Context<'_>,
    driver: &dyn PlatformDriver,
    install: &Install,
    handoff: &Handoff,
    request: &ProxyRequest,
    patience: Patience,
    caller: u64,
) -> Result<reqwest::Response, ApiError> {
    let call_budget = driver.api_budget(&install.account_id, &request.path);
    let call_budget = &call_budget;
    let url = target_url(
        &handoff.api_base_url,
        &request.path,
        request.query.as_deref(),
    )?;
    let headers = passed_headers(|name| driver.passes_header(name), &request.headers);
    let send = |token: &secrecy::SecretString| {
        let call = ProxyCall {
            install,
            handoff,
            token,
            url: url.clone(),
            request,
            headers: headers.clone(),
        };
        let request = driver.proxy_request(ctx, call);
        async move {
            budget::send_as(ctx.budgets, call_budget, patience, caller, request?)
                .await?
                .map_err(sent_error)
        }
    };
    let first = send(&handoff.access_token).await?;
    if first.status() != reqwest::StatusCode::UNAUTHORIZED || !driver.renews_on_refusal() {
        return Ok(first);
    }
    tracing::info!(install_id = %install.id, platform = install.platform.as_str(), "proxy: the platform refused the access token; renewing once");
    let token = driver
        .replace_rejected(ctx, install, &handoff.access_token)
        .await?;
    send(&token).await
}

/// What a failed send was: the outbound guard's refusal, or the transport's failure.
fn sent_error(e: reqwest::Error) -> ApiError {
    match Outbound::refusal(&e) {
        Some(refusal) => ApiError::NotAllowed(refusal),
        None => ApiError::from_transport(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn only_allowed_headers_pass() {
        let mut from = HeaderMap::new();
        from.insert(
            "authorization",
            HeaderValue::from_static("Bearer slk_backend"),
        );
        from.insert("cookie", HeaderValue::from_static("a=b"));
        from.insert("connection", HeaderValue::from_static("close"));
        from.insert("x_secret_key", HeaderValue::from_static("spoofed"));
        from.insert("content-type", HeaderValue::from_static("application/json"));
        from.insert("netoapi_action", HeaderValue::from_static("GetOrder"));
        let with_own = passed_headers(|name| name == "netoapi_action", &from);
        assert_eq!(with_own.len(), 2);
        assert!(with_own.contains_key("netoapi_action"));
        let without = passed_headers(|_| false, &from);
        assert_eq!(without.len(), 1);
        assert!(without.contains_key("content-type"));
    }
}
