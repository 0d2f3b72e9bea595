//! Talking HTTP to platforms: the client every call uses, reading an answer within a size limit,
//! and the parts of an answer every platform shares (`Retry-After`, problem details).

use std::time::Duration;

use serde_json::Value;

use crate::domain::text::shorten;

/// The HTTP client for talking to platforms. It never follows redirects (a token endpoint that
/// redirects is misconfigured or hostile, and following would resend the code elsewhere) and gives
/// up after `timeout`.
pub fn client(timeout: Duration) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("storelink/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

/// Why an answer could not be had or read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// No answer in time.
    Timeout,
    /// Connection refused, DNS failure, TLS failure, a connection cut while reading.
    Unreachable,
    /// More than the limit.
    TooLarge,
}

impl Transport {
    /// Names a reqwest failure.
    pub fn of(err: &reqwest::Error) -> Self {
        if err.is_timeout() {
            Self::Timeout
        } else {
            Self::Unreachable
        }
    }
}

/// Reads at most `max` bytes of an answer's body: refused from its declared length when it has
/// one, and otherwise as soon as more has arrived.
pub async fn read_limited(
    mut response: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, Transport> {
    if response.content_length().is_some_and(|n| n > max as u64) {
        return Err(Transport::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| {
        tracing::warn!(error = %e, "reading a platform's answer failed");
        Transport::of(&e)
    })? {
        if body.len() + chunk.len() > max {
            return Err(Transport::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The explanation in an error answer: an RFC 7807 problem's `title` and `detail` (bol.com), an
/// OAuth-style `error`/`error_description`, or the first of OrderCloud's
/// `{"Errors": [{"ErrorCode", "Message"}]}`, shortened and stripped of control characters.
pub fn problem_detail(body: &[u8]) -> Option<String> {
    let json: Value = serde_json::from_slice(body).ok()?;
    if let Some((code, message)) = json.get("Errors").and_then(first_listed_error) {
        return Some(match message {
            Some(message) if message != code => format!("{code} ({message})"),
            _ => code,
        });
    }
    let field = |name: &str| {
        json.get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| shorten(s, 200))
    };
    let title = field("title").or_else(|| field("error"));
    // commercetools says it in `message`.
    let detail = field("detail")
        .or_else(|| field("error_description"))
        .or_else(|| field("message"));
    match (title, detail) {
        (Some(t), Some(d)) if t != d => Some(format!("{t} ({d})")),
        (Some(t), _) => Some(t),
        (None, d) => d,
    }
}

/// The first error of an OrderCloud error answer's `Errors` (`[{"ErrorCode", "Message"}]`):
/// its code and message, shortened.
pub fn first_listed_error(errors: &Value) -> Option<(String, Option<String>)> {
    let first = errors.as_array()?.first()?;
    let text = |name: &str| {
        first
            .get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| shorten(s, 200))
    };
    Some((shorten(&text("ErrorCode")?, 64), text("Message")))
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
        assert_eq!(
            problem_detail(
                br#"{"Errors":[{"ErrorCode":"NotFound","Message":"Order not found: 1","Data":null}]}"#
            )
            .as_deref(),
            Some("NotFound (Order not found: 1)")
        );
        assert_eq!(problem_detail(br#"{"Errors":[]}"#), None);
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
