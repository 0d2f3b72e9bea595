//! One module per platform: its URLs, its token answers, its API calls. What they share (the HTTP
//! client, reading an answer safely, naming a failure) lives here.

pub mod api;
pub mod bol;
pub mod maropost;

use std::time::Duration;

/// Largest token answer we read; a real one is well under a kilobyte.
const MAX_TOKEN_RESPONSE: usize = 64 * 1024;

/// The HTTP client for talking to platforms. It never follows redirects (a token endpoint that
/// redirects is misconfigured or hostile, and following would resend the code elsewhere) and gives
/// up after `timeout`.
pub fn http_client(timeout: Duration) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("storelink/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

/// Why a token exchange failed. The message completes "The platform's token endpoint ...".
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// No answer in time.
    #[error("did not answer in time")]
    Timeout,
    /// Connection refused, DNS failure, TLS failure.
    #[error("could not be reached")]
    Unreachable,
    /// An OAuth error answer (`error`, `error_description`).
    #[error("refused the request: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Rejected {
        /// The `error` code.
        error: String,
        /// The `error_description`, shortened.
        description: Option<String>,
    },
    /// A non-success status with no OAuth error in the body.
    #[error("answered with HTTP status {0}")]
    Status(u16),
    /// A body that is not JSON.
    #[error("answered with something that is not JSON")]
    NotJson,
    /// JSON without an access token.
    #[error("answered without an access token")]
    MissingAccessToken,
    /// JSON without another required field.
    #[error("answered without {0}")]
    MissingField(&'static str),
    /// A field with a value we refuse.
    #[error("answered with an invalid {0}")]
    InvalidField(&'static str),
    /// More than [`MAX_TOKEN_RESPONSE`] bytes.
    #[error("answered with more data than a token answer can hold")]
    TooLarge,
    /// An access token that should be a JWT and is not.
    #[error("answered with an access token that is not a JWT")]
    NotAJwt,
    /// A JWT access token without the claim that names the account.
    #[error("answered with an access token without the {0:?} claim that names the account")]
    MissingClaim(String),
    /// A refreshed token names another account than the install's.
    #[error("answered with a token for another account")]
    OtherAccount,
}

impl TokenError {
    /// Whether the platform failed to answer in time (a `504` rather than a `502`).
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout)
    }

    /// Whether trying again later may succeed: no answer, or a server error or rate limit.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Timeout | Self::Unreachable => true,
            Self::Status(status) => *status >= 500 || *status == 429,
            Self::Rejected { error, .. } => {
                matches!(error.as_str(), "temporarily_unavailable" | "server_error")
            }
            _ => false,
        }
    }

    /// The OAuth `error` code, when the platform sent one.
    pub fn oauth_error(&self) -> Option<&str> {
        match self {
            Self::Rejected { error, .. } => Some(error),
            _ => None,
        }
    }

    fn from_transport(err: &reqwest::Error) -> Self {
        if err.is_timeout() {
            Self::Timeout
        } else {
            Self::Unreachable
        }
    }
}

/// Sends a token request and returns the status and the parsed JSON body, or names what was wrong
/// with the answer. An OAuth error body wins over the status, so the merchant sees the platform's
/// own reason.
pub async fn send_token_request(
    request: reqwest::RequestBuilder,
) -> Result<serde_json::Map<String, serde_json::Value>, TokenError> {
    let mut response = request.send().await.map_err(|e| {
        tracing::warn!(error = %e, "token request failed");
        TokenError::from_transport(&e)
    })?;
    let status = response.status();
    if response
        .content_length()
        .is_some_and(|n| n > MAX_TOKEN_RESPONSE as u64)
    {
        return Err(TokenError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| {
        tracing::warn!(error = %e, "reading the token answer failed");
        TokenError::from_transport(&e)
    })? {
        if body.len() + chunk.len() > MAX_TOKEN_RESPONSE {
            return Err(TokenError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    let json = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(serde_json::Value::Object(map)) => Some(map),
        _ => None,
    };
    if let Some(error) = json
        .as_ref()
        .and_then(|m| m.get("error"))
        .and_then(|e| e.as_str())
    {
        let description = json
            .as_ref()
            .and_then(|m| m.get("error_description"))
            .and_then(|d| d.as_str())
            .map(|d| shorten(d, 200));
        return Err(TokenError::Rejected {
            error: shorten(error, 64),
            description,
        });
    }
    if !status.is_success() {
        return Err(TokenError::Status(status.as_u16()));
    }
    json.ok_or(TokenError::NotJson)
}

/// At most `max` characters of `text`, without control characters.
pub fn shorten(text: &str, max: usize) -> String {
    text.chars().filter(|c| !c.is_control()).take(max).collect()
}

/// A string field, or a number given where a string was expected (ids often arrive as either).
pub fn string_field(
    map: &serde_json::Map<String, serde_json::Value>,
    name: &str,
) -> Option<String> {
    match map.get(name)? {
        serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorten_drops_control_characters() {
        assert_eq!(shorten("a\nb\u{7}c", 10), "abc");
        assert_eq!(shorten("abcdef", 3), "abc");
    }

    #[test]
    fn string_field_accepts_numbers() {
        let map = serde_json::json!({"a": "x", "b": 42, "c": "  ", "d": null});
        let map = map.as_object().unwrap();
        assert_eq!(string_field(map, "a").as_deref(), Some("x"));
        assert_eq!(string_field(map, "b").as_deref(), Some("42"));
        assert_eq!(string_field(map, "c"), None);
        assert_eq!(string_field(map, "d"), None);
        assert_eq!(string_field(map, "e"), None);
    }
}
