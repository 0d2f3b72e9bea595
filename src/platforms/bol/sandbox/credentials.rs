//! The bol.com stand-in's Seller Dashboard page that creates a retailer's own API credentials,
//! for client-credentials connections.

use std::sync::Arc;

use askama::Template;
use axum::{Form, Router, extract::State, http::StatusCode, response::Response, routing::get};
use serde::Deserialize;

use super::state::{PLATFORM, RETAILERS, SandboxBol, known_retailer};
use crate::{render::render_or_plain, sandbox::pages::error_page};

/// The credentials page.
pub(super) fn routes() -> Router<Arc<SandboxBol>> {
    Router::new().route(
        "/sandbox/bol/credentials",
        get(credentials_page).post(create_credentials),
    )
}

#[derive(Template)]
#[template(path = "sandbox/bol_credentials.html")]
struct CredentialsPage<'a> {
    platform: &'a str,
    retailers: &'a [(&'a str, &'a str)],
    created: Option<(String, String, String)>,
}

async fn credentials_page() -> Response {
    render_or_plain(&CredentialsPage {
        platform: PLATFORM,
        retailers: &RETAILERS,
        created: None,
    })
}

/// The form that creates credentials.
#[derive(Debug, Deserialize)]
struct CreateCredentials {
    #[serde(default)]
    retailer: String,
}

async fn create_credentials(
    State(sandbox): State<Arc<SandboxBol>>,
    Form(form): Form<CreateCredentials>,
) -> Response {
    if !known_retailer(&form.retailer) {
        return error_page(
            StatusCode::BAD_REQUEST,
            PLATFORM,
            "Pick one of the sandbox's retailer accounts.",
        );
    }
    let (client_id, secret) = sandbox.create_client_credentials(&form.retailer);
    render_or_plain(&CredentialsPage {
        platform: PLATFORM,
        retailers: &RETAILERS,
        created: Some((form.retailer, client_id, secret)),
    })
}
