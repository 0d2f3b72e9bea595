//! Connections in the console: testing any install's connection
//! (`POST /console/installs/{id}/test`), and adding a bol.com connection with a retailer's own API credentials
//! (`GET /console/connections/bol/new`, `POST /console/connections/bol`).
//!
//! The secret an operator types is sealed at once and never shown again, nor echoed back when
//! the form has to be shown again.

use askama::Template;
use axum::{
    Form,
    extract::{Path, Query, State, rejection::QueryRejection},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

use super::{
    auth::{Operator, verify_csrf},
    shared::{CsrfForm, FlashKind, Nav, find_install, flash},
};
use crate::{
    db::{
        audit::{self, Action},
        token_state,
    },
    domain::text::shorten,
    error::{AppError, render_or_plain},
    providers::{
        bol::{self, BolClient, Grant, oauth::ConnectingClient},
        token::TokenError,
    },
    state::AppState,
};

/// `POST /console/installs/{id}/test`: calls the platform's API with the stored credentials,
/// shows the outcome (the platform's error, named, when it fails) and audits it.
pub async fn test_connection(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, AppError> {
    verify_csrf(&operator.session, &form.csrf_token).await?;
    let install = find_install(&state, &id).await?;
    let outcome = state.platforms().test_connection(&install).await;
    // The outcome carries the platform's own words: a value, never part of the entry's text.
    let (detail, outcome_text, kind, message) = match &outcome {
        Ok(what) => (
            "passed",
            what,
            FlashKind::Success,
            format!("Connection test passed: {what}."),
        ),
        Err(why) => (
            "failed",
            why,
            FlashKind::Failure,
            format!("Connection test failed: {why}."),
        ),
    };
    audit::record_now(
        &state.db,
        state.clock.unix(),
        &operator.actor(),
        Action::TestConnection,
        Some(&install.id),
        detail,
        &[("outcome", outcome_text)],
    )
    .await?;
    tracing::info!(install_id = %install.id, passed = outcome.is_ok(), "connection tested");
    flash(&operator, kind, &message).await?;
    Ok(Redirect::to(&format!("/console/installs/{}", install.id)).into_response())
}

// ----- a retailer's own credentials -----

#[derive(Template)]
#[template(path = "console/bol_connection.html")]
struct NewConnectionPage {
    nav: Nav,
    name: String,
    client_id: String,
    error: Option<String>,
    /// What the platform answered, word for word, in small print for support.
    error_code: Option<String>,
    /// Which fields the error is about, so they can point at it (`aria-describedby`).
    invalid: Invalid,
    sandbox: bool,
}

/// Which of the form's fields an error is about.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Invalid {
    name: bool,
    client_id: bool,
    client_secret: bool,
}

impl Invalid {
    const NAME: Self = Self {
        name: true,
        client_id: false,
        client_secret: false,
    };
    const CLIENT_ID: Self = Self {
        name: false,
        client_id: true,
        client_secret: false,
    };
    const CLIENT_SECRET: Self = Self {
        name: false,
        client_id: false,
        client_secret: true,
    };
    /// bol.com refused the pair: either may be wrong.
    const CREDENTIALS: Self = Self {
        name: false,
        client_id: true,
        client_secret: true,
    };
}

/// Prefills for the form (the client id of a connection being renewed).
#[derive(Debug, Default, Deserialize)]
pub struct NewConnectionQuery {
    client_id: Option<String>,
    name: Option<String>,
}

/// `GET /console/connections/bol/new`.
pub async fn new_bol_connection(
    State(state): State<AppState>,
    operator: Operator,
    query: Result<Query<NewConnectionQuery>, QueryRejection>,
) -> Response {
    let query = query.map(|Query(q)| q).unwrap_or_default();
    render_or_plain(&NewConnectionPage {
        nav: Nav::from(&operator),
        name: shorten(query.name.as_deref().unwrap_or_default(), 100),
        client_id: shorten(query.client_id.as_deref().unwrap_or_default(), 200),
        error: None,
        error_code: None,
        invalid: Invalid::default(),
        sandbox: state.sandbox,
    })
}

/// The form's fields. The secret is held as a [`SecretString`] from the moment it is read.
#[derive(Deserialize)]
pub struct NewConnectionForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    client_secret: SecretString,
}

/// `POST /console/connections/bol`: checks the credentials by asking bol.com for a token, and
/// only then stores the connection (secret sealed) with that token.
pub async fn create_bol_connection(
    State(state): State<AppState>,
    operator: Operator,
    Form(form): Form<NewConnectionForm>,
) -> Result<Response, AppError> {
    verify_csrf(&operator.session, &form.csrf_token).await?;
    let name = form.name.trim();
    let client_id = form.client_id.trim();
    let secret = SecretString::from(form.client_secret.expose_secret().trim());
    if let Err((invalid, problem)) = check_fields(name, client_id, &secret) {
        return Ok(form_again(
            &state,
            &operator,
            &form,
            StatusCode::BAD_REQUEST,
            (invalid, problem),
        ));
    }
    let client = BolClient {
        client_id: client_id.to_owned(),
        client_secret: secret,
    };
    let now = state.clock.unix();
    let token = match bol::request_token(
        &state.http,
        &state.bol,
        &client,
        &Grant::ClientCredentials,
        None,
        now,
    )
    .await
    {
        Ok(token) => token,
        Err(e) => {
            let (invalid, problem) = explain_refusal(&e);
            let mut page = form_again_page(&state, &operator, &form, (invalid, problem));
            page.error_code = Some(format!("bol.com's token endpoint {e}."));
            return Ok((StatusCode::BAD_GATEWAY, render_or_plain(&page)).into_response());
        }
    };
    let account = format!("client:{client_id}");
    let actor = operator.actor();
    let own = ConnectingClient::Own {
        client_id,
        secret: &client.client_secret,
    };
    let connection = token.connection(&account, name, own, &actor);
    let saved = token_state::save_connection(&state.db, &state.keyring, &connection, now).await?;
    tracing::info!(install_id = %saved.id, operator = operator.id, "bol.com client-credentials connection added");
    let verb = if saved.reinstall { "renewed" } else { "added" };
    flash(
        &operator,
        FlashKind::Success,
        &format!(
            "{name} is {verb}: bol.com accepted the credentials. The client secret is stored \
             encrypted and will not be shown again."
        ),
    )
    .await?;
    Ok(Redirect::to(&format!("/console/installs/{}", saved.id)).into_response())
}

/// Checks the form's fields; the error names the field at fault and says what to fix.
fn check_fields(
    name: &str,
    client_id: &str,
    secret: &SecretString,
) -> Result<(), (Invalid, String)> {
    let printable = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_graphic());
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err((
            Invalid::NAME,
            "Give the connection a name of at most 100 characters.".into(),
        ));
    }
    if client_id.len() > 200 || !printable(client_id) {
        return Err((
            Invalid::CLIENT_ID,
            "Enter the client id bol.com shows (letters, digits and symbols, no spaces).".into(),
        ));
    }
    let secret = secret.expose_secret();
    if secret.len() > 500 || !printable(secret) {
        return Err((
            Invalid::CLIENT_SECRET,
            "Enter the client secret bol.com showed when the credentials were created.".into(),
        ));
    }
    Ok(())
}

/// What to tell the operator when bol.com did not give a token for the credentials: in plain
/// words, with the next step, and which fields to look at.
fn explain_refusal(e: &TokenError) -> (Invalid, String) {
    match e {
        TokenError::Rejected { error, .. }
            if error == "invalid_client" || error == "unauthorized_client" =>
        {
            (
                Invalid::CREDENTIALS,
                "bol.com rejected this client id and secret: check them in bol.com's Seller \
                 Dashboard under Settings > API settings (or create new ones there). Nothing \
                 was stored."
                    .into(),
            )
        }
        TokenError::Timeout | TokenError::Unreachable => (
            Invalid::default(),
            "bol.com could not be reached just now. Nothing was stored; try again in a minute."
                .into(),
        ),
        _ => (
            Invalid::default(),
            "bol.com did not give a token for these credentials. Nothing was stored; the \
             answer below says why."
                .into(),
        ),
    }
}

/// The form again with `problem`, keeping the name and client id but never the secret.
fn form_again(
    state: &AppState,
    operator: &Operator,
    form: &NewConnectionForm,
    status: StatusCode,
    problem: (Invalid, String),
) -> Response {
    let page = form_again_page(state, operator, form, problem);
    (status, render_or_plain(&page)).into_response()
}

/// The page of [`form_again`].
fn form_again_page(
    state: &AppState,
    operator: &Operator,
    form: &NewConnectionForm,
    (invalid, problem): (Invalid, String),
) -> NewConnectionPage {
    NewConnectionPage {
        nav: Nav::from(operator),
        name: shorten(form.name.trim(), 100),
        client_id: shorten(form.client_id.trim(), 200),
        error: Some(problem),
        error_code: None,
        invalid,
        sandbox: state.sandbox,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_checked() {
        let secret = SecretString::from("s3cret");
        assert!(check_fields("Shop", "client-1", &secret).is_ok());
        assert!(check_fields("", "client-1", &secret).is_err());
        assert!(check_fields(&"x".repeat(101), "client-1", &secret).is_err());
        assert!(check_fields("Shop", "client 1", &secret).is_err());
        assert!(check_fields("Shop", "", &secret).is_err());
        assert!(check_fields("Shop", "c", &SecretString::from("")).is_err());
        assert!(check_fields("Shop", "c", &SecretString::from("a b")).is_err());
    }
}
