//! The state every handler reaches, and the narrow contexts it hands to services: a flow gets
//! [`FlowContext`], a platform call [`Context`], never the whole [`App`].

use std::{ops::Deref, sync::Arc};

use url::Url;

use crate::{
    api_access::ApiAccess,
    client_addr::TrustedProxies,
    clock::Clock,
    config::HealthSettings,
    crypto::Keyring,
    db::Db,
    flow::FlowContext,
    health::{CallWatch, Checker, HealthContext},
    limits::InstallLimits,
    notify::{NotifyContext, worker::Notifier},
    password::PasswordChecks,
    platforms::{
        Registry,
        kit::{budget::Budgets, context::Context, outbound::Outbound, single_flight::Tokens},
    },
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
    /// [`Outbound::request`] (see [`crate::platforms::kit::outbound`]).
    pub outbound: Outbound,
    /// The URL merchants reach storelink at.
    pub public_url: Url,
    /// Whether the built-in sandbox providers are served (pages say so).
    pub sandbox: bool,
    /// Every platform (see [`crate::platforms`]).
    pub platforms: Arc<Registry>,
    /// The in-process half of the token lifecycle of every platform whose tokens expire (see
    /// [`crate::platforms::kit::lifecycle`]).
    pub tokens: Arc<Tokens>,
    /// The rate budgets of every platform call (see [`crate::platforms::kit::budget`]).
    pub budgets: Arc<Budgets>,
    /// How install health is kept (the checker's settings).
    pub health: HealthSettings,
    /// The installs whose calls through this instance failed lately (see
    /// [`crate::health::record_call`]).
    pub health_calls: CallWatch,
    /// The health checker of this instance.
    pub checker: Checker,
    /// The vendor API's gate: keys, rate limit, throttled audit.
    pub api: ApiAccess,
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
            tokens: &self.tokens,
            budgets: &self.budgets,
        }
    }

    /// What health checks need.
    pub fn health_context(&self) -> HealthContext {
        HealthContext {
            db: self.db.clone(),
            keyring: self.keyring.clone(),
            clock: self.clock.clone(),
            http: self.http.clone(),
            outbound: self.outbound.clone(),
            tokens: self.tokens.clone(),
            budgets: self.budgets.clone(),
            platforms: self.platforms.clone(),
            settings: self.health.clone(),
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
