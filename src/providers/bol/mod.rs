//! bol.com Retailer API: the intermediary code flow, the client-credentials flow, the token
//! lifecycle and the Retailer API.
//!
//! See PROVIDERS.md: every token request is a form POST with `Authorization: Basic` and
//! `Accept: application/json`, and nothing secret ever goes into a URL query (bol.com refuses
//! such requests). Access tokens are JWTs; a code-flow install is keyed by the account claim
//! (`BOL_ACCOUNT_CLAIM`, default `sub`). Tokens expire within minutes: [`lifecycle`] keeps them
//! fresh, and every user of a bol.com token goes through it.

pub mod config;
pub mod jwt;
pub mod lifecycle;
pub mod oauth;
pub mod own;
pub mod retailer;

pub use config::{
    API_MEDIA_TYPE, API_URL, AUTHORIZE_URL, BolClient, BolConfig, CALLBACK_PATH, DEFAULT_SCOPE,
    SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, TOKEN_URL,
};
pub use oauth::{BolToken, Grant, request_token};
