//! The answers every endpoint may give besides its own, for the OpenAPI document.

use utoipa::IntoResponses;

use super::problem::Problem;

/// What any endpoint that takes a key may answer.
#[derive(IntoResponses)]
#[allow(dead_code)] // Only its shape is used: the document's answers.
pub(super) enum Common {
    /// No key, or a malformed, unknown or revoked one (the answer is the same for each).
    #[response(
        status = 401,
        content_type = "application/problem+json",
        headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"storelink\"`"))
    )]
    Unauthorized(Problem),
    /// The key is past its rate limit.
    #[response(
        status = 429,
        content_type = "application/problem+json",
        headers(("Retry-After" = u64, description = "Seconds to wait"))
    )]
    RateLimited(Problem),
    /// The key could not be checked (the database did not answer).
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(Problem),
}

/// Answers about one install.
#[derive(IntoResponses)]
#[allow(dead_code)] // Only its shape is used: the document's answers.
pub(super) enum ForInstall {
    /// No install has this id.
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
}

/// Answers of endpoints that use an install's credentials.
#[derive(IntoResponses)]
#[allow(dead_code)] // Only its shape is used: the document's answers.
pub(super) enum UsesCredentials {
    /// The install needs to be authorized again by the merchant.
    #[response(status = 409, content_type = "application/problem+json")]
    NeedsAttention(Problem),
    /// The install is revoked.
    #[response(status = 410, content_type = "application/problem+json")]
    Revoked(Problem),
    /// The platform failed or refused (its token endpoint, or its API).
    #[response(status = 502, content_type = "application/problem+json")]
    PlatformError(Problem),
    /// The platform did not answer in time.
    #[response(status = 504, content_type = "application/problem+json")]
    PlatformTimeout(Problem),
}

/// A query or body that cannot be used.
#[derive(IntoResponses)]
#[allow(dead_code)] // Only its shape is used: the document's answers.
pub(super) enum BadInput {
    /// A parameter or the body is not valid; `parameter` names it when it is one.
    #[response(status = 400, content_type = "application/problem+json")]
    Invalid(Problem),
}

/// The proxy's own answers (any other status is the platform's).
#[derive(IntoResponses)]
#[allow(dead_code)] // Only its shape is used: the document's answers.
pub(super) enum ProxyRefusals {
    /// No install has this id.
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
    /// The install needs to be authorized again.
    #[response(status = 409, content_type = "application/problem+json")]
    NeedsAttention(Problem),
    /// The install is revoked.
    #[response(status = 410, content_type = "application/problem+json")]
    Revoked(Problem),
    /// The request body is too large.
    #[response(status = 413, content_type = "application/problem+json")]
    TooLarge(Problem),
    /// The platform could not be reached or refused, or its answer is too large.
    #[response(status = 502, content_type = "application/problem+json")]
    PlatformError(Problem),
    /// The platform did not answer in time.
    #[response(status = 504, content_type = "application/problem+json")]
    PlatformTimeout(Problem),
}

/// What the endpoints operations answer a caller that is not the vendor's backend.
#[derive(IntoResponses)]
#[allow(dead_code)] // Only its shape is used: the document's answers.
pub(super) enum VendorOnly {
    /// A Merchant Center caller
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
}

/// Answers about one notification endpoint, besides its own.
#[derive(IntoResponses)]
#[allow(dead_code)] // Only its shape is used: the document's answers.
pub(super) enum ForEndpoint {
    /// A Merchant Center caller
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
    /// No endpoint has this id
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
}

/// What an operation that reads a JSON body answers past the body limit.
#[derive(IntoResponses)]
#[allow(dead_code)] // Only its shape is used: the document's answers.
pub(super) enum TakesBody {
    /// The body is too large
    #[response(status = 413, content_type = "application/problem+json")]
    TooLarge(Problem),
}
