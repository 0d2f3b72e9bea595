//! What calls to platforms need from the application, handed down as borrowed parts (as
//! [`crate::flow::FlowContext`] is), never the whole application state.

use super::{api_call::CheckFailure, budget::Budgets, outbound::Outbound, single_flight::Tokens};
use crate::{clock::Clock, crypto::Keyring, db::Db};

/// The parts every platform's calls share: stored credentials, the time, the HTTP client.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// The database (credentials, token state).
    pub db: &'a Db,
    /// Opens and seals credentials.
    pub keyring: &'a Keyring,
    /// The time.
    pub clock: &'a dyn Clock,
    /// The client for calls to URLs an operator configured (token endpoints, `BOL_API_URL`);
    /// never follows redirects.
    pub http: &'a reqwest::Client,
    /// The guarded client for calls to URLs built from data (a store's API from its domain).
    pub outbound: &'a Outbound,
    /// The token lifecycle every platform whose tokens expire renews through.
    pub tokens: &'a Tokens,
    /// The rate budgets every call to a platform draws on.
    pub budgets: &'a Budgets,
}

/// How a connection test (a check) went: what passed, or why it failed (never a secret).
pub type TestOutcome = Result<String, CheckFailure>;
