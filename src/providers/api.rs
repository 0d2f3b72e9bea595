//! What calls to the platforms' APIs share: reading an answer safely and naming a failure.

use std::time::Duration;

use serde_json::Value;

use super::shorten;
use crate::providers::bol::tokens::BolTokenError;

/// Largest API answer we read.
const MAX_API_RESPONSE: usize = 1024 * 1024;

/// Why an API call failed. The message reads on its own ("the API answered HTTP 401: ...") and
/// never holds a secret.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No answer in time.
    #[error("the API did not answer in time")]
    Timeout,
    /// Connection refused, DNS failure, TLS failure.
    #[error("the API could not be reached")]
    Unreachable,
    /// A non-success status, with the platform's own explanation when it gave one.
    #[error("the API answered HTTP {status}{}", detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Status {
        /// The HTTP status.
        status: u16,
        /// The platform's explanation (bol.com's problem `title`/`detail`), shortened.
        detail: Option<String>,
    },
    /// The platform kept answering 429 or asked us to wait longer than we do.
    #[error("the API is rate limiting us (retry after {retry_after} s)")]
    RateLimited {
        /// What `Retry-After` asked for, in seconds.
        retry_after: u64,
    },
    /// A success answer that is not JSON.
    #[error("the API answered with something that is not JSON")]
    NotJson,
    /// An answer past [`MAX_API_RESPONSE`].
    #[error("the API answered with more data than expected")]
    TooLarge,
    /// The platform answered, and refused (Maropost's `Ack: Error`, with its messages).
    #[error("the API refused the request: {0}")]
    Refused(String),
    /// Nothing to call the API with.
    #[error("no credentials are stored for this store: {0}")]
    NoCredentials(&'static str),
    /// A bol.com access token could not be had.
    #[error("no access token: {0}")]
    Token(#[from] BolTokenError),
}

impl ApiError {
    /// Names a transport failure.
    pub fn from_transport(err: &reqwest::Error) -> Self {
        if err.is_timeout() {
            Self::Timeout
        } else {
            Self::Unreachable
        }
    }
}

/// Reads at most [`MAX_API_RESPONSE`] bytes of an answer's body.
pub async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, ApiError> {
    if response
        .content_length()
        .is_some_and(|n| n > MAX_API_RESPONSE as u64)
    {
        return Err(ApiError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| ApiError::from_transport(&e))?
    {
        if body.len() + chunk.len() > MAX_API_RESPONSE {
            return Err(ApiError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The body as JSON.
pub fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|_| ApiError::NotJson)
}

/// The explanation in an error answer: an RFC 7807 problem's `title` and `detail` (bol.com), or
/// an OAuth-style `error`/`error_description`, shortened and stripped of control characters.
pub fn problem_detail(body: &[u8]) -> Option<String> {
    let json: Value = serde_json::from_slice(body).ok()?;
    let field = |name: &str| {
        json.get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| shorten(s, 200))
    };
    let title = field("title").or_else(|| field("error"));
    let detail = field("detail").or_else(|| field("error_description"));
    match (title, detail) {
        (Some(t), Some(d)) if t != d => Some(format!("{t} ({d})")),
        (Some(t), _) => Some(t),
        (None, d) => d,
    }
}

/// `Retry-After` in seconds (delta-seconds form; an HTTP date or garbage counts as absent).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_details_are_named() {
        assert_eq!(
            problem_detail(br#"{"type":"x","title":"Expired JWT","status":401}"#).as_deref(),
            Some("Expired JWT")
        );
        assert_eq!(
            problem_detail(br#"{"title":"Bad request","detail":"Bad order id\n"}"#).as_deref(),
            Some("Bad request (Bad order id)")
        );
        assert_eq!(
            problem_detail(br#"{"error":"invalid_token"}"#).as_deref(),
            Some("invalid_token")
        );
        assert_eq!(problem_detail(b"<html>"), None);
        assert_eq!(problem_detail(b"{}"), None);
    }

    #[test]
    fn retry_after_reads_seconds_only() {
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert("retry-after", "3".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), None);
    }
}
