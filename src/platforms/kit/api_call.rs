//! What an API call to a platform can end in, for every platform: [`ApiError`], and
//! [`TokenUnavailable`] when no access token could be had to make it.

use serde_json::Value;

use super::http::{Transport, read_limited};

/// Largest API answer we read.
pub const MAX_API_RESPONSE: usize = 1024 * 1024;

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
    /// Our rate budget for the platform had no room within the caller's patience; nothing
    /// was sent.
    #[error("{0}")]
    OverBudget(#[from] super::budget::OverBudget),
    /// A success answer that is not JSON.
    #[error("the API answered with something that is not JSON")]
    NotJson,
    /// An answer past [`MAX_API_RESPONSE`].
    #[error("the API answered with more data than expected")]
    TooLarge,
    /// The platform answered, and refused (Maropost's `Ack: Error`, with its messages).
    #[error("the API refused the request: {0}")]
    Refused(String),
    /// The outbound guard refused the address (see [`super::outbound`]).
    #[error("the API's address was refused: {0}")]
    NotAllowed(#[from] super::outbound::Refusal),
    /// Nothing to call the API with.
    #[error("no credentials are stored for this store: {0}")]
    NoCredentials(&'static str),
    /// The platform is not set up on this storelink.
    #[error("{0}")]
    NotConfigured(&'static str),
    /// What the install holds cannot make a valid API address.
    #[error("the store's API address cannot be built: {0}")]
    BadAddress(&'static str),
    /// No access token could be had.
    #[error("no access token could be had: {0}")]
    Token(#[from] TokenUnavailable),
}

impl From<Transport> for ApiError {
    fn from(failure: Transport) -> Self {
        match failure {
            Transport::Timeout => Self::Timeout,
            Transport::Unreachable => Self::Unreachable,
            Transport::TooLarge => Self::TooLarge,
        }
    }
}

impl ApiError {
    /// What kind of failure this is for an install's health: the platform refusing the
    /// credentials (401/403, or an API's own refusal of them), the lifecycle having given up on
    /// them, or one that may pass.
    pub fn failure_kind(&self) -> FailureKind {
        match self {
            Self::Status {
                status: 401 | 403, ..
            } => FailureKind::Rejected,
            Self::Token(TokenUnavailable::NeedsReauthorization) => FailureKind::NeedsAttention,
            Self::OverBudget(_) => FailureKind::NotMade,
            _ => FailureKind::MayPass,
        }
    }

    /// Names a transport failure.
    pub fn from_transport(err: &reqwest::Error) -> Self {
        Transport::of(err).into()
    }
}

/// The API base URL a connection stored when it was added (OrderCloud's host, a commercetools
/// project's).
pub fn stored_api_base(install: &crate::db::installs::Install) -> Result<url::Url, ApiError> {
    install
        .api_url
        .as_deref()
        .and_then(|u| url::Url::parse(u).ok())
        .ok_or(ApiError::BadAddress(
            "the connection's API base URL is not known",
        ))
}

/// Reads at most [`MAX_API_RESPONSE`] bytes of an API answer's body.
pub async fn read_body(response: reqwest::Response) -> Result<Vec<u8>, ApiError> {
    Ok(read_limited(response, MAX_API_RESPONSE).await?)
}

/// The body as JSON.
pub fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|_| ApiError::NotJson)
}

/// Why no access token could be had for a connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenUnavailable {
    /// No connection of this platform with this id.
    #[error("there is no such connection")]
    NotFound,
    /// Revoked: no tokens are kept, none are obtained.
    #[error("the connection is revoked")]
    Revoked,
    /// The platform refused the refresh token or the credentials for good, or there is nothing
    /// to renew the token with (no refresh token was ever given).
    #[error("the connection has to be authorized again")]
    NeedsReauthorization,
    /// The token endpoint failed; trying again later may work. The message names the failure.
    #[error("{0}")]
    Refresh(String),
    /// A failure of ours (database, sealing); logged in full where it happened.
    #[error("storelink could not read or store the connection's tokens")]
    Internal,
}

impl TokenUnavailable {
    /// Logs a failure of ours in full and names it without detail.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "token lifecycle failed");
        Self::Internal
    }
}

impl From<sqlx::Error> for TokenUnavailable {
    fn from(err: sqlx::Error) -> Self {
        Self::internal(err)
    }
}

impl From<anyhow::Error> for TokenUnavailable {
    fn from(err: anyhow::Error) -> Self {
        Self::internal(format!("{err:#}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether some run of three words appears twice in `text`.
    fn repeats_itself(text: &str) -> bool {
        let words: Vec<String> = text
            .split(|c: char| !c.is_alphanumeric() && c != '.' && c != '_')
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        let runs: Vec<&[String]> = words.windows(3).collect();
        runs.iter()
            .enumerate()
            .any(|(i, run)| runs[i + 1..].contains(run))
    }

    #[test]
    fn messages_about_tokens_do_not_repeat_themselves() {
        let unavailable = [
            TokenUnavailable::NotFound,
            TokenUnavailable::Revoked,
            TokenUnavailable::NeedsReauthorization,
            TokenUnavailable::Refresh("the token endpoint did not answer in time".into()),
            TokenUnavailable::Refresh(
                "the token endpoint refused the request: invalid_grant (Refresh token is revoked)"
                    .into(),
            ),
            TokenUnavailable::Internal,
        ];
        for reason in unavailable {
            // As "Test connection" shows it: the platform named once, in front.
            let shown = format!("bol.com: {}", ApiError::Token(reason));
            assert!(!repeats_itself(&shown), "{shown}");
            assert_eq!(shown.matches("bol.com").count(), 1, "{shown}");
            assert!(!shown.contains("no longer accepts"), "{shown}");
        }
        assert!(repeats_itself("no access token: no access token"));
    }
}

/// Why a check failed: in words, and of what kind (what follows for the install's health).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckFailure {
    /// What kind of failure.
    pub kind: FailureKind,
    /// What happened, naming the platform (never a secret).
    pub message: String,
}

/// What kind of failure a check met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// One that may pass: no answer, the platform's 5xx or 429, a refused connection, or
    /// anything else that is not a refusal of the credentials.
    MayPass,
    /// The platform refused the current token or API key (401/403).
    Rejected,
    /// The token lifecycle found the credentials refused for good (and marked the install).
    NeedsAttention,
    /// Nothing was asked of the platform: its rate budget had no room in time. Says nothing
    /// about the credentials.
    NotMade,
}

impl CheckFailure {
    /// A failed API call to `platform` (its display name).
    pub fn api(platform: &str, e: &ApiError) -> Self {
        Self {
            kind: e.failure_kind(),
            message: format!("{platform}: {e}"),
        }
    }

    /// A failure of kind [`FailureKind::MayPass`] with `message`.
    pub fn other(message: impl Into<String>) -> Self {
        Self {
            kind: FailureKind::MayPass,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for CheckFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
