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
    crypto::{constant_time_eq, random_hex},
    db::operators,
    error::AppError,
    state::AppState,
};

/// Session key of the logged-in operator.
const OPERATOR_KEY: &str = "console.operator";
/// Session key of the CSRF token.
const CSRF_KEY: &str = "console.csrf";
/// Idle time after which a console session ends.
pub(crate) const IDLE_TIMEOUT_SECS: i64 = 30 * 60;
/// Activity is recorded in the session at most this often.
const LAST_SEEN_STEP_SECS: i64 = 60;
/// Time after login at which a console session ends, however busy.
pub(crate) const ABSOLUTE_TIMEOUT_SECS: i64 = 12 * 60 * 60;

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
pub(crate) struct Operator {
    /// Operator id.
    pub id: i64,
    /// Email.
    pub email: String,
    /// The session's CSRF token, for the page's forms.
    pub csrf_token: String,
    /// The session.
    pub session: Session,
    /// The path of the page asked for, for marking the current page in the navigation.
    pub path: String,
}

impl Operator {
    /// How the audit log names this operator.
    pub(crate) fn actor(&self) -> String {
        format!("operator:{}", self.email)
    }
}

/// Starts an operator's session (after the session id has been cycled).
pub(crate) async fn log_in(
    session: &Session,
    id: i64,
    email: &str,
    now: i64,
) -> anyhow::Result<()> {
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

/// The refusal for a request without a (valid) operator session: to the login page, which
/// returns the operator to the page they asked for (pages only: a form's POST cannot be
/// repeated by a redirect).
pub(crate) struct LoginRequired {
    expired: bool,
    next: Option<String>,
}

impl IntoResponse for LoginRequired {
    fn into_response(self) -> Response {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        if self.expired {
            query.append_pair("expired", "1");
        }
        // `/console` is where a login leads anyway.
        let next = self.next.as_deref().and_then(local_console_path);
        if let Some(next) = next.filter(|n| *n != "/console") {
            query.append_pair("next", next);
        }
        let query = query.finish();
        let to = if query.is_empty() {
            "/console/login".to_owned()
        } else {
            format!("/console/login?{query}")
        };
        Redirect::to(&to).into_response()
    }
}

/// `next` when it is a console page of this site to return to after login, else `None`: a
/// path (never `//host`, a scheme, a backslash, a dot segment, a space or a control character), under
/// `/console`, and not the login page itself. Anything else would make the login page an
/// open redirect.
pub(crate) fn local_console_path(next: &str) -> Option<&str> {
    let is_console =
        next == "/console" || next.starts_with("/console/") || next.starts_with("/console?");
    let plain = next.len() <= 2000 && next.bytes().all(|b| b.is_ascii_graphic() && b != b'\\');
    let login = next.starts_with("/console/login") || next.starts_with("/console/logout");
    // No dot segments, plain or encoded: `/console/../..//evil` must not climb out.
    let dots = next.contains("/.") || next.to_ascii_lowercase().contains("%2e");
    (is_console && plain && !login && !dots && !next.starts_with("//")).then_some(next)
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        // Only a page can be returned to; a form's POST is not repeated.
        let next = (parts.method == axum::http::Method::GET)
            .then(|| parts.uri.path_and_query().map(|pq| pq.as_str().to_owned()))
            .flatten();
        let Some(mut who) = session
            .get::<OperatorSession>(OPERATOR_KEY)
            .await
            .map_err(|e| AppError::from(e).into_response())?
        else {
            return Err(LoginRequired {
                expired: false,
                next,
            }
            .into_response());
        };
        let now = state.clock.unix();
        let timed_out =
            now - who.last_seen > IDLE_TIMEOUT_SECS || now - who.login_at > ABSOLUTE_TIMEOUT_SECS;
        // An operator removed with the CLI loses access at their next request.
        let still_exists = !timed_out
            && operators::find(&state.db, who.id)
                .await
                .map_err(|e| AppError::from(e).into_response())?
                .is_some();
        if !still_exists {
            session
                .flush()
                .await
                .map_err(|e| AppError::from(e).into_response())?;
            return Err(LoginRequired {
                expired: timed_out,
                next,
            }
            .into_response());
        }
        // Record activity at most once a minute: each record is a durable write, and the idle
        // timeout does not need finer steps.
        if now - who.last_seen >= LAST_SEEN_STEP_SECS {
            who.last_seen = now;
            session
                .insert(OPERATOR_KEY, &who)
                .await
                .map_err(|e| AppError::from(e).into_response())?;
        }
        let csrf_token = csrf_token(&session)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Self {
            id: who.id,
            email: who.email,
            csrf_token,
            session,
            path: parts.uri.path().to_owned(),
        })
    }
}

/// The operator's email and the CSRF token of a session that has logged in, read without
/// changing the session (no activity recorded, nothing ended): for drawing the console's
/// navigation around an answer a handler already gave. `None` for anyone else.
pub(crate) async fn peek(session: &Session) -> Option<(String, String)> {
    let who = session.get::<OperatorSession>(OPERATOR_KEY).await.ok()??;
    let csrf_token = session.get::<String>(CSRF_KEY).await.ok()??;
    Some((who.email, csrf_token))
}

/// The session's CSRF token, created on first use.
pub(crate) async fn csrf_token(session: &Session) -> Result<String, AppError> {
    if let Some(token) = session.get::<String>(CSRF_KEY).await? {
        return Ok(token);
    }
    let token = random_hex(32);
    session.insert(CSRF_KEY, &token).await?;
    Ok(token)
}

/// Refuses a form whose `csrf_token` is missing or not this session's.
pub(crate) async fn verify_csrf(session: &Session, submitted: &str) -> Result<(), AppError> {
    let expected: Option<String> = session.get(CSRF_KEY).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_console_pages_are_returned_to() {
        for ok in [
            "/console",
            "/console/audit",
            "/console/installs/ab12?x=1",
            "/console?status=active&q=koala",
        ] {
            assert_eq!(local_console_path(ok), Some(ok), "{ok}");
        }
        for refused in [
            "",
            "/",
            "//evil.example",
            "//evil.example/console",
            "https://evil.example/console",
            "http:/console",
            "/\\evil.example",
            "/console\\..\\evil",
            "\\\\evil.example",
            "/console/../..//evil",
            "/console/%2e%2e/%2E%2E//evil",
            "/consoleevil",
            "/console/login",
            "/console/login?next=/console",
            "/console/logout",
            "/console/ x",
            "/console/\nLocation: x",
            "javascript:alert(1)",
            "evil.example",
        ] {
            assert_eq!(local_console_path(refused), None, "{refused:?}");
        }
    }
}
