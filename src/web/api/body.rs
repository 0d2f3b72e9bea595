//! Reading request bodies within a limit, and JSON bodies with errors that name the problem,
//! as problems rather than the framework's plain-text refusals.

use axum::{
    body::{Body, Bytes},
    http::{HeaderMap, header},
};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use serde::de::DeserializeOwned;

use super::problem::Problem;
use crate::domain::text::shorten;

/// The body, refused with `413` from its declared length when it has one, else as soon as more
/// than `limit` bytes have arrived.
pub(super) async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, Problem> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(Problem::too_large(limit));
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(Problem::too_large(limit)),
        Err(_) => Err(Problem::bad_request("The request body could not be read.")),
    }
}

/// An optional JSON body: nothing (or only JSON's white space: space, tab, line feed, carriage
/// return) is `None`; anything else must be JSON of `T`'s shape, or the `400` says where and
/// what is wrong. A form feed is not JSON's white space (RFC 8259): such a body is refused, not
/// taken for an empty one.
pub(super) fn read_json<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Option<T>, Problem> {
    if body
        .iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    {
        return Ok(None);
    }
    let json_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let essence = v.split(';').next().unwrap_or_default().trim();
            essence.eq_ignore_ascii_case("application/json")
                || essence.to_ascii_lowercase().ends_with("+json")
        });
    if !json_type {
        return Err(Problem::bad_request(
            "A request body must be JSON, sent with Content-Type: application/json.",
        ));
    }
    let invalid = |e: serde_json::Error| {
        Problem::bad_request(format!(
            "The body is not valid JSON for this endpoint: {}.",
            shorten(&e.to_string(), 200)
        ))
    };
    let value: serde_json::Value = serde_json::from_slice(body).map_err(invalid)?;
    // serde reads a struct from an array too; a body is an object (or `null`) or nothing.
    if !(value.is_object() || value.is_null()) {
        return Err(Problem::bad_request("The body must be a JSON object."));
    }
    serde_json::from_value(value).map(Some).map_err(invalid)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn json_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers
    }

    #[test]
    fn only_json_white_space_is_no_body() {
        for empty in ["", " ", "\t\r\n "] {
            let read = read_json::<serde_json::Value>(&json_headers(), &Bytes::from(empty));
            assert!(matches!(read, Ok(None)), "{empty:?}");
        }
        // A form feed (schemathesis sent one) is white space to Rust, not to JSON.
        for not_empty in ["\x0c", " \x0c\n", "\x0b"] {
            let read = read_json::<serde_json::Value>(&json_headers(), &Bytes::from(not_empty));
            assert!(read.is_err(), "{not_empty:?}");
        }
    }
}
