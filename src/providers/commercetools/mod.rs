//! commercetools: its clouds and regions ([`cloud`]), project connections with an API client
//! ([`connection`]), and requests that reach storelink through the Merchant Center API gateway
//! on behalf of a Merchant Center user ([`forward_to`]).

pub mod cloud;
pub mod connection;
pub mod forward_to;
