//! Issue 14: storelink attacked as an outsider would (from 127.0.0.1 only), one file per attack.
//! Each test fails against the code before the fix it is named after.

mod at_rest;
pub mod binary;
mod login_burst;
mod outbound;
mod proxies;
mod rate_limits;
mod round3;
mod slow_clients;
mod smaller;

use crate::helpers::*;

/// An app built with `configure` applied to its settings.
pub async fn app_with(
    configure: impl FnOnce(&mut storelink::config::Settings) + Send + 'static,
) -> TestApp {
    spawn_with(Options {
        configure: Some(Box::new(configure)),
        ..Options::default()
    })
    .await
}
