//! What every stand-in answers with: its error page, the answer to an authorize request at its
//! verified redirect URI ([`ReturnTo`]), an OAuth error from a token endpoint, and the Approve/Deny step of an authorize page.

use askama::Template;
use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};

use super::codes::CodeStore;
use crate::render::render_or_plain;

#[derive(Template)]
#[template(path = "sandbox/error.html")]
struct SandboxErrorPage<'a> {
    platform: &'a str,
    message: &'a str,
}

/// A refusal shown on a sandbox page (where a real provider shows its own error page rather than
/// redirecting to an unverified redirect URI).
pub(crate) fn error_page(status: StatusCode, platform: &str, message: &str) -> Response {
    (
        status,
        render_or_plain(&SandboxErrorPage { platform, message }),
    )
        .into_response()
}

/// Where an authorize request is answered: its redirect URI (already verified against the
/// client's registration) with its state, the way a provider answers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReturnTo<'a> {
    /// The platform's name, for error pages.
    pub platform: &'a str,
    /// The verified redirect URI.
    pub redirect_uri: &'a str,
    /// The client's state, sent back as it came.
    pub state: Option<&'a str>,
    /// The stand-in's issuer identifier, sent as `iss` with every answer (RFC 9207).
    pub issuer: &'a str,
}

impl ReturnTo<'_> {
    /// `303` to the redirect URI with `pairs` and the state.
    pub(crate) fn with(&self, pairs: &[(&str, &str)]) -> Response {
        let Ok(mut url) = url::Url::parse(self.redirect_uri) else {
            return error_page(
                StatusCode::BAD_REQUEST,
                self.platform,
                "Malformed redirect_uri.",
            );
        };
        {
            let mut query = url.query_pairs_mut();
            for (k, v) in pairs {
                query.append_pair(k, v);
            }
            if let Some(state) = self.state.filter(|s| !s.is_empty()) {
                query.append_pair("state", state);
            }
            query.append_pair("iss", self.issuer);
        }
        axum::response::Redirect::to(url.as_str()).into_response()
    }

    /// `303` to the redirect URI with an OAuth error.
    pub(crate) fn error(&self, error: &str, description: &str) -> Response {
        self.with(&[("error", error), ("error_description", description)])
    }
}

/// An OAuth error answer from a token endpoint.
pub(crate) fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({"error": error, "error_description": description})),
    )
        .into_response()
}

/// An Approve/Deny form as it comes back from a stand-in's authorize page, its request already
/// checked (client, redirect URI, response type, PKCE method).
pub(crate) struct Approval<'a> {
    /// Where the answer goes.
    pub back: ReturnTo<'a>,
    /// `approve`, or anything else for Deny.
    pub decision: Option<&'a str>,
    /// The PKCE challenge the code will be bound to.
    pub code_challenge: Option<&'a str>,
    /// The `error_description` sent back when the user clicks Deny.
    pub denied: &'a str,
    /// The error page's message when the form names nothing that can be granted.
    pub nothing_to_grant: &'a str,
}

/// The decision step every stand-in shares: Deny sends `access_denied` back; Approve issues a
/// single-use code for what `grant` names (or refuses a form that names nothing it can grant)
/// and sends it back.
pub(crate) fn approve<T>(
    approval: &Approval<'_>,
    codes: &CodeStore<T>,
    now: i64,
    grant: impl FnOnce() -> Option<T>,
) -> Response {
    let back = approval.back;
    if approval.decision != Some("approve") {
        return back.error("access_denied", approval.denied);
    }
    let Some(grant) = grant() else {
        return error_page(
            StatusCode::BAD_REQUEST,
            back.platform,
            approval.nothing_to_grant,
        );
    };
    match codes.issue(grant, back.redirect_uri, approval.code_challenge, now) {
        Some(code) => back.with(&[("code", &code)]),
        None => error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            back.platform,
            "Too many approvals are waiting to be exchanged; try again in a minute.",
        ),
    }
}
