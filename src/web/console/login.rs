//! `GET`/`POST /console/login` and `POST /console/logout`.
//!
//! An unknown email and a wrong password get the same answer in the same time (a dummy hash is
//! verified for unknown emails). Failures are throttled per account and per client address; a
//! locked subject is refused with `429` before any password is checked.

use askama::Template;
use axum::{
    Form,
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use secrecy::SecretString;
use serde::Deserialize;
use tower_sessions::Session;

use super::auth::{self, Operator, verify_csrf};
use crate::{
    db::{
        audit::{self, Action},
        login_throttle::{self, Reservation, Subject},
        operators,
    },
    domain::text::shorten,
    error::{AppError, render_or_plain},
    password::{Busy, Verified},
    state::AppState,
    web::client::ClientIp,
};

#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage {
    csrf_token: String,
    email: String,
    error: Option<String>,
    notice: Option<&'static str>,
    /// The console page to return to after login (checked: a local console path), or empty.
    next: String,
}

/// `?expired=1` after a timeout, `?logged_out=1` after logging out, `?next=/console/...`: the
/// page that was asked for.
#[derive(Debug, Deserialize)]
pub(crate) struct LoginQuery {
    expired: Option<String>,
    logged_out: Option<String>,
    next: Option<String>,
}

/// The login form.
pub(crate) async fn page(
    session: Session,
    query: Result<Query<LoginQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, AppError> {
    let query = query.ok().map(|Query(q)| q);
    let notice = match &query {
        Some(q) if q.expired.is_some() => Some("Your session ended. Log in again to continue."),
        Some(q) if q.logged_out.is_some() => Some("You have been logged out."),
        _ => None,
    };
    Ok(render_or_plain(&LoginPage {
        csrf_token: auth::csrf_token(&session).await?,
        email: String::new(),
        error: None,
        notice,
        next: return_to(query.and_then(|q| q.next).as_deref()),
    }))
}

/// The page to return to after login, when `next` is one (see [`auth::local_console_path`]),
/// else empty.
fn return_to(next: Option<&str>) -> String {
    next.and_then(auth::local_console_path)
        .unwrap_or_default()
        .to_owned()
}

/// The login form's fields. The password never gets a `Debug`.
#[derive(Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default = "empty_secret")]
    password: SecretString,
    #[serde(default)]
    csrf_token: String,
    /// The page to return to; checked again here, as anyone can post anything.
    #[serde(default)]
    next: String,
}

fn empty_secret() -> SecretString {
    SecretString::from("")
}

/// Checks the credentials; on success cycles the session id and opens the console.
///
/// A failure is reserved on the account and on the client address *before* the password is
/// checked (see [`login_throttle::reserve`]), so parallel guesses cannot all slip through
/// before the count catches up; a success gives its reservations back. The check itself waits
/// for a free slot ([`crate::password::PasswordChecks`]), or is refused with `503`.
pub(crate) async fn submit(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
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
    let ip = client.to_string();
    let subjects = [Subject::account(&email), Subject::client(&ip)];
    // What the attempt said, as values: never part of the entry's text.
    let fields: [(&str, &str); 2] = [("email", &email), ("from", &ip)];

    let mut reserved: Vec<(&Subject, Option<i64>)> = Vec::with_capacity(subjects.len());
    for subject in &subjects {
        match login_throttle::reserve(&state.db, subject, now).await? {
            Reservation::Granted { lock_started } => reserved.push((subject, lock_started)),
            Reservation::Locked(wait) => {
                release_all(&state, &reserved).await?;
                audit::record_now(
                    &state.db,
                    now,
                    "anonymous",
                    Action::LoginRefused,
                    None,
                    "refused while locked",
                    &fields,
                )
                .await?;
                return login_refused(&session, typed_email, &form.next, wait).await;
            }
        }
    }

    let operator = operators::find_by_email(&state.db, &email).await?;
    let verified = match state
        .password_checks
        .verify(
            form.password.clone(),
            operator.as_ref().map(|o| o.password_hash.clone()),
        )
        .await
    {
        Ok(verified) => verified,
        Err(Busy) => {
            // Nothing was checked: nothing counts.
            release_all(&state, &reserved).await?;
            tracing::warn!(from = %ip, "console login refused: too many password checks at once");
            return Err(AppError::Busy {
                retry_after: state.password_checks.wait().as_secs().max(1),
            });
        }
    };
    let operator = match (verified, operator) {
        (Verified::Yes | Verified::YesRehash, Some(operator)) => operator,
        _ => {
            audit::record_now(
                &state.db,
                now,
                "anonymous",
                Action::LoginFailed,
                None,
                "wrong email or password",
                &fields,
            )
            .await?;
            for (subject, lock) in &reserved {
                if let Some(lock) = lock {
                    let what = format!("{} locked for {lock} s", subject.kind());
                    audit::record_now(
                        &state.db,
                        now,
                        "system",
                        Action::Lockout,
                        None,
                        &what,
                        &fields,
                    )
                    .await?;
                }
            }
            tracing::info!(from = %ip, "console login failed");
            return login_failed(&session, typed_email, &form.next).await;
        }
    };

    // A hash made with weaker parameters is replaced now that we hold the password (unless
    // the checks are all busy: then at a later login).
    let new_hash = match verified {
        Verified::YesRehash => match state.password_checks.hash(form.password).await {
            Ok(hash) => Some(hash?),
            Err(Busy) => None,
        },
        _ => None,
    };
    operators::record_login(&state.db, operator.id, new_hash.as_deref(), now).await?;
    // The account starts afresh; the client address gets its reservation back.
    login_throttle::clear(&state.db, &subjects[0]).await?;
    login_throttle::release(&state.db, &subjects[1]).await?;
    // A new id, so a session id planted before login is worth nothing after it.
    session.cycle_id().await.map_err(AppError::from)?;
    auth::log_in(&session, operator.id, &operator.email, now).await?;
    audit::record_now(
        &state.db,
        now,
        &format!("operator:{}", operator.email),
        Action::Login,
        None,
        "",
        &[("from", &ip)],
    )
    .await?;
    tracing::info!(operator = operator.id, "console login");
    let to = auth::local_console_path(&form.next).unwrap_or("/console");
    Ok(Redirect::to(to).into_response())
}

/// Gives back the failures reserved for an attempt whose password was never checked.
async fn release_all(state: &AppState, reserved: &[(&Subject, Option<i64>)]) -> sqlx::Result<()> {
    for (subject, _) in reserved {
        login_throttle::release(&state.db, subject).await?;
    }
    Ok(())
}

/// The generic failure: the same for an unknown email and a wrong password.
async fn login_failed(session: &Session, email: String, next: &str) -> Result<Response, AppError> {
    let page = LoginPage {
        csrf_token: auth::csrf_token(session).await?,
        email,
        error: Some("The email or password is incorrect.".into()),
        notice: None,
        next: return_to(Some(next)),
    };
    Ok((StatusCode::UNAUTHORIZED, render_or_plain(&page)).into_response())
}

async fn login_refused(
    session: &Session,
    email: String,
    next: &str,
    wait: i64,
) -> Result<Response, AppError> {
    let minutes = (wait + 59) / 60;
    let page = LoginPage {
        csrf_token: auth::csrf_token(session).await?,
        email,
        error: Some(format!(
            "Too many failed attempts. Logging in is blocked for {minutes} more minute{}.",
            if minutes == 1 { "" } else { "s" }
        )),
        notice: None,
        next: return_to(Some(next)),
    };
    let mut response = (StatusCode::TOO_MANY_REQUESTS, render_or_plain(&page)).into_response();
    if let Ok(value) = wait.to_string().parse() {
        response.headers_mut().insert("retry-after", value);
    }
    Ok(response)
}

/// The logout form's fields.
#[derive(Debug, Deserialize)]
pub(crate) struct LogoutForm {
    #[serde(default)]
    csrf_token: String,
}

/// Ends the session on the server; the old cookie is worth nothing afterwards.
pub(crate) async fn logout(
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
        &[],
    )
    .await?;
    operator.session.flush().await.map_err(AppError::from)?;
    Ok(Redirect::to("/console/login?logged_out=1").into_response())
}
