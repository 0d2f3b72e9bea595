//! Connections in the console: testing any install's connection
//! (`POST /console/installs/{id}/test`), and adding one with credentials
//! (`GET /console/connections/new` lists the kinds; `GET /console/connections/{kind}/new` and
//! `POST /console/connections/{kind}` for each: a bol.com retailer's own client, a Maropost API
//! key, an OrderCloud marketplace, a commercetools project).
//!
//! Every form posts the fields `POST /api/v1/connections` takes, and both go through the
//! platform's [`ConnectionKind`]: the same checks, the same refusals. A secret an operator types
//! is sealed at once and never shown again, nor echoed back when the form is shown again.

use askama::Template;
use axum::{
    Form,
    extract::{Path, Query, State, rejection::QueryRejection},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use zeroize::Zeroize as _;

use super::{
    auth::{Operator, verify_csrf},
    shared::{CsrfForm, FlashKind, Nav, find_install, flash},
};
use crate::{
    db::audit::{self, Action},
    domain::{Platform, text::shorten},
    error::{AppError, render_or_plain},
    platforms::{
        driver::ConnectionKind,
        kit::{
            connect::ConnectError,
            forms::{Field, Fields, Values},
        },
    },
    state::AppState,
};

/// `POST /console/installs/{id}/test`: checks the install now (calls the platform's API with
/// the stored credentials, as the health checker does, and records what it found), shows the
/// outcome (the platform's error, named, when it fails) and audits it.
pub(crate) async fn test_connection(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, AppError> {
    verify_csrf(&operator.session, &form.csrf_token).await?;
    let install = find_install(&state, &id).await?;
    let outcome = crate::health::check_now(&state.health_context(), &install).await?;
    // The outcome carries the platform's own words: a value, never part of the entry's text.
    let (detail, outcome_text, kind, message) = match &outcome {
        Ok(what) => (
            "passed",
            what.clone(),
            FlashKind::Success,
            format!("Connection test passed: {what}."),
        ),
        Err(why) => (
            "failed",
            why.message.clone(),
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
        &[("outcome", &outcome_text)],
    )
    .await?;
    tracing::info!(install_id = %install.id, passed = outcome.is_ok(), "connection tested");
    flash(&operator, kind, &message).await?;
    Ok(Redirect::to(&format!("/console/installs/{}", install.id)).into_response())
}

// ----- adding a connection -----

#[derive(Template)]
#[template(path = "console/connections_new.html")]
struct ChooserPage {
    nav: Nav,
    kinds: Vec<(&'static str, &'static str, &'static str)>,
}

/// `GET /console/connections/new`: the kinds of connection an operator can add.
pub(crate) async fn choose(State(state): State<AppState>, operator: Operator) -> Response {
    render_or_plain(&ChooserPage {
        nav: Nav::from(&operator),
        kinds: state
            .platforms
            .connection_kinds()
            .map(|(platform, kind)| {
                let form = kind.form(&Values(&[]));
                (platform.as_str(), form.title, form.intro)
            })
            .collect(),
    })
}

#[derive(Template)]
#[template(path = "console/connection_form.html")]
struct FormPage {
    nav: Nav,
    slug: &'static str,
    title: &'static str,
    intro: &'static str,
    fields: Vec<Field>,
    /// A refusal that is not about one field (the platform's), shown above the form.
    error: Option<String>,
    /// What the platform answered, word for word, in small print for support.
    error_code: Option<String>,
    /// The sandbox's page for test credentials, in sandbox mode.
    sandbox_help: Option<(&'static str, &'static str)>,
}

impl FormPage {
    /// Whether anything on the page is an error (the title says so first).
    fn has_error(&self) -> bool {
        self.error.is_some() || self.fields.iter().any(|f| f.error.is_some())
    }
}

/// The platform a URL's `{kind}` names and how it takes connections, or `404`.
fn kind<'a>(
    state: &'a AppState,
    slug: &str,
) -> Result<(Platform, &'a dyn ConnectionKind), AppError> {
    let driver = state.platforms.by_name(slug).ok_or(AppError::NotFound)?;
    let kind = driver.connection().ok_or(AppError::NotFound)?;
    Ok((driver.platform(), kind))
}

/// The fields a link may prefill: none of them a secret.
const PREFILLED: [&str; 4] = ["name", "client_id", "store_domain", "username"];

/// `GET /console/connections/{kind}/new`: the kind's form, prefilled from the query (the
/// install page's "Enter new credentials" names what identifies the connection to renew).
pub(crate) async fn new_connection(
    State(state): State<AppState>,
    operator: Operator,
    Path(slug): Path<String>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, AppError> {
    let (platform, kind) = kind(&state, &slug)?;
    let prefill: Vec<(String, String)> = query
        .map(|Query(q)| q)
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| PREFILLED.contains(&k.as_str()))
        .map(|(k, v)| (k, shorten(&v, 200)))
        .collect();
    Ok(render_or_plain(&form_page(
        &state,
        &operator,
        platform,
        kind,
        &Values(&prefill),
    )))
}

fn form_page(
    state: &AppState,
    operator: &Operator,
    platform: Platform,
    kind: &dyn ConnectionKind,
    values: &Values<'_>,
) -> FormPage {
    let form = kind.form(values);
    FormPage {
        nav: Nav::from(operator),
        slug: platform.as_str(),
        title: form.title,
        intro: form.intro,
        fields: form.fields,
        error: None,
        error_code: None,
        sandbox_help: kind.sandbox_help().filter(|_| state.sandbox),
    }
}

/// `POST /console/connections/{kind}`: reads the form as the API reads its body, adds the
/// connection through the same checks, and shows the install (or the form again, with what is
/// wrong next to its field).
pub(crate) async fn create_connection(
    State(state): State<AppState>,
    operator: Operator,
    Path(slug): Path<String>,
    Form(mut typed): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let csrf = typed
        .iter()
        .find(|(k, _)| k == "csrf_token")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    verify_csrf(&operator.session, &csrf).await?;
    let (platform, kind) = kind(&state, &slug)?;
    let actor = operator.actor();
    let connected = kind
        .connect(&state.calls(), Fields::Form(&typed), &actor)
        .await;
    // Secrets typed into the form are not kept past this point, not even in freed memory.
    let secrets = kind.form(&Values(&[])).secret_names();
    for (name, value) in &mut typed {
        if secrets.contains(&name.as_str()) {
            value.zeroize();
        }
    }
    match connected {
        Ok(saved) => {
            let install = find_install(&state, &saved.id).await?;
            let name = install.store_name.as_deref().unwrap_or(&install.account_id);
            tracing::info!(install_id = %saved.id, platform = platform.as_str(), operator = operator.id, "connection added");
            let verb = if saved.reinstall { "renewed" } else { "added" };
            flash(
                &operator,
                FlashKind::Success,
                &format!(
                    "{name} is {verb}: {} accepted the credentials. They are stored encrypted; \
                     secrets will not be shown again.",
                    platform.display_name()
                ),
            )
            .await?;
            Ok(Redirect::to(&format!("/console/installs/{}", saved.id)).into_response())
        }
        Err(e) => Ok(refused_page(&state, &operator, platform, kind, &typed, e)?),
    }
}

/// The form again after a refusal: a field's error next to it, the platform's above the form
/// with the fields it may be about marked. Nothing was stored.
fn refused_page(
    state: &AppState,
    operator: &Operator,
    platform: Platform,
    kind: &dyn ConnectionKind,
    typed: &[(String, String)],
    e: ConnectError,
) -> Result<Response, AppError> {
    let mut page = form_page(state, operator, platform, kind, &Values(typed));
    let status = match e {
        ConnectError::Field(field) => {
            match page.fields.iter_mut().find(|f| f.name == field.field) {
                Some(f) => f.error = Some(field.message),
                None => page.error = Some(field.message),
            }
            StatusCode::BAD_REQUEST
        }
        ConnectError::Platform {
            message,
            detail,
            fields,
            timeout,
        } => {
            for f in &mut page.fields {
                f.suspect = fields.contains(&f.name);
            }
            page.error = Some(message);
            page.error_code = Some(detail);
            if timeout {
                StatusCode::GATEWAY_TIMEOUT
            } else {
                StatusCode::BAD_GATEWAY
            }
        }
        ConnectError::Unreadable(e) => {
            page.error = Some(format!("The form could not be read: {e}."));
            StatusCode::BAD_REQUEST
        }
        ConnectError::Internal(e) => return Err(AppError::Internal(e)),
    };
    Ok((status, render_or_plain(&page)).into_response())
}
