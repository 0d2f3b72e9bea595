//! The state every handler reaches, and the narrow contexts it hands to services: a flow gets
//! [`FlowContext`], a platform call [`Platforms`] or one platform's context, never the whole
//! [`App`].

use std::{ops::Deref, sync::Arc};

use url::Url;

use crate::{
    api_access::ApiAccess,
    client_addr::TrustedProxies,
    clock::Clock,
    crypto::Keyring,
    db::Db,
    flow::FlowContext,
    limits::InstallLimits,
    notify::{NotifyContext, worker::Notifier},
    password::PasswordChecks,
    providers::{
        Platforms,
        bol::{BolConfig, lifecycle::BolContext},
        commercetools::{connection::CommercetoolsConfig, forward_to::ForwardTo},
        context::Context,
        lifecycle::Tokens,
        maropost::{MaropostApi, MaropostConfig},
        ordercloud::OrderCloudConfig,
        outbound::Outbound,
    },
    webhooks::Intake,
};

/// What every handler can reach.
pub struct App {
    /// The database.
    pub db: Db,
    /// Seals and opens credentials.
    pub keyring: Arc<Keyring>,
    /// The time (moved by tests).
    pub clock: Arc<dyn Clock>,
    /// Client for calls to URLs an operator configured (token endpoints, `BOL_API_URL`,
    /// anything in settings): trusted as given; never follows redirects.
    pub http: reqwest::Client,
    /// The guarded client for every call to a URL built from data (a store's API from its
    /// domain; the vendor API proxy and notifications to come): refuses internal addresses
    /// unless `STORELINK_ALLOW_PRIVATE_ENDPOINTS` is on, and pins the address it checked. Use
    /// [`Outbound::request`] (see [`crate::providers::outbound`]).
    pub outbound: Outbound,
    /// The URL merchants reach storelink at.
    pub public_url: Url,
    /// Whether the built-in sandbox providers are served (pages say so).
    pub sandbox: bool,
    /// Maropost's add-on flow, when enabled.
    pub maropost: Option<MaropostConfig>,
    /// Where Maropost stores' API calls go (API-key connections need only this).
    pub maropost_api: MaropostApi,
    /// OrderCloud: which API bases a marketplace connection may use.
    pub ordercloud: OrderCloudConfig,
    /// commercetools: its auth and API hosts by region.
    pub commercetools: CommercetoolsConfig,
    /// bol.com: its endpoints always (a retailer's own credentials need only those), the code
    /// flow when storelink's intermediary client is configured.
    pub bol: BolConfig,
    /// The in-process half of the token lifecycle of every platform whose tokens expire (see
    /// [`crate::providers::lifecycle`]).
    pub tokens: Tokens,
    /// Checks and stores received webhook events, committing them in groups (see
    /// [`crate::webhooks::writer`]).
    pub webhooks: Intake,
    /// The vendor API's gate: keys, rate limit, throttled audit.
    pub api: ApiAccess,
    /// Verifies requests the commercetools Merchant Center gateway forwards (the vendor API's
    /// other way in), keeping the gateways' keys.
    pub forward_to: ForwardTo,
    /// The largest platform answer the vendor API's proxy passes back, in bytes.
    pub proxy_max_response: usize,
    /// Which peers may name the client in forwarding headers; the client's address is read
    /// through `crate::web::client::ClientIp`, never from the peer directly.
    pub trusted_proxies: TrustedProxies,
    /// Rate limits on starting flows and on callbacks without a state, per client address.
    pub install_limits: InstallLimits,
    /// The cap on console password checks running at once.
    pub password_checks: PasswordChecks,
    /// `/readyz`: whether this instance is stopping.
    pub readiness: Readiness,
    /// The notification delivery worker of this instance.
    pub notifier: Notifier,
}

impl App {
    /// What the flow functions need.
    pub fn flow_context(&self) -> FlowContext<'_> {
        FlowContext {
            db: &self.db,
            keyring: &self.keyring,
            clock: self.clock.as_ref(),
        }
    }

    /// What every platform call needs.
    pub fn calls(&self) -> Context<'_> {
        Context {
            db: &self.db,
            keyring: &self.keyring,
            clock: self.clock.as_ref(),
            http: &self.http,
            outbound: &self.outbound,
        }
    }

    /// What bol.com's token lifecycle and Retailer API calls need.
    pub fn bol(&self) -> BolContext<'_> {
        BolContext {
            calls: self.calls(),
            config: &self.bol,
            tokens: &self.tokens,
        }
    }

    /// What notifications need.
    pub fn notify(&self) -> NotifyContext {
        NotifyContext {
            db: self.db.clone(),
            keyring: self.keyring.clone(),
            clock: self.clock.clone(),
            outbound: self.outbound.clone(),
        }
    }

    /// Every platform, for code that works on any install.
    pub fn platforms(&self) -> Platforms<'_> {
        Platforms {
            calls: self.calls(),
            maropost: self.maropost.as_ref(),
            maropost_api: &self.maropost_api,
            ordercloud: &self.ordercloud,
            commercetools: &self.commercetools,
            bol: self.bol(),
        }
    }
}

/// Whether this instance wants new requests: `false` once it has been asked to stop, while it
/// still finishes (and serves) what arrives during the drain delay.
#[derive(Clone, Default)]
pub struct Readiness(Arc<std::sync::atomic::AtomicBool>);

impl Readiness {
    /// Marks the instance as stopping.
    pub fn drain(&self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether it is stopping.
    pub fn draining(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The state handed to handlers: cheap to clone.
#[derive(Clone)]
pub struct AppState(pub Arc<App>);

impl Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}
