//! Connections added with credentials (by an operator in the console, or by the vendor's backend
//! through `POST /api/v1/connections`) rather than authorized by a merchant: a bol.com retailer's
//! own client, a Maropost API key, an OrderCloud marketplace, a commercetools project.
//!
//! Both doors take the same request ([`crate::platforms::ConnectionRequest`], one body per
//! platform) and get the same answer: every field
//! is checked before anything is sent ([`FieldError`] names the field), then the platform is
//! asked once (a token, or one API call for a key), and only what it accepted is stored, secrets
//! sealed. A refusal stores nothing ([`ConnectError::Platform`]).

use secrecy::{ExposeSecret as _, SecretString};

use super::token::TokenError;
use crate::domain::{Platform, text::has_hidden_characters};

/// The longest name a connection may be given.
pub const MAX_NAME_CHARS: usize = 100;

/// A field that is wrong: which, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field's name, as in the request (and the form).
    pub field: &'static str,
    /// What is wrong and how to fix it, in a sentence.
    pub message: String,
}

impl FieldError {
    /// `field` is wrong: `message` says how.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// Why a connection was not added. Nothing was stored in any case.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// A field is wrong; nothing was sent to the platform.
    #[error("{}", .0.message)]
    Field(FieldError),
    /// The platform refused the credentials, or could not be asked.
    #[error("{message}")]
    Platform {
        /// What happened, in plain words, with the next step.
        message: String,
        /// The platform's own answer, for support (never a secret).
        detail: String,
        /// The fields the refusal may be about (both of a pair the platform refused together).
        fields: &'static [&'static str],
        /// Whether the platform did not answer in time (a `504` rather than a `502`).
        timeout: bool,
    },
    /// The request could not be read as this platform's (a missing or mistyped field): the
    /// reader's words.
    #[error("{0}")]
    Unreadable(String),
    /// A failure of ours (the database); logged in full where it happened.
    #[error("storelink could not store the connection")]
    Internal(#[from] anyhow::Error),
}

impl From<FieldError> for ConnectError {
    fn from(e: FieldError) -> Self {
        Self::Field(e)
    }
}

impl ConnectError {
    /// A token endpoint's refusal or failure, told in plain words: `refused` says what to check
    /// when the platform refused the credentials (`fields`); other failures say to try again.
    pub fn from_token(
        platform: Platform,
        e: &TokenError,
        credentials_refused: bool,
        refused: &str,
        fields: &'static [&'static str],
    ) -> Self {
        let name = platform.display_name();
        let (message, fields) = if credentials_refused {
            (format!("{refused} Nothing was stored."), fields)
        } else if matches!(e, TokenError::Timeout | TokenError::Unreachable) {
            (
                format!(
                    "{name} could not be reached just now. Nothing was stored; try again in a minute."
                ),
                &[][..],
            )
        } else {
            (
                format!(
                    "{name} did not give a token for these credentials. Nothing was stored; its answer says why."
                ),
                &[][..],
            )
        };
        Self::Platform {
            message,
            detail: format!("{} token endpoint {e}.", platform.possessive()),
            fields,
            timeout: e.is_timeout(),
        }
    }
}

/// A connection's name as given: trimmed; empty means "make one up" (`None`).
pub fn check_name(name: Option<&str>) -> Result<Option<String>, FieldError> {
    let name = name.map(str::trim).unwrap_or_default();
    if name.is_empty() {
        return Ok(None);
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(FieldError::new(
            "name",
            format!("Give the connection a name of at most {MAX_NAME_CHARS} characters."),
        ));
    }
    if has_hidden_characters(name) {
        return Err(FieldError::new(
            "name",
            "A name cannot contain line breaks, tabs or invisible formatting characters (such \
             as right-to-left overrides or zero-width spaces)."
                .to_owned(),
        ));
    }
    Ok(Some(name.to_owned()))
}

/// A required identifier (client id, user name): trimmed, printable, no spaces, at most `max`
/// bytes; `what` completes "Enter ...".
pub fn check_identifier<'a>(
    field: &'static str,
    value: Option<&'a str>,
    max: usize,
    what: &str,
) -> Result<&'a str, FieldError> {
    let value = value.map(str::trim).unwrap_or_default();
    if value.is_empty() || value.len() > max || !value.chars().all(|c| c.is_ascii_graphic()) {
        return Err(FieldError::new(
            field,
            format!("Enter {what} (letters, digits and symbols, no spaces)."),
        ));
    }
    Ok(value)
}

/// A required secret: trimmed, printable, at most `max` bytes; `what` completes "Enter ...".
pub fn check_secret(
    field: &'static str,
    value: Option<&SecretString>,
    max: usize,
    what: &str,
) -> Result<SecretString, FieldError> {
    let value = value.map(|v| v.expose_secret().trim()).unwrap_or_default();
    if value.is_empty() || value.len() > max || value.chars().any(char::is_control) {
        return Err(FieldError::new(field, format!("Enter {what}.")));
    }
    Ok(SecretString::from(value))
}

/// An optional secret: absent or blank is `None`, anything else as [`check_secret`].
pub fn check_optional_secret(
    field: &'static str,
    value: Option<&SecretString>,
    max: usize,
    what: &str,
) -> Result<Option<SecretString>, FieldError> {
    match value {
        Some(v) if !v.expose_secret().trim().is_empty() => {
            check_secret(field, Some(v), max, what).map(Some)
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            check_name(Some("  Shop ")).unwrap().as_deref(),
            Some("Shop")
        );
        assert_eq!(check_name(Some("   ")).unwrap(), None);
        assert_eq!(check_name(None).unwrap(), None);
        assert!(check_name(Some(&"x".repeat(101))).is_err());
        assert!(check_name(Some("a\u{7}b")).is_err());
    }

    #[test]
    fn identifiers_and_secrets_are_checked() {
        assert_eq!(
            check_identifier("client_id", Some(" abc "), 10, "x"),
            Ok("abc")
        );
        assert!(check_identifier("client_id", Some("a b"), 10, "x").is_err());
        assert!(check_identifier("client_id", Some(""), 10, "x").is_err());
        assert!(check_identifier("client_id", None, 10, "x").is_err());
        assert!(check_identifier("client_id", Some("abcdefghijk"), 10, "x").is_err());
        let ok = SecretString::from(" s3cret ");
        assert_eq!(
            check_secret("client_secret", Some(&ok), 10, "x")
                .unwrap()
                .expose_secret(),
            "s3cret"
        );
        assert!(check_secret("client_secret", Some(&SecretString::from("")), 10, "x").is_err());
        assert!(check_secret("client_secret", None, 10, "x").is_err());
        assert!(
            check_optional_secret("client_secret", Some(&SecretString::from(" ")), 10, "x")
                .unwrap()
                .is_none()
        );
    }
}
