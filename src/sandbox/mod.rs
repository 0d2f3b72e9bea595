//! The built-in sandbox providers: working stand-ins for the platforms' authorize pages, token
//! endpoints and a few API calls, served only in sandbox mode. They let a new user click through
//! a whole install on a fresh machine and let tests drive real redirects. They check requests as
//! strictly as a real provider would, so a flow that works here is a flow that checks its inputs.
//!
//! They are mounted with their own state, as the platforms they stand in for: nothing in here
//! reaches into storelink's application state.

pub mod bol;
pub mod codes;
pub mod commercetools;
pub mod maropost;
pub mod ordercloud;
pub mod pages;
pub mod receiver;

use std::sync::Arc;

use axum::Router;

use crate::{
    clock::Clock,
    crypto::Keyring,
    providers::{bol::BolConfig, maropost::MaropostConfig},
};

/// The stand-ins: one per platform.
pub struct Sandbox {
    /// The Maropost stand-in, when Maropost is enabled.
    pub maropost: Option<maropost::SandboxMaropost>,
    /// The bol.com stand-in.
    pub bol: bol::SandboxBol,
    /// The OrderCloud stand-in.
    pub ordercloud: ordercloud::SandboxOrderCloud,
    /// The commercetools project stand-in (auth and API hosts).
    pub commercetools: commercetools::project::SandboxProject,
    /// The stand-in for the vendor's backend, receiving notifications (when added).
    pub receiver: Option<receiver::SandboxReceiver>,
    /// The commercetools Merchant Center API gateway stand-in (when added).
    pub merchant_center: Option<commercetools::SandboxMerchantCenter>,
}

impl Sandbox {
    /// Stand-ins that expect the credentials and redirect URIs storelink is configured with,
    /// on the application's clock.
    pub fn new(
        keyring: &Keyring,
        clock: Arc<dyn Clock>,
        maropost: Option<&MaropostConfig>,
        bol: &BolConfig,
    ) -> Self {
        Self {
            maropost: maropost
                .map(|config| maropost::SandboxMaropost::new(keyring, clock.clone(), config)),
            bol: bol::SandboxBol::new(keyring, clock.clone(), bol),
            ordercloud: ordercloud::SandboxOrderCloud::new(keyring, clock.clone()),
            commercetools: commercetools::project::SandboxProject::new(keyring, clock),
            receiver: None,
            merchant_center: None,
        }
    }
}

/// The stand-ins' routes, each with its own state.
pub fn router<S: Clone + Send + Sync + 'static>(sandbox: Sandbox) -> Router<S> {
    let mut router = Router::new()
        .merge(bol::router(Arc::new(sandbox.bol)))
        .merge(ordercloud::router(Arc::new(sandbox.ordercloud)))
        .merge(commercetools::project::router(Arc::new(
            sandbox.commercetools,
        )));
    if let Some(maropost) = sandbox.maropost {
        router = router.merge(maropost::router(Arc::new(maropost)));
    }
    if let Some(receiver) = sandbox.receiver {
        router = router.merge(receiver::router(Arc::new(receiver)));
    }
    if let Some(gateway) = sandbox.merchant_center {
        router = router.merge(commercetools::router(Arc::new(gateway)));
    }
    router
}
