//! Token endpoints, for every platform: sending a token request, reading its answer within a
//! limit, and naming what was wrong with it ([`TokenError`]).

use secrecy::{ExposeSecret as _, SecretString};

use super::{
    budget::{self, Budget, OWN_PATIENCE},
    context::Context,
    http::{Transport, read_limited},
};
use crate::domain::{ClientAuth, rate_budget::Patience, text::shorten};

/// Largest token answer we read; a real one is well under a kilobyte.
const MAX_TOKEN_RESPONSE: usize = 64 * 1024;

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
    /// Our rate budget of token requests had no room in time; nothing was sent.
    #[error("was not asked: {0}")]
    OverBudget(#[from] super::budget::OverBudget),
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
    /// A `token_type` other than `Bearer`: storelink would not know how to use the token.
    #[error("answered with a token of type {0:?}; storelink uses only Bearer tokens")]
    NotBearer(String),
    /// A code-flow answer without a refresh token although offline access was asked for: the
    /// connection would stop working when the access token expires.
    #[error(
        "answered without a refresh token although offline access was asked for{}, so the \
         connection would stop working within minutes",
        granted.as_deref().map(|g| format!(" (granted scope: {g})")).unwrap_or_default()
    )]
    NoRefreshToken {
        /// The scope the platform granted, as it named it.
        granted: Option<String>,
    },
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
}

/// Sends a token request and returns the status and the parsed JSON body, or names what was wrong
/// with the answer. An OAuth error body wins over the status, so the merchant sees the platform's
/// own reason.
pub async fn send_token_request(
    ctx: &Context<'_>,
    budget: &Budget,
    request: reqwest::RequestBuilder,
) -> Result<serde_json::Map<String, serde_json::Value>, TokenError> {
    let sent = budget::send(ctx.budgets, budget, Patience::Wait(OWN_PATIENCE), request).await?;
    let response = sent.map_err(|e| {
        tracing::warn!(error = %e, "token request failed");
        Transport::of(&e)
    })?;
    let status = response.status();
    let body = read_limited(response, MAX_TOKEN_RESPONSE).await?;
    let json = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(serde_json::Value::Object(map)) => Some(map),
        _ => None,
    };
    // OrderCloud answers in its own error form: its first error's code is the refusal.
    if let Some((error, description)) = json
        .as_ref()
        .and_then(|m| m.get("Errors"))
        .and_then(super::http::first_listed_error)
    {
        return Err(TokenError::Rejected { error, description });
    }
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
    let json = json.ok_or(TokenError::NotJson)?;
    check_token_type(&json)?;
    Ok(json)
}

/// A token answer's `token_type`, when it names one, must be `Bearer` (case-insensitive, RFC 6749
/// §5.1): storelink sends every token as a bearer token. (Maropost's answers name none.)
pub fn check_token_type(
    json: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), TokenError> {
    match json.get("token_type") {
        None | Some(serde_json::Value::Null) => Ok(()),
        Some(serde_json::Value::String(t)) if t.trim().eq_ignore_ascii_case("bearer") => Ok(()),
        Some(serde_json::Value::String(t)) => Err(TokenError::NotBearer(shorten(t, 40))),
        Some(_) => Err(TokenError::InvalidField("token_type")),
    }
}

/// Adds a client's credentials to a token request the way `auth` says: as Basic auth (raw, or
/// form-urlencoded first as RFC 6749 §2.3.1 asks), or as `client_id`/`client_secret` fields of
/// the form. Returns the request with the form attached.
pub fn with_client_auth<'a>(
    request: reqwest::RequestBuilder,
    mut form: Vec<(&'a str, &'a str)>,
    auth: ClientAuth,
    client_id: &'a str,
    client_secret: &'a SecretString,
) -> reqwest::RequestBuilder {
    let secret = client_secret.expose_secret();
    let request = match auth {
        ClientAuth::Raw => request.basic_auth(client_id, Some(secret)),
        ClientAuth::Rfc6749 => {
            let encode =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            request.basic_auth(encode(client_id), Some(encode(secret)))
        }
        ClientAuth::ClientSecretPost => {
            form.push(("client_id", client_id));
            form.push(("client_secret", secret));
            request
        }
    };
    request.form(&form)
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

impl From<Transport> for TokenError {
    fn from(failure: Transport) -> Self {
        match failure {
            Transport::Timeout => Self::Timeout,
            Transport::Unreachable => Self::Unreachable,
            Transport::TooLarge => Self::TooLarge,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn only_bearer_tokens_are_accepted() {
        let answer = |v: serde_json::Value| v.as_object().cloned().unwrap();
        for ok in [
            serde_json::json!({"access_token": "a"}),
            serde_json::json!({"token_type": "Bearer"}),
            serde_json::json!({"token_type": "bearer"}),
            serde_json::json!({"token_type": "BEARER"}),
        ] {
            assert!(check_token_type(&answer(ok)).is_ok());
        }
        let mac = check_token_type(&answer(serde_json::json!({"token_type": "mac"})));
        assert!(matches!(&mac, Err(TokenError::NotBearer(t)) if t == "mac"));
        assert!(check_token_type(&answer(serde_json::json!({"token_type": "DPoP"}))).is_err());
        assert!(check_token_type(&answer(serde_json::json!({"token_type": 1}))).is_err());
    }

    #[tokio::test]
    async fn client_authentication_forms() {
        let client = reqwest::Client::new();
        let secret = SecretString::from("s3cr+t/=%:x y");
        let build = |auth| {
            with_client_auth(
                client.post("http://127.0.0.1:9/token"),
                vec![("grant_type", "client_credentials")],
                auth,
                "client:id",
                &secret,
            )
            .build()
            .unwrap()
        };
        let basic = |request: &reqwest::Request| {
            use base64::Engine as _;
            let value = request.headers()["authorization"]
                .to_str()
                .unwrap()
                .to_owned();
            let encoded = value.strip_prefix("Basic ").unwrap();
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .unwrap(),
            )
            .unwrap()
        };
        let body = |request: &reqwest::Request| {
            String::from_utf8(request.body().unwrap().as_bytes().unwrap().to_vec()).unwrap()
        };

        let raw = build(ClientAuth::Raw);
        assert_eq!(basic(&raw), "client:id:s3cr+t/=%:x y");
        assert_eq!(body(&raw), "grant_type=client_credentials");

        let rfc = build(ClientAuth::Rfc6749);
        assert_eq!(basic(&rfc), "client%3Aid:s3cr%2Bt%2F%3D%25%3Ax+y");
        assert_eq!(body(&rfc), "grant_type=client_credentials");

        let post = build(ClientAuth::ClientSecretPost);
        assert!(post.headers().get("authorization").is_none());
        assert_eq!(
            body(&post),
            "grant_type=client_credentials&client_id=client%3Aid&client_secret=s3cr%2Bt%2F%3D%25%3Ax+y"
        );
    }

    #[test]
    fn transient_failures_are_retried() {
        assert!(TokenError::Status(502).is_transient());
        assert!(TokenError::Status(429).is_transient());
        assert!(TokenError::Timeout.is_transient());
        assert!(TokenError::Unreachable.is_transient());
        assert!(!TokenError::Status(400).is_transient());
        assert!(!TokenError::NotJson.is_transient());
    }
}
