//! The bol.com stand-in's Retailer API: `GET /retailer/orders` and `GET
//! /retailer/retailers/current` (the retailer information of the token's own account: its id and
//! `displayName`, as bol.com answers) with a valid, unexpired bearer token, answering `429` with
//! `Retry-After` past the per-retailer rate limit.

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::{Value, json};

use super::state::{RETAILERS, SandboxBol};
use crate::platforms::{bol::API_MEDIA_TYPE, kit::jwt};

/// The Retailer API's endpoints.
pub(super) fn routes() -> Router<Arc<SandboxBol>> {
    Router::new()
        .route("/sandbox/bol/retailer/orders", get(orders))
        .route(
            "/sandbox/bol/retailer/retailers/current",
            get(current_retailer),
        )
}

/// An RFC 7807 problem, as the Retailer API answers errors.
fn problem(status: StatusCode, title: &str, detail: &str) -> Response {
    let mut response = (
        status,
        Json(json!({
            "type": "https://api.bol.com/problems",
            "title": title,
            "status": status.as_u16(),
            "detail": detail,
        })),
    )
        .into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.retailer.v10+json"),
    );
    response
}

/// The retailer a bearer token was issued to, or the title and detail of the `401` to answer.
fn authenticate(
    sandbox: &SandboxBol,
    headers: &HeaderMap,
    now: i64,
) -> Result<String, (&'static str, &'static str)> {
    let unauthorized = |title, detail| Err((title, detail));
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return unauthorized("Unauthorized", "A bearer token is required.");
    };
    let Ok(claims) = jwt::verify_hs256(sandbox.access_key.as_ref(), token.trim()) else {
        return unauthorized("Invalid JWT", "The token was not issued by this sandbox.");
    };
    if claims.expires_at().is_none_or(|exp| exp <= now) {
        return unauthorized("Expired JWT", "The token has expired.");
    }
    match claims.string("sub") {
        Some(retailer) => Ok(retailer),
        None => unauthorized("Invalid JWT", "The token names no retailer."),
    }
}

/// The retailer a request may be answered for, or the refusal to answer: the media type, the
/// bearer token and the rate limit, as bol.com checks them.
fn admitted(sandbox: &SandboxBol, headers: &HeaderMap) -> Result<String, Box<Response>> {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !accept.contains(API_MEDIA_TYPE) {
        return Err(Box::new(problem(
            StatusCode::NOT_ACCEPTABLE,
            "Not Acceptable",
            "Accept must be application/vnd.retailer.v10+json.",
        )));
    }
    let retailer = authenticate(sandbox, headers, sandbox.clock.unix())
        .map_err(|(title, detail)| Box::new(problem(StatusCode::UNAUTHORIZED, title, detail)))?;
    if !sandbox.within_rate_limit(&retailer) {
        let mut refusal = problem(
            StatusCode::TOO_MANY_REQUESTS,
            "Too Many Requests",
            "At most 5 requests a second; see Retry-After.",
        );
        let headers = refusal.headers_mut();
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        headers.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        return Err(Box::new(refusal));
    }
    Ok(retailer)
}

/// `body` as the Retailer API answers it.
fn answer(body: Value) -> Response {
    let mut response = Json(body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.retailer.v10+json"),
    );
    response
}

async fn orders(State(sandbox): State<Arc<SandboxBol>>, headers: HeaderMap) -> Response {
    match admitted(&sandbox, &headers) {
        Ok(retailer) => answer(json!({"orders": sample_orders(&retailer)})),
        Err(refusal) => *refusal,
    }
}

/// The token's own retailer: its id and the name the sandbox's consent page showed.
async fn current_retailer(State(sandbox): State<Arc<SandboxBol>>, headers: HeaderMap) -> Response {
    let retailer = match admitted(&sandbox, &headers) {
        Ok(retailer) => retailer,
        Err(refusal) => return *refusal,
    };
    match RETAILERS.iter().find(|(id, _)| *id == retailer) {
        Some((id, name)) => answer(json!({
            "retailerId": id,
            "displayName": name,
            "companyName": format!("{name} B.V."),
            "registrationDate": "2019-05-01",
            "topRetailer": false,
        })),
        None => problem(
            StatusCode::NOT_FOUND,
            "Not Found",
            "No retailer information for this account.",
        ),
    }
}

fn sample_orders(retailer: &str) -> Value {
    json!([
        {"orderId": format!("{retailer}-A4K8LP3"), "orderPlacedDateTime": "2024-01-03T10:11:12+01:00",
         "orderItems": [{"orderItemId": "6107434013", "ean": "8712626055143", "quantity": 1}]},
        {"orderId": format!("{retailer}-B7Q2XZ9"), "orderPlacedDateTime": "2024-01-03T11:20:05+01:00",
         "orderItems": [{"orderItemId": "6107434014", "ean": "8804269223123", "quantity": 2}]},
    ])
}
