//! Connections in the console: testing any install's connection
//! (`POST /console/installs/{id}/test`), what the detail page shows of a bol.com install's token,
//! and adding a bol.com connection with a retailer's own API credentials
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
    Nav,
    auth::{Operator, verify_csrf},
    fmt_time,
    installs::{find_install, flash},
};
use crate::{
    app::{App, AppState},
    db::{
        audit::{self, Action},
        credentials::{self, Kind},
        installs::{Initiator, Install, InstallingUser, NewInstall},
        tokens::{self, AuthKind, FreshTokens, NewConnection},
    },
    domain::StoreDomain,
    error::{AppError, render_or_plain},
    providers::{
        api::ApiError,
        bol::{self, BolClient, Grant},
        maropost, shorten,
    },
};

/// How far back "Test connection" looks for a Maropost order.
const RECENT_ORDER_DAYS: i64 = 30;

/// What the detail page shows of a bol.com install's token.
pub struct TokenSection {
    /// How the connection authenticates, in words.
    pub kind: &'static str,
    /// The retailer's own client id (client-credentials connections).
    pub client_id: String,
    /// "expires in 95 s (…)", "expired 12 s ago; renewed at next use", "none stored".
    pub expiry: String,
    /// When the token was last obtained.
    pub refreshed_at: String,
    /// The connection needs to be authorized again.
    pub needs_attention: bool,
    /// It is a code-flow connection (reconnected through `/install/bol`).
    pub code_flow: bool,
}

/// The token section of `install`'s page, for bol.com installs.
pub async fn token_section(
    state: &AppState,
    install: &Install,
) -> Result<Option<TokenSection>, AppError> {
    if install.provider != "bol" {
        return Ok(None);
    }
    let Some(token) = tokens::load(&state.db, &install.id).await? else {
        return Ok(None);
    };
    let kind = token.kind();
    let now = state.clock.unix();
    let expiry = match token.token_expires_at {
        _ if install.status != "active" => "none stored".to_owned(),
        Some(at) if at > now => format!("expires in {} s ({})", at - now, fmt_time(at)),
        Some(at) => format!(
            "expired {} s ago ({}); a new one is obtained at next use",
            now - at,
            fmt_time(at)
        ),
        None => "none stored".to_owned(),
    };
    Ok(Some(TokenSection {
        kind: match kind {
            AuthKind::Code => "code flow: the retailer authorized storelink",
            AuthKind::ClientCredentials => "the retailer's own API credentials",
        },
        client_id: token.client_id.clone().unwrap_or_default(),
        expiry,
        refreshed_at: token.token_refreshed_at.map(fmt_time).unwrap_or_default(),
        needs_attention: install.status == "needs_attention",
        code_flow: kind == AuthKind::Code,
    }))
}

/// The test form's fields.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf_token: String,
}

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
    let outcome = if install.status == "revoked" {
        Err("the install is revoked and holds no credentials".to_owned())
    } else {
        match install.provider.as_str() {
            "maropost" => test_maropost(&state, &install).await,
            "bol" => test_bol(&state, &install).await,
            _ => Err("storelink cannot test this platform".to_owned()),
        }
    };
    let (detail, message) = match &outcome {
        Ok(what) => (
            format!("passed: {what}"),
            format!("Connection test passed: {what}."),
        ),
        Err(why) => (
            format!("failed: {why}"),
            format!("Connection test failed: {why}."),
        ),
    };
    let mut conn = state.db.acquire().await?;
    audit::record(
        &mut conn,
        state.clock.unix(),
        &operator.actor(),
        Action::TestConnection,
        Some(&install.id),
        &detail,
    )
    .await?;
    tracing::info!(install_id = %install.id, passed = outcome.is_ok(), "connection tested");
    flash(&operator, &message).await?;
    Ok(Redirect::to(&format!("/console/installs/{}", install.id)).into_response())
}

/// Maropost: `GetOrder` for one recent order with the store's access token.
async fn test_maropost(state: &App, install: &Install) -> Result<String, String> {
    let platform = "Maropost";
    let config = state
        .maropost
        .as_ref()
        .ok_or_else(|| format!("{platform} is not configured on this storelink"))?;
    let domain = install
        .store_domain
        .as_deref()
        .and_then(|d| StoreDomain::parse(d).ok())
        .ok_or_else(|| format!("{platform}: the store's domain is not known"))?;
    let token = credentials::open(&state.db, &state.keyring, &install.id, Kind::AccessToken)
        .await
        .map_err(|e| {
            tracing::error!(error = format!("{e:#}"), "cannot open a Maropost token");
            format!("{platform}: the stored access token cannot be opened")
        })?
        .ok_or_else(|| format!("{platform}: {}", ApiError::NoCredentials("no access token")))?;
    let since = state.clock.now() - time::Duration::days(RECENT_ORDER_DAYS);
    match maropost::get_recent_order(&state.http, config, &domain, &token, since).await {
        Ok(found) => Ok(format!(
            "{platform} answered GetOrder with Ack Success ({found} order(s) placed in the last \
             {RECENT_ORDER_DAYS} days, at most 1 asked for)"
        )),
        Err(e) => Err(format!("{platform}: {e}")),
    }
}

/// bol.com: `GET /orders` with the install's (possibly refreshed) token.
async fn test_bol(state: &App, install: &Install) -> Result<String, String> {
    match bol::api::orders(state, &install.id).await {
        Ok(answer) => {
            let orders = answer
                .get("orders")
                .and_then(serde_json::Value::as_array)
                .map_or(0, Vec::len);
            Ok(format!(
                "bol.com answered GET /orders ({orders} order(s) on the first page)"
            ))
        }
        Err(e) => Err(format!("bol.com: {e}")),
    }
}

// ----- a retailer's own credentials -----

#[derive(Template)]
#[template(path = "console/bol_connection.html")]
struct NewConnectionPage {
    nav: Nav,
    name: String,
    client_id: String,
    error: Option<String>,
    sandbox: bool,
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
        sandbox: state.sandbox.is_some(),
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
    if let Err(problem) = check_fields(name, client_id, &secret) {
        return Ok(form_again(
            &state,
            &operator,
            &form,
            StatusCode::BAD_REQUEST,
            problem,
        ));
    }
    let client = BolClient {
        client_id: client_id.to_owned(),
        client_secret: secret,
    };
    let now = state.clock.unix();
    let token = match bol::request_token(
        &state.http,
        &state.bol.token_url,
        &client,
        &Grant::ClientCredentials,
        None,
        now,
    )
    .await
    {
        Ok(token) => token,
        Err(e) => {
            let problem = format!("bol.com's token endpoint {e}. Nothing was stored.");
            return Ok(form_again(
                &state,
                &operator,
                &form,
                StatusCode::BAD_GATEWAY,
                problem,
            ));
        }
    };
    let account = format!("client:{client_id}");
    let connection = NewConnection {
        install: NewInstall {
            provider: "bol",
            account_id: &account,
            store_domain: None,
            store_name: Some(name),
            timezone: None,
            scope: token.scope.as_deref(),
            user: InstallingUser::default(),
            billing_address: None,
            initiated_by: Initiator::Storelink,
            access_token: token.access_token.expose_secret().as_bytes(),
        },
        kind: AuthKind::ClientCredentials,
        client: Some((client_id, &client.client_secret)),
        tokens: FreshTokens {
            access_token: &token.access_token,
            refresh_token: None,
            expires_at: token.expires_at,
        },
        actor: &operator.actor(),
    };
    let saved = tokens::save_connection(&state.db, &state.keyring, &connection, now).await?;
    tracing::info!(install_id = %saved.id, operator = operator.id, "bol.com client-credentials connection added");
    let verb = if saved.reinstall { "renewed" } else { "added" };
    flash(
        &operator,
        &format!(
            "{name} is {verb}: bol.com accepted the credentials. The client secret is stored \
             encrypted and will not be shown again."
        ),
    )
    .await?;
    Ok(Redirect::to(&format!("/console/installs/{}", saved.id)).into_response())
}

/// Checks the form's fields; the message says what to fix.
fn check_fields(name: &str, client_id: &str, secret: &SecretString) -> Result<(), String> {
    let printable = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_graphic());
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err("Give the connection a name of at most 100 characters.".into());
    }
    if client_id.len() > 200 || !printable(client_id) {
        return Err(
            "Enter the client id bol.com shows (letters, digits and symbols, no spaces).".into(),
        );
    }
    let secret = secret.expose_secret();
    if secret.len() > 500 || !printable(secret) {
        return Err(
            "Enter the client secret bol.com showed when the credentials were created.".into(),
        );
    }
    Ok(())
}

/// The form again with `problem`, keeping the name and client id but never the secret.
fn form_again(
    state: &AppState,
    operator: &Operator,
    form: &NewConnectionForm,
    status: StatusCode,
    problem: String,
) -> Response {
    let page = NewConnectionPage {
        nav: Nav::from(operator),
        name: shorten(form.name.trim(), 100),
        client_id: shorten(form.client_id.trim(), 200),
        error: Some(problem),
        sandbox: state.sandbox.is_some(),
    };
    (status, render_or_plain(&page)).into_response()
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
