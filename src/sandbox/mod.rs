//! The built-in sandbox providers: working stand-ins for the platforms' authorize pages, token
//! endpoints and a few API calls, served only in sandbox mode. They let a new user click through
//! a whole install on a fresh machine and let tests drive real redirects. They check requests as
//! strictly as a real provider would, so a flow that works here is a flow that checks its inputs.

pub mod bol;
pub mod codes;
pub mod maropost;

use askama::Template;
use axum::{
    Router,
    http::StatusCode,
    response::{IntoResponse, Response},
};

use crate::{
    app::AppState,
    crypto::Keyring,
    error::render_or_plain,
    providers::{bol::BolConfig, maropost::MaropostConfig},
};

/// The sandbox's state: one part per platform.
pub struct Sandbox {
    /// The Maropost stand-in, when Maropost is enabled.
    pub maropost: Option<maropost::SandboxMaropost>,
    /// The bol.com stand-in.
    pub bol: Option<bol::SandboxBol>,
}

impl Sandbox {
    /// A sandbox that expects the credentials and redirect URIs storelink is configured with.
    pub fn new(keyring: &Keyring, maropost: Option<&MaropostConfig>, bol: &BolConfig) -> Self {
        Self {
            maropost: maropost.map(|config| maropost::SandboxMaropost::new(keyring, config)),
            bol: Some(bol::SandboxBol::new(keyring, bol)),
        }
    }
}

/// The sandbox routes.
pub fn router() -> Router<AppState> {
    Router::new().merge(maropost::router()).merge(bol::router())
}

#[derive(Template)]
#[template(path = "sandbox/error.html")]
struct SandboxErrorPage<'a> {
    platform: &'a str,
    message: &'a str,
}

/// A refusal shown on a sandbox page (where a real provider shows its own error page rather than
/// redirecting to an unverified redirect URI).
fn error_page(status: StatusCode, platform: &str, message: &str) -> Response {
    (
        status,
        render_or_plain(&SandboxErrorPage { platform, message }),
    )
        .into_response()
}

/// `303` back to an already verified redirect URI with `pairs` and the state, the way a
/// provider answers an authorize request.
fn redirect_back(
    platform: &str,
    redirect_uri: &str,
    state: Option<&str>,
    pairs: &[(&str, &str)],
) -> Response {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return error_page(StatusCode::BAD_REQUEST, platform, "Malformed redirect_uri.");
    };
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in pairs {
            query.append_pair(k, v);
        }
        if let Some(state) = state.filter(|s| !s.is_empty()) {
            query.append_pair("state", state);
        }
    }
    axum::response::Redirect::to(url.as_str()).into_response()
}

/// An OAuth error answer from a token endpoint.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({"error": error, "error_description": description})),
    )
        .into_response()
}
