//! The shared machinery below the platforms: the HTTP client and reading answers safely
//! ([`http`]), the guarded client for URLs built from data ([`outbound`]), token endpoints
//! ([`token`]), the renewal lifecycle of expiring tokens ([`lifecycle`]), API call failures
//! ([`api_call`]), rate budgets ([`budget`]), bearer-token calls ([`bearer`]), adding connections with credentials
//! ([`connect`], [`forms`]), endpoint defaults ([`endpoints`]), the proxy's path and header
//! rules ([`proxy`]) and the narrow context calls take ([`context`]). Nothing here names a
//! platform.

pub mod api_call;
pub mod bearer;
pub mod budget;
pub mod connect;
pub mod context;
pub mod endpoints;
pub mod forms;
pub mod http;
pub mod jwt;
pub mod lifecycle;
pub mod outbound;
pub mod proxy;
pub mod single_flight;
pub mod token;
pub mod webhook_keys;
