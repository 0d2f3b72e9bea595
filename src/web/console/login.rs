//! `GET`/`POST /console/login` and `POST /console/logout`.
//!
//! An unknown email and a wrong password get the same answer in the same time (a dummy hash is
//! verified for unknown emails). Failures are throttled per account and per client address; a
//! locked subject is refused with `429` before any password is checked.

use std::net::SocketAddr;

use askama::Template;
use axum::{
    Form,
    extract::{ConnectInfo, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use secrecy::SecretString;
use serde::Deserialize;
use tower_sessions::Session;

use super::auth::{self, Operator, verify_csrf};
use crate::{
    app::AppState,
    db::{
        audit::{self, Action},
        login_throttle::{self, Subject},
        operators,
    },
    error::{AppError, render_or_plain},
    password::{self, Verified},
    providers::shorten,
};

#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage {
    csrf_token: String,
    email: String,
    error: Option<String>,
    notice: Option<&'static str>,
}

/// `?expired=1` after a timeout.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    expired: Option<String>,
}

/// The login form.
pub async fn page(
    session: Session,
    query: Result<Query<LoginQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, AppError> {
    let expired = query.is_ok_and(|Query(q)| q.expired.is_some());
    Ok(render_or_plain(&LoginPage {
        csrf_token: auth::csrf_token(&session).await?,
        email: String::new(),
        error: None,
        notice: expired.then_some("Your session ended. Log in again to continue."),
    }))
}

/// The login form's fields. The password never gets a `Debug`.
#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default = "empty_secret")]
    password: SecretString,
    #[serde(default)]
    csrf_token: String,
}

fn empty_secret() -> SecretString {
    SecretString::from("")
}

/// Checks the credentials; on success cycles the session id and opens the console.
pub async fn submit(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    session: Session,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, AppError> {
    let Form(form) = form.map_err(|_| AppError::BadRequest {
        title: "This form could not be read",
        message: "Reload the login page and try again.".into(),
    })?;
    verify_csrf(&session, &form.csrf_token).await?;

    let now = state.clock.unix();
    let typed_email = shorten(form.email.trim(), 254);
    // An address that is not an email is just an email nobody has: same path, same answer.
    let email =
        operators::normalize_email(&typed_email).unwrap_or_else(|_| typed_email.to_lowercase());
    let ip = peer.ip().to_string();
    let subjects = [Subject::account(&email), Subject::client(&ip)];
    let detail = format!("email {email}, from {ip}");

    for subject in &subjects {
        if let Some(wait) = login_throttle::locked_for(&state.db, subject, now).await? {
            audit::record_now(
                &state.db,
                now,
                "anonymous",
                Action::LoginRefused,
                None,
                &detail,
            )
            .await?;
            return login_refused(&session, typed_email, wait).await;
        }
    }

    let operator = operators::find_by_email(&state.db, &email).await?;
    let verified = password::verify_async(
        form.password.clone(),
        operator.as_ref().map(|o| o.password_hash.clone()),
    )
    .await;
    let operator = match (verified, operator) {
        (Verified::Yes | Verified::YesRehash, Some(operator)) => operator,
        _ => {
            audit::record_now(
                &state.db,
                now,
                "anonymous",
                Action::LoginFailed,
                None,
                &detail,
            )
            .await?;
            for subject in &subjects {
                if let Some(lock) = login_throttle::record_failure(&state.db, subject, now).await? {
                    let what = format!("{detail}; locked for {} s", lock);
                    audit::record_now(&state.db, now, "system", Action::Lockout, None, &what)
                        .await?;
                }
            }
            tracing::info!(from = %ip, "console login failed");
            return login_failed(&session, typed_email).await;
        }
    };

    // A hash made with weaker parameters is replaced now that we hold the password.
    let new_hash = match verified {
        Verified::YesRehash => Some(password::hash_async(form.password).await?),
        _ => None,
    };
    operators::record_login(&state.db, operator.id, new_hash.as_deref(), now).await?;
    login_throttle::clear(&state.db, &subjects[0]).await?;
    // A new id, so a session id planted before login is worth nothing after it.
    session.cycle_id().await.map_err(anyhow::Error::from)?;
    auth::log_in(&session, operator.id, &operator.email, now).await?;
    audit::record_now(
        &state.db,
        now,
        &format!("operator:{}", operator.email),
        Action::Login,
        None,
        &format!("from {ip}"),
    )
    .await?;
    tracing::info!(operator = operator.id, "console login");
    Ok(Redirect::to("/console").into_response())
}

/// The generic failure: the same for an unknown email and a wrong password.
async fn login_failed(session: &Session, email: String) -> Result<Response, AppError> {
    let page = LoginPage {
        csrf_token: auth::csrf_token(session).await?,
        email,
        error: Some("The email or password is incorrect.".into()),
        notice: None,
    };
    Ok((StatusCode::UNAUTHORIZED, render_or_plain(&page)).into_response())
}

async fn login_refused(session: &Session, email: String, wait: i64) -> Result<Response, AppError> {
    let minutes = (wait + 59) / 60;
    let page = LoginPage {
        csrf_token: auth::csrf_token(session).await?,
        email,
        error: Some(format!(
            "Too many failed attempts. Logging in is blocked for {minutes} more minute{}.",
            if minutes == 1 { "" } else { "s" }
        )),
        notice: None,
    };
    let mut response = (StatusCode::TOO_MANY_REQUESTS, render_or_plain(&page)).into_response();
    if let Ok(value) = wait.to_string().parse() {
        response.headers_mut().insert("retry-after", value);
    }
    Ok(response)
}

/// The logout form's fields.
#[derive(Debug, Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf_token: String,
}

/// Ends the session on the server; the old cookie is worth nothing afterwards.
pub async fn logout(
    State(state): State<AppState>,
    operator: Operator,
    Form(form): Form<LogoutForm>,
) -> Result<Response, AppError> {
    verify_csrf(&operator.session, &form.csrf_token).await?;
    audit::record_now(
        &state.db,
        state.clock.unix(),
        &operator.actor(),
        Action::Logout,
        None,
        "",
    )
    .await?;
    operator
        .session
        .flush()
        .await
        .map_err(anyhow::Error::from)?;
    Ok(Redirect::to("/console/login").into_response())
}
