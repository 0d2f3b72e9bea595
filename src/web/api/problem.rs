//! The vendor API's errors: RFC 9457 problem details (`application/problem+json`) with `type`,
//! `title`, `status` and `detail`. A failure of ours is logged in full and answered without
//! detail; nothing secret is ever put into one.

use std::time::Duration;

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::platforms::kit::budget::OverBudget;

/// A problem, as the API answers it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:storelink:problem:not-found",
    "title": "Not found",
    "status": 404,
    "detail": "There is no install with this id."
}))]
pub(crate) struct Problem {
    /// What kind of problem this is: `urn:storelink:problem:<kind>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind.
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// What happened this time.
    pub detail: String,
    /// The query parameter or body field at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter: Option<&'static str>,
    /// Seconds to wait before trying again (429), also in `Retry-After`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// The rate budget that had no room (a proxied call over budget), in words. (Boxed: a
    /// problem travels in every handler's `Err`, so it is kept small.)
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub budget: Option<Box<str>>,
}

impl Problem {
    fn new(status: StatusCode, kind: &str, title: &'static str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("urn:storelink:problem:{kind}"),
            title,
            status: status.as_u16(),
            detail: detail.into(),
            parameter: None,
            retry_after: None,
            budget: None,
        }
    }

    /// `401`: no key, or one that is malformed, unknown or revoked; the answer is the same for
    /// each, so it tells a guesser nothing.
    pub(crate) fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized",
            "Send a valid API key as Authorization: Bearer <key>.",
        )
    }

    /// `401` for a request forwarded by a platform's gateway that could not be verified: the same
    /// kind as [`Problem::unauthorized`], saying what was wrong (a header, the token's algorithm,
    /// issuer, audience, expiry; never the token).
    pub(crate) fn unauthorized_forwarded(gateway: &str, why: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized",
            format!(
                "The {gateway} forward-to request could not be verified: {}.",
                crate::domain::text::shorten(why, 200)
            ),
        )
    }

    /// `403`: the caller is known but may not do this (a Merchant Center user revoking).
    pub(crate) fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
    }

    /// `400` naming the query parameter or field at fault.
    pub(crate) fn bad_parameter(parameter: &'static str, detail: impl Into<String>) -> Self {
        Self {
            parameter: Some(parameter),
            ..Self::new(
                StatusCode::BAD_REQUEST,
                "invalid-parameter",
                "Invalid parameter",
                detail,
            )
        }
    }

    /// `400` for a request that cannot be read at all.
    pub(crate) fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "Bad request",
            detail,
        )
    }

    /// `404`.
    pub(crate) fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    /// `409`: what was asked for is there already (an endpoint's URL).
    pub(crate) fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", "Conflict", detail)
    }

    /// `409`: the install needs to be authorized again before it serves credentials.
    pub(crate) fn needs_attention() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "needs-attention",
            "Needs re-authorization",
            "The platform no longer accepts this install's credentials; the merchant has to \
             authorize it again.",
        )
    }

    /// `410`: revoked installs serve no credentials.
    pub(crate) fn revoked() -> Self {
        Self::new(
            StatusCode::GONE,
            "revoked",
            "Revoked",
            "This install has been revoked and keeps no credentials.",
        )
    }

    /// `405`: the route exists, the method does not (the `Allow` header lists those that do).
    pub(crate) fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "Method not allowed",
            "This endpoint does not take this method; the Allow header lists those it takes.",
        )
    }

    /// `413`.
    pub(crate) fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            "Body too large",
            format!("The request body is larger than {limit} bytes."),
        )
    }

    /// `429` with how long to wait.
    pub(crate) fn rate_limited(wait: Duration, detail: impl Into<String>) -> Self {
        // Round up: a client waiting the whole seconds we say must find room.
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Self {
            retry_after: Some(seconds.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many requests",
                detail,
            )
        }
    }

    /// `429`: the install's rate budget for the platform has no room; nothing was sent. A
    /// caller that waits `retry_after` seconds is let through.
    pub(crate) fn over_budget(over: OverBudget) -> Self {
        Self {
            budget: Some(over.budget.clone().into_boxed_str()),
            retry_after: Some(over.retry_after),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many requests",
                format!(
                    "The {} is at its rate limit: nothing was sent to the platform. Retry after \
                     {} s, or send Prefer: wait=N to wait for a turn.",
                    over.budget, over.retry_after
                ),
            )
        }
    }

    /// `502`: the platform failed or refused.
    pub(crate) fn bad_gateway(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_GATEWAY,
            "platform-error",
            "Platform error",
            detail,
        )
    }

    /// `504`: the platform did not answer in time.
    pub(crate) fn gateway_timeout(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            "platform-timeout",
            "Platform timeout",
            detail,
        )
    }

    /// `503`: something storelink needs is not there (the database, a platform's settings).
    pub(crate) fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Unavailable",
            detail,
        )
    }

    /// `500`: a failure of ours; `cause` is logged, never answered.
    pub(crate) fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "API request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "The request could not be completed. It has been logged.",
        )
    }
}

impl From<sqlx::Error> for Problem {
    fn from(err: sqlx::Error) -> Self {
        if crate::error::is_unavailable(&err) {
            tracing::error!(error = %err, "API: the database is unavailable");
            return Self {
                retry_after: Some(5),
                ..Self::unavailable("storelink cannot reach its database; try again shortly.")
            };
        }
        Self::internal(format_args!("database: {err}"))
    }
}

impl From<anyhow::Error> for Problem {
    fn from(err: anyhow::Error) -> Self {
        Self::internal(format_args!("{err:#}"))
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"storelink\""),
            );
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
