//! `POST /webhooks/maropost/{install_id}`: Maropost's order notifications.
//!
//! Maropost treats anything but `200 OK` as undelivered and retries later, so the handler answers
//! `200` exactly when the event is committed, and reads like the checks it makes, in order:
//!
//! 1. body over [`MAX_BODY`] → `413`, decided from `Content-Length` or while reading (never
//!    reading more than the limit);
//! 2. unknown install → `404`; revoked install → `410`;
//! 3. `NETOAPI_KEY` missing or not the install's key (constant-time compare) → `401`;
//! 4. not a well-formed event → `400` naming the problem;
//! 5. stored (or already stored: a repeated EventID) → `200`; the database could not take it →
//!    `503`.
//!
//! Steps 2 to 5 are [`super::Intake::accept`]. Answers are short plain text: the
//! caller is a machine. Nothing is stored before step 5, and
//! neither the key nor the body is ever logged.

use std::sync::Arc;

use axum::{
    Router,
    body::Body,
    extract::{DefaultBodyLimit, Path, State, rejection::PathRejection},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};

use super::{Intake, KEY_HEADER, MAX_BODY, PATH, Refusal as IntakeRefusal};
use crate::{clock::Clock, crypto::Keyring, db::Db};

/// What the route needs: the intake, and what it checks events with.
pub struct Receiver {
    /// Checks and stores events, committing them in groups.
    pub intake: Intake,
    /// The database.
    pub db: Db,
    /// Opens webhook keys.
    pub keyring: Arc<Keyring>,
    /// The time.
    pub clock: Arc<dyn Clock>,
}

/// The webhook routes, with their own state. They carry no session and have their own body
/// limit.
pub fn router(receiver: Arc<Receiver>) -> Router {
    Router::new()
        .route(&format!("{PATH}/{{install_id}}"), post(maropost))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(receiver)
}

/// Why a notification was not accepted; each maps to one status.
#[derive(Debug)]
enum Refusal {
    TooLarge,
    UnreadableBody,
    /// Decided by the intake (install, key, document, storage).
    Intake(IntakeRefusal),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            Self::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is larger than {MAX_BODY} bytes"),
            ),
            Self::UnreadableBody => (
                StatusCode::BAD_REQUEST,
                "the body could not be read".to_owned(),
            ),
            Self::Intake(IntakeRefusal::UnknownInstall) => (
                StatusCode::NOT_FOUND,
                "no install has this webhook address".to_owned(),
            ),
            Self::Intake(IntakeRefusal::Revoked) => (
                StatusCode::GONE,
                "this install has been revoked; its notifications are no longer accepted"
                    .to_owned(),
            ),
            Self::Intake(IntakeRefusal::Unauthorized) => (
                StatusCode::UNAUTHORIZED,
                format!("missing or wrong {KEY_HEADER}"),
            ),
            Self::Intake(IntakeRefusal::Malformed(e)) => {
                (StatusCode::BAD_REQUEST, format!("malformed event: {e}"))
            }
            Self::Intake(IntakeRefusal::Unavailable) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "the event could not be stored; please retry later".to_owned(),
            ),
        };
        (
            status,
            [(header::CACHE_CONTROL, "no-store")],
            format!("{message}\n"),
        )
            .into_response()
    }
}

async fn maropost(
    State(state): State<Arc<Receiver>>,
    install_id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let answer = match receive(&state, install_id.ok().map(|p| p.0), &headers, body).await {
        Ok(()) => (
            StatusCode::OK,
            [(header::CACHE_CONTROL, "no-store")],
            "ok\n",
        )
            .into_response(),
        Err(refusal) => refusal.into_response(),
    };
    crate::measure::webhook_answered(answer.status().as_u16());
    answer
}

async fn receive(
    state: &Receiver,
    install_id: Option<String>,
    headers: &HeaderMap,
    body: Body,
) -> Result<(), Refusal> {
    let body = read_body(headers, body).await?;

    let install_id = install_id
        .filter(|id| plausible_install_id(id))
        .ok_or(Refusal::Intake(IntakeRefusal::UnknownInstall))?;
    let written = state
        .intake
        .accept(
            &state.db,
            &state.keyring,
            &install_id,
            single_header(headers, KEY_HEADER),
            &body,
            state.clock.unix(),
        )
        .await
        .map_err(Refusal::Intake)?;
    tracing::debug!(%install_id, ?written, "webhook event committed");
    Ok(())
}

/// The body, refused as too large from its declared length when it has one, and otherwise as
/// soon as more than [`MAX_BODY`] bytes have arrived.
async fn read_body(headers: &HeaderMap, body: Body) -> Result<axum::body::Bytes, Refusal> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY as u64) {
        return Err(Refusal::TooLarge);
    }
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(Refusal::TooLarge),
        Err(e) => {
            tracing::info!(error = %e, "webhook: the body could not be read");
            Err(Refusal::UnreadableBody)
        }
    }
}

/// Install ids are random hex; anything else cannot be one, and is not looked up.
fn plausible_install_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The value of a header sent exactly once.
fn single_header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h [u8]> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    values.next().is_none().then_some(value.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_ids_are_checked_before_any_lookup() {
        assert!(plausible_install_id("0123456789abcdef0123456789abcdef"));
        assert!(!plausible_install_id(""));
        assert!(!plausible_install_id("../etc"));
        assert!(!plausible_install_id(&"a".repeat(65)));
    }

    #[test]
    fn a_header_sent_twice_counts_as_missing() {
        let mut headers = HeaderMap::new();
        assert_eq!(single_header(&headers, KEY_HEADER), None);
        let name = axum::http::HeaderName::from_bytes(KEY_HEADER.as_bytes()).unwrap();
        headers.append(name.clone(), "a".parse().unwrap());
        assert_eq!(single_header(&headers, KEY_HEADER), Some(&b"a"[..]));
        headers.append(name, "b".parse().unwrap());
        assert_eq!(single_header(&headers, KEY_HEADER), None);
    }
}
