//! `/api/v1/endpoints`: what the console and the command line do with notification endpoints,
//! for the vendor's backend, with the same guarantees: URLs checked through the outbound guard,
//! a signing secret shown once (on create and on rotate, with `Cache-Control: no-store`), every
//! change audited with the key's name. Endpoints are the vendor's: a caller forwarded by a
//! platform's gateway gets `403`. Every refusal is a problem that changes nothing.

use axum::{
    Json,
    body::Body,
    extract::{Path, Query, State, rejection::QueryRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use secrecy::ExposeSecret as _;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{
    body::{read_json, read_limited},
    caller::ApiCaller,
    objects::{
        EndpointChange, EndpointCreated, EndpointList, EndpointObject, EndpointRequest,
        MessageList, MessageObject, RecoverRequest, Recovered, SecretObject,
    },
    params,
    problem::Problem,
    responses::{BadInput, Common, ForEndpoint, TakesBody, VendorOnly},
};
use crate::{
    db::{
        endpoints::{self, Endpoint, Subscription},
        outbox,
    },
    domain::{EndpointLimits, MessageStatus, parse_rfc3339, text::shorten},
    notify::endpoints::{self as notify_endpoints, EndpointError},
    state::AppState,
};

/// The largest body read.
const MAX_BODY: usize = 16 * 1024;
/// Messages per page unless asked otherwise, and at most.
const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 200;

/// Endpoints are the vendor's to manage.
fn vendor_only(caller: &ApiCaller) -> Result<(), Problem> {
    if caller.is_forwarded() {
        return Err(Problem::forbidden(
            "Merchant Center users cannot manage notification endpoints; the add-on's vendor can.",
        ));
    }
    Ok(())
}

/// The endpoint with this id, or a `404` problem.
async fn find(state: &AppState, id: &str) -> Result<Endpoint, Problem> {
    if id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(no_such_endpoint());
    }
    endpoints::find(&state.db, id)
        .await?
        .ok_or_else(no_such_endpoint)
}

fn no_such_endpoint() -> Problem {
    Problem::not_found("There is no endpoint with this id.")
}

/// A JSON body that must be there.
async fn required_json<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
) -> Result<T, Problem> {
    let body = read_limited(headers, body, MAX_BODY).await?;
    read_json(headers, &body)?
        .ok_or_else(|| Problem::bad_request("This endpoint needs a JSON body."))
}

/// `event_types` as given: absent, empty or `["*"]` is every type.
fn subscription(types: Option<&[String]>) -> Result<Subscription, Problem> {
    Subscription::parse(&types.unwrap_or_default().join(","))
        .map_err(|why| Problem::bad_parameter("event_types", why))
}

fn limits(rate_limit: Option<i64>, max_in_flight: i64) -> Result<EndpointLimits, Problem> {
    EndpointLimits::new(rate_limit, max_in_flight)
        .map_err(|(field, why)| Problem::bad_parameter(field, why))
}

/// A secret, or anything else that must not be kept by a cache.
fn not_stored(status: StatusCode, body: impl serde::Serialize) -> Response {
    let mut response = (status, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Every endpoint, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/endpoints",
    tag = "endpoints",
    operation_id = "list_endpoints",
    responses(
        (status = 200, description = "Every endpoint (never a secret)", body = EndpointList),
        VendorOnly,
        Common,
    ),
    security(("api_key" = []))
)]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<Json<EndpointList>, Problem> {
    vendor_only(&caller)?;
    let found = endpoints::list(&state.db).await?;
    Ok(Json(EndpointList {
        data: found.iter().map(EndpointObject::from).collect(),
    }))
}

/// Adds an endpoint: its URL is checked as every URL storelink calls is; the answer holds its
/// signing secret, shown this once.
#[utoipa::path(
    post,
    path = "/api/v1/endpoints",
    tag = "endpoints",
    operation_id = "create_endpoint",
    request_body(content = EndpointRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Added; `secret` is shown this once", body = EndpointCreated,
         headers(("Location" = String, description = "The endpoint's URL in this API"))),
        VendorOnly,
        (status = 409, description = "The URL is an endpoint already", body = Problem,
         content_type = "application/problem+json"),
        TakesBody,
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
    vendor_only(&caller)?;
    let request: EndpointRequest = required_json(&headers, body).await?;
    let subscription = subscription(request.event_types.as_deref())?;
    let limits = limits(
        request.rate_limit,
        request
            .max_in_flight
            .unwrap_or(i64::from(crate::domain::DEFAULT_MAX_IN_FLIGHT)),
    )?;
    let added = notify_endpoints::add(
        &state.notify(),
        &request.url,
        &subscription,
        limits,
        request.enabled.unwrap_or(true),
        &caller.actor(),
    )
    .await;
    let (endpoint, secret) = match added {
        Ok(added) => added,
        Err(EndpointError::Url(why)) => return Err(Problem::bad_parameter("url", why)),
        Err(EndpointError::Exists(url)) => {
            return Err(Problem::conflict(format!(
                "{} is an endpoint already.",
                shorten(&url, 200)
            )));
        }
        Err(EndpointError::Database(e)) => return Err(e.into()),
    };
    let location = format!("/api/v1/endpoints/{}", endpoint.id);
    let mut response = not_stored(
        StatusCode::CREATED,
        EndpointCreated {
            endpoint: EndpointObject::from(&endpoint),
            secret: secret.expose_secret().to_owned(),
        },
    );
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

/// One endpoint.
#[utoipa::path(
    get,
    path = "/api/v1/endpoints/{id}",
    tag = "endpoints",
    operation_id = "get_endpoint",
    params(("id" = String, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "The endpoint (never a secret)", body = EndpointObject),
        ForEndpoint,
        Common,
    ),
    security(("api_key" = []))
)]
pub(super) async fn get(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Json<EndpointObject>, Problem> {
    vendor_only(&caller)?;
    Ok(Json(EndpointObject::from(&find(&state, &id).await?)))
}

/// Changes what an endpoint receives, its limits, or whether it is enabled; fields left out
/// stay as they are (`rate_limit: null` removes the rate limit).
#[utoipa::path(
    patch,
    path = "/api/v1/endpoints/{id}",
    tag = "endpoints",
    operation_id = "update_endpoint",
    params(("id" = String, Path, description = "The endpoint's id")),
    request_body(content = EndpointChange, content_type = "application/json"),
    responses(
        (status = 200, description = "The endpoint as it is now", body = EndpointObject),
        ForEndpoint,
        TakesBody,
        BadInput,
        Common,
    ),
    security(("api_key" = []))
)]
pub(super) async fn update(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<EndpointObject>, Problem> {
    vendor_only(&caller)?;
    let endpoint = find(&state, &id).await?;
    let change: EndpointChange = required_json(&headers, body).await?;
    // Everything is checked before anything changes.
    let subscription = match change.event_types.as_deref() {
        Some(types) => subscription(Some(types))?,
        None => endpoint.subscription(),
    };
    let current = endpoint.limits();
    let limits = limits(
        match change.rate_limit {
            Some(rate) => rate,
            None => current.rate_limit().map(i64::from),
        },
        change
            .max_in_flight
            .unwrap_or(i64::from(current.max_in_flight())),
    )?;
    let actor = caller.actor();
    let now = state.clock.unix();
    if subscription != endpoint.subscription() || limits != current {
        endpoints::change(&state.db, &endpoint.id, &subscription, limits, &actor, now).await?;
    }
    if let Some(enabled) = change.enabled {
        endpoints::set_enabled(&state.db, &endpoint.id, enabled, &actor, now).await?;
        state.notifier.wake();
    }
    Ok(Json(EndpointObject::from(
        &find(&state, &endpoint.id).await?,
    )))
}

/// Removes an endpoint with its messages.
#[utoipa::path(
    delete,
    path = "/api/v1/endpoints/{id}",
    tag = "endpoints",
    operation_id = "delete_endpoint",
    params(("id" = String, Path, description = "The endpoint's id")),
    responses(
        (status = 204, description = "Removed"),
        ForEndpoint,
        Common,
    ),
    security(("api_key" = []))
)]
pub(super) async fn delete(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    vendor_only(&caller)?;
    let endpoint = find(&state, &id).await?;
    if !endpoints::remove(&state.db, &endpoint.id, &caller.actor(), state.clock.unix()).await? {
        return Err(no_such_endpoint());
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Makes a new signing secret, shown this once; the old one keeps signing beside it for 24
/// hours.
#[utoipa::path(
    post,
    path = "/api/v1/endpoints/{id}/rotate-secret",
    tag = "endpoints",
    operation_id = "rotate_endpoint_secret",
    params(("id" = String, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "The new secret, shown this once", body = SecretObject),
        ForEndpoint,
        Common,
    ),
    security(("api_key" = []))
)]
pub(super) async fn rotate_secret(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    vendor_only(&caller)?;
    let endpoint = find(&state, &id).await?;
    let secret = endpoints::rotate_secret(
        &state.db,
        &state.keyring,
        &endpoint.id,
        &caller.actor(),
        state.clock.unix(),
    )
    .await?
    .ok_or_else(no_such_endpoint)?;
    Ok(not_stored(
        StatusCode::OK,
        SecretObject {
            secret: secret.expose_secret().to_owned(),
        },
    ))
}

/// Sends again every message to this endpoint that failed (its schedule used up) and was
/// created at or after `since`: the same `webhook-id`, a fresh schedule, each message once.
#[utoipa::path(
    post,
    path = "/api/v1/endpoints/{id}/recover",
    tag = "endpoints",
    operation_id = "recover_endpoint",
    params(("id" = String, Path, description = "The endpoint's id")),
    request_body(content = RecoverRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "How many were queued again", body = Recovered),
        ForEndpoint,
        TakesBody,
        BadInput,
        Common,
    ),
    security(("api_key" = []))
)]
pub(super) async fn recover(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Recovered>), Problem> {
    vendor_only(&caller)?;
    let endpoint = find(&state, &id).await?;
    let request: RecoverRequest = required_json(&headers, body).await?;
    let since = parse_rfc3339(&request.since).ok_or_else(|| {
        Problem::bad_parameter(
            "since",
            "since must be an RFC 3339 time, like 2026-12-07T08:00:00Z.",
        )
    })?;
    let recovered =
        notify_endpoints::recover(&state.notify(), &endpoint, since, &caller.actor()).await?;
    state.notifier.wake();
    Ok((StatusCode::ACCEPTED, Json(Recovered { recovered })))
}

/// The query of the messages list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct MessagesQuery {
    /// Only messages that stand so: `pending`, `delivered` or `failed`.
    #[param(value_type = Option<MessageStatus>)]
    status: Option<String>,
    /// The previous page's `next_cursor`; omit it for the newest messages.
    cursor: Option<String>,
    /// Messages per page, 1 to 200 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    limit: Option<String>,
}

/// An endpoint's messages, newest first, each with its attempts (time, status code, duration).
#[utoipa::path(
    get,
    path = "/api/v1/endpoints/{id}/messages",
    tag = "endpoints",
    operation_id = "list_endpoint_messages",
    params(("id" = String, Path, description = "The endpoint's id"), MessagesQuery),
    responses(
        (status = 200, description = "A page of messages, and the cursor for the next",
         body = MessageList),
        ForEndpoint,
        BadInput,
        Common,
    ),
    security(("api_key" = []))
)]
pub(super) async fn messages(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    query: Result<Query<MessagesQuery>, QueryRejection>,
) -> Result<Json<MessageList>, Problem> {
    vendor_only(&caller)?;
    let Query(query) =
        query.map_err(|_| Problem::bad_request("The query string could not be read."))?;
    let endpoint = find(&state, &id).await?;
    let status = match query.status.as_deref() {
        None => None,
        Some(text) => Some(MessageStatus::parse(text.trim()).ok_or_else(|| {
            Problem::bad_parameter("status", "status must be pending, delivered or failed.")
        })?),
    };
    let cursor = match query.cursor.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) if is_message_id(text) => Some(text),
        Some(_) => {
            return Err(Problem::bad_parameter(
                "cursor",
                "cursor is not one this API gave out.",
            ));
        }
    };
    let limit = params::limit(query.limit.as_deref(), DEFAULT_LIMIT, MAX_LIMIT)?;
    let mut found = outbox::page(&state.db, &endpoint.id, status, cursor, limit + 1).await?;
    let more = found.len() as i64 > limit;
    found.truncate(usize::try_from(limit).unwrap_or(0));
    let next_cursor = more.then(|| found.last().map(|m| m.id.clone())).flatten();
    let ids: Vec<String> = found.iter().map(|m| m.id.clone()).collect();
    let attempts = outbox::attempts_of(&state.db, &ids).await?;
    Ok(Json(MessageList {
        data: found
            .into_iter()
            .map(|m| MessageObject::new(m, &attempts))
            .collect(),
        next_cursor,
    }))
}

/// A message id as this API gives them out (the cursor is one).
fn is_message_id(text: &str) -> bool {
    text.strip_prefix("msg_").is_some_and(|rest| {
        (1..=64).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

/// Sends a message again now, with a fresh schedule and the same `webhook-id`, whatever it
/// came to.
#[utoipa::path(
    post,
    path = "/api/v1/endpoints/{id}/messages/{msg}/resend",
    tag = "endpoints",
    operation_id = "resend_endpoint_message",
    params(
        ("id" = String, Path, description = "The endpoint's id"),
        ("msg" = String, Path, description = "The message's id (its `webhook-id`)"),
    ),
    responses(
        (status = 202, description = "Queued again"),
        VendorOnly,
        (status = 404, description = "No endpoint has this id, or it has no such message",
         body = Problem, content_type = "application/problem+json"),
        Common,
    ),
    security(("api_key" = []))
)]
pub(super) async fn resend(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path((id, msg)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    vendor_only(&caller)?;
    let endpoint = find(&state, &id).await?;
    if !is_message_id(&msg)
        || !notify_endpoints::send_again(&state.notify(), &endpoint, &msg, &caller.actor()).await?
    {
        return Err(Problem::not_found(
            "This endpoint has no message with this id.",
        ));
    }
    state.notifier.wake();
    Ok(StatusCode::ACCEPTED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_checked_before_any_query() {
        assert!(is_message_id("msg_018f2a3b4c5d6e7f8a9b0c1d2e3f"));
        for bad in ["", "msg_", "018f", "msg_a'b", "msg_a b", "MSG_abc"] {
            assert!(!is_message_id(bad), "{bad}");
        }
    }
}
