//! Who is logged in, and the CSRF token: the console's two gatekeepers.
//!
//! The operator's session records when they logged in and when they were last seen, measured on
//! the app's clock: 30 idle minutes or 12 hours after login end it. Every console form carries
//! a token bound to the session; a POST without the right one is refused before it does anything.

use axum::{
    extract::FromRequestParts,
    http::request::Parts,
    response::{IntoResponse, Redirect, Response},
};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::{
    app::AppState,
    crypto::{constant_time_eq, random_hex},
    db::operators,
    error::AppError,
};

/// Session key of the logged-in operator.
const OPERATOR_KEY: &str = "console.operator";
/// Session key of the CSRF token.
const CSRF_KEY: &str = "console.csrf";
/// Idle time after which a console session ends.
pub const IDLE_TIMEOUT_SECS: i64 = 30 * 60;
/// Activity is recorded in the session at most this often.
const LAST_SEEN_STEP_SECS: i64 = 60;
/// Time after login at which a console session ends, however busy.
pub const ABSOLUTE_TIMEOUT_SECS: i64 = 12 * 60 * 60;

/// What the session holds about its operator.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct OperatorSession {
    id: i64,
    email: String,
    login_at: i64,
    last_seen: i64,
}

/// The logged-in operator; extracting it refuses anonymous and timed-out requests with a
/// redirect to the login page.
#[derive(Debug, Clone)]
pub struct Operator {
    /// Operator id.
    pub id: i64,
    /// Email.
    pub email: String,
    /// The session's CSRF token, for the page's forms.
    pub csrf_token: String,
    /// The session.
    pub session: Session,
}

impl Operator {
    /// How the audit log names this operator.
    pub fn actor(&self) -> String {
        format!("operator:{}", self.email)
    }
}

/// Starts an operator's session (after the session id has been cycled).
pub async fn log_in(session: &Session, id: i64, email: &str, now: i64) -> anyhow::Result<()> {
    session.remove_value(CSRF_KEY).await?;
    session
        .insert(
            OPERATOR_KEY,
            OperatorSession {
                id,
                email: email.to_owned(),
                login_at: now,
                last_seen: now,
            },
        )
        .await?;
    Ok(())
}

/// The refusal for a request without a (valid) operator session.
pub struct LoginRequired {
    expired: bool,
}

impl IntoResponse for LoginRequired {
    fn into_response(self) -> Response {
        let to = if self.expired {
            "/console/login?expired=1"
        } else {
            "/console/login"
        };
        Redirect::to(to).into_response()
    }
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let internal = |e: anyhow::Error| AppError::Internal(e).into_response();
        let Some(mut who) = session
            .get::<OperatorSession>(OPERATOR_KEY)
            .await
            .map_err(|e| internal(e.into()))?
        else {
            return Err(LoginRequired { expired: false }.into_response());
        };
        let now = state.clock.unix();
        let timed_out =
            now - who.last_seen > IDLE_TIMEOUT_SECS || now - who.login_at > ABSOLUTE_TIMEOUT_SECS;
        // An operator removed with the CLI loses access at their next request.
        let still_exists = !timed_out
            && operators::find(&state.db, who.id)
                .await
                .map_err(|e| internal(e.into()))?
                .is_some();
        if !still_exists {
            session.flush().await.map_err(|e| internal(e.into()))?;
            return Err(LoginRequired { expired: timed_out }.into_response());
        }
        // Record activity at most once a minute: each record is a durable write, and the idle
        // timeout does not need finer steps.
        if now - who.last_seen >= LAST_SEEN_STEP_SECS {
            who.last_seen = now;
            session
                .insert(OPERATOR_KEY, &who)
                .await
                .map_err(|e| internal(e.into()))?;
        }
        let csrf_token = csrf_token(&session).await.map_err(internal)?;
        Ok(Self {
            id: who.id,
            email: who.email,
            csrf_token,
            session,
        })
    }
}

/// The session's CSRF token, created on first use.
pub async fn csrf_token(session: &Session) -> anyhow::Result<String> {
    if let Some(token) = session.get::<String>(CSRF_KEY).await? {
        return Ok(token);
    }
    let token = random_hex(32);
    session.insert(CSRF_KEY, &token).await?;
    Ok(token)
}

/// Refuses a form whose `csrf_token` is missing or not this session's.
pub async fn verify_csrf(session: &Session, submitted: &str) -> Result<(), AppError> {
    let expected: Option<String> = session.get(CSRF_KEY).await.map_err(anyhow::Error::from)?;
    match expected {
        Some(expected)
            if !submitted.is_empty()
                && constant_time_eq(expected.as_bytes(), submitted.as_bytes()) =>
        {
            Ok(())
        }
        _ => Err(AppError::Forbidden {
            title: "This form has expired",
            message: "The form was missing its security token or it did not match your session. \
                      Reload the page and try again."
                .into(),
        }),
    }
}
