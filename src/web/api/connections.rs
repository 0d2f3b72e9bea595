//! `POST /api/v1/connections`: the vendor's backend adds a connection with credentials, as an
//! operator does with the console's forms (the same request, the same checks, see
//! [`crate::platforms::kit::connect`]). `201` with the install object; a wrong field is a `400`
//! naming it; a platform's refusal a `502` naming it. Nothing is stored unless the platform
//! accepted the credentials.

use axum::{
    Json,
    body::Body,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};

use super::{
    body::{read_json, read_limited},
    caller::ApiCaller,
    objects::InstallObject,
    problem::Problem,
    responses::{BadInput, Common},
};
use crate::{
    db::installs,
    domain::Platform,
    platforms::kit::{connect::ConnectError, forms::Fields},
    state::AppState,
};

/// The largest body read: credentials and a few names.
const MAX_BODY: usize = 16 * 1024;

/// Adds a connection: `platform` says which kind, the other fields are that kind's.
#[utoipa::path(
    post,
    path = "/api/v1/connections",
    tag = "installs",
    request_body(content = inline(Object), content_type = "application/json",
                 description = "The connection's platform and credentials (the schema \
                                `ConnectionRequest`)"),
    responses(
        (status = 201, description = "Added (or renewed: the same account again): the install",
         body = InstallObject,
         headers(("Location" = String, description = "The install's URL in this API"))),
        (status = 403, description = "A Merchant Center caller: adding connections is the \
         vendor's", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large", body = Problem,
         content_type = "application/problem+json"),
        (status = 502, description = "The platform refused the credentials or failed; nothing \
         was stored", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "The platform did not answer in time; nothing was stored",
         body = Problem, content_type = "application/problem+json"),
        BadInput,
        Common,
    ),
    security(("api_key" = []))
)]
pub(super) async fn create(
    State(state): State<AppState>,
    caller: ApiCaller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    if caller.is_forwarded() {
        // Adding connections (and the secrets they hold) is the vendor's, as revoking is.
        return Err(Problem::forbidden(
            "Merchant Center users cannot add connections; the add-on's vendor can.",
        ));
    }
    let body = read_limited(&headers, body, MAX_BODY).await?;
    let mut fields: serde_json::Map<String, serde_json::Value> = read_json(&headers, &body)?
        .ok_or_else(|| {
            Problem::bad_request("Send the connection as a JSON object with its \"platform\".")
        })?;
    let platform = platform_of(&mut fields)?;
    let kind = state
        .platforms
        .get(platform)
        .connection()
        .ok_or_else(|| unreadable(&format!("{} takes no connections", platform.as_str())))?;
    let saved = kind
        .connect(&state.calls(), Fields::Json(fields), &caller.actor())
        .await
        .map_err(connect_problem)?;
    tracing::info!(install_id = %saved.id, platform = platform.as_str(), caller = %caller.actor(), reinstall = saved.reinstall, "connection added through the API");
    let install = installs::find(&state.db, &saved.id)
        .await?
        .ok_or_else(|| Problem::internal("a stored connection could not be read back"))?;
    let location = format!("/api/v1/installs/{}", install.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(super::installs::object(&state, &install).await?),
    )
        .into_response())
}

/// The body's `platform`, taken out of it: the other fields are that platform's.
fn platform_of(
    fields: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<Platform, Problem> {
    let expected = Platform::ALL
        .iter()
        .map(|p| format!("`{}`", p.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    match fields.remove("platform") {
        None => Err(unreadable("missing field `platform`")),
        Some(serde_json::Value::String(name)) => Platform::parse(&name).ok_or_else(|| {
            unreadable(&format!(
                "unknown variant `{}`, expected one of {expected}",
                crate::domain::text::shorten(&name, 40)
            ))
        }),
        Some(_) => Err(unreadable(&format!(
            "invalid type for `platform`, expected one of {expected}"
        ))),
    }
}

/// A body that is JSON but not a connection: the reader's words.
fn unreadable(why: &str) -> Problem {
    Problem::bad_request(format!(
        "The body is not valid JSON for this endpoint: {}.",
        crate::domain::text::shorten(why, 200)
    ))
}

/// The problem a refused connection is answered with.
fn connect_problem(error: ConnectError) -> Problem {
    match error {
        ConnectError::Field(e) => Problem::bad_parameter(e.field, e.message),
        ConnectError::Platform {
            message,
            detail,
            timeout: true,
            ..
        } => Problem::gateway_timeout(format!("{message} ({detail})")),
        ConnectError::Platform {
            message, detail, ..
        } => Problem::bad_gateway(format!("{message} ({detail})")),
        ConnectError::Unreadable(why) => unreadable(&why),
        ConnectError::Internal(e) => Problem::internal(format!("{e:#}")),
    }
}
