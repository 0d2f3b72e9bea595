//! How deliveries to one endpoint go, from its console page: its limits (messages a second,
//! most in flight) and "Send again what failed" since a time, after an outage of the vendor's
//! backend. Both are CSRF-protected and audited, and answer with a flash on the endpoint's page.

use axum::{
    Form,
    extract::{Path, State},
    response::Response,
};
use serde::Deserialize;

use super::{
    auth::{Operator, verify_csrf},
    endpoints::{back_to, find, limits},
    shared::{FlashKind, flash},
};
use crate::{db::endpoints, domain::parse_rfc3339, error::AppError, notify, state::AppState};

/// The limits form.
#[derive(Debug, Deserialize)]
pub(crate) struct LimitsForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    rate_limit: String,
    #[serde(default)]
    max_in_flight: String,
}

/// `POST /console/endpoints/{id}/limits`.
pub(crate) async fn set_limits(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
    Form(form): Form<LimitsForm>,
) -> Result<Response, AppError> {
    verify_csrf(&operator.session, &form.csrf_token).await?;
    let endpoint = find(&state, &id).await?;
    match limits(&form.rate_limit, &form.max_in_flight) {
        Ok(limits) => {
            endpoints::change(
                &state.db,
                &endpoint.id,
                &endpoint.subscription(),
                limits,
                &operator.actor(),
                state.clock.unix(),
            )
            .await?;
            let saved = format!("Limits saved: {}.", limits.describe());
            flash(&operator, FlashKind::Success, &saved).await?;
        }
        Err(why) => flash(&operator, FlashKind::Failure, &why).await?,
    }
    Ok(back_to(&endpoint))
}

/// The recover form.
#[derive(Debug, Deserialize)]
pub(crate) struct RecoverForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    since: String,
}

/// A time as a `datetime-local` field sends it (`2026-12-07T08:00` or with seconds), read as
/// UTC; or RFC 3339.
fn since(text: &str) -> Option<i64> {
    let text = text.trim();
    parse_rfc3339(text)
        .or_else(|| parse_rfc3339(&format!("{text}Z")))
        .or_else(|| parse_rfc3339(&format!("{text}:00Z")))
}

/// `POST /console/endpoints/{id}/recover`.
pub(crate) async fn recover(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
    Form(form): Form<RecoverForm>,
) -> Result<Response, AppError> {
    verify_csrf(&operator.session, &form.csrf_token).await?;
    let endpoint = find(&state, &id).await?;
    let Some(since) = since(&form.since) else {
        flash(
            &operator,
            FlashKind::Failure,
            "Give the time the outage began, like 2026-12-07 08:00.",
        )
        .await?;
        return Ok(back_to(&endpoint));
    };
    let recovered =
        notify::endpoints::recover(&state.notify(), &endpoint, since, &operator.actor()).await?;
    state.notifier.wake();
    let message = match recovered {
        0 => "No message failed since then.".to_owned(),
        n => format!("{n} failed message(s) queued again, with their webhook-id."),
    };
    flash(&operator, FlashKind::Success, &message).await?;
    Ok(back_to(&endpoint))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EndpointLimits;

    #[test]
    fn typed_limits_and_times_are_read() {
        assert_eq!(limits("", "").unwrap(), EndpointLimits::default());
        assert_eq!(limits("5", "2").unwrap().rate_limit(), Some(5));
        assert!(limits("0", "2").is_err());
        assert!(limits("five", "2").is_err());
        assert!(limits("", "0").is_err());
        assert_eq!(since("1970-01-01T00:01"), Some(60));
        assert_eq!(since("1970-01-01T00:01:02"), Some(62));
        assert_eq!(since("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(since("yesterday"), None);
    }
}
