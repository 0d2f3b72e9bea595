//! One module per platform: its settings, its token answers, its API calls and its connection
//! test. What every platform shares lives beside them: the HTTP client and reading answers
//! safely ([`http`]), the guarded client for URLs built from data ([`outbound`]), token endpoints ([`token`]), the token lifecycle of expiring tokens ([`lifecycle`]), API call failures ([`api_call`]), endpoint
//! defaults ([`endpoints`]) and the narrow context calls take ([`context`]).
//!
//! Adding a platform: a module here (and under `sandbox/`), a [`crate::domain::Platform`]
//! variant, and its arms in [`Platforms`].

pub mod api_call;
pub mod bearer;
pub mod bol;
pub mod commercetools;
pub mod connect;
pub mod context;
pub mod endpoints;
pub mod http;
pub mod lifecycle;
pub mod maropost;
pub mod ordercloud;
pub mod outbound;
mod platforms;
pub mod proxy;
pub mod token;

pub use platforms::{ConnectionRequest, Handoff, Platforms};
