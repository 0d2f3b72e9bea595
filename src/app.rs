//! The application: building it from its settings, its routes at a glance, and serving them until
//! asked to stop. The state handlers share is [`crate::state`].

use std::{future::Future, sync::Arc, time::Duration};

use anyhow::Context as _;
use axum::{
    Router,
    extract::State,
    http::{HeaderValue, header},
    response::Response,
};
use secrecy::SecretString;
use tokio::{net::TcpListener, task::JoinHandle};
use tower_sessions::{Expiry, SessionManagerLayer, cookie::SameSite};
use url::Url;

use crate::{
    api_access::ApiAccess,
    client_addr::TrustedProxies,
    clock::Clock,
    config::{ServerLimits, Settings},
    db::{self, oauth_states, sessions::HashedSessionStore},
    flow,
    health::{Checker, HealthContext},
    keys,
    limits::InstallLimits,
    measure,
    notify::{self, NotifyContext, worker::Notifier},
    password::PasswordChecks,
    platforms::{
        Registry, Setup,
        driver::SandboxKit,
        kit::{
            budget::Budgets,
            http,
            outbound::Outbound,
            single_flight::{RefreshPolicy, Tokens},
        },
    },
    sandbox::{self, Sandbox},
    serve,
    state::{App, AppState},
    telemetry, web,
};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "storelink_session";
/// Sessions end after this much inactivity.
pub const SESSION_IDLE: time::Duration = time::Duration::minutes(30);
/// Largest request body the pages accept.
const MAX_FORM_BODY: usize = 64 * 1024;
/// How often expired sessions and old flows are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// How long a login waits for a free password check before it is refused (503).
const PASSWORD_CHECK_WAIT: Duration = Duration::from_secs(5);

/// A built application, bound to its port, ready to serve.
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    session_store: HashedSessionStore,
    server_limits: ServerLimits,
    /// `STORELINK_METRICS_BIND`'s listener, when set.
    metrics_listener: Option<TcpListener>,
}

impl Application {
    /// Binds the listen address, opens and migrates the database, loads the master key and
    /// assembles the routes. Fails, with a message naming the setting, on anything misconfigured.
    pub async fn build(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.bind)
            .await
            .with_context(|| format!("STORELINK_BIND: cannot listen on {}", settings.bind))?;
        let port = listener.local_addr()?.port();
        let public_url = match &settings.public_url {
            Some(url) => url.clone(),
            None => Url::parse(&format!("http://localhost:{port}"))?,
        };

        let db =
            db::connect_with_busy_timeout(&settings.database_url, settings.busy_timeout).await?;
        db::migrate(&db).await?;
        let keyring = Arc::new(keys::load_keyring(&settings)?);
        keys::check_keys_in_use(&db, &keyring).await?;
        // Said once the set-up is known to start: a refused start-up prints one line only.
        if settings.sandbox {
            tracing::warn!(
                why = settings.sandbox_why,
                "SANDBOX MODE: built-in stand-ins for the platforms are served under /sandbox/ \
                 and hand out tokens to anyone who asks; never connect real stores to this \
                 instance (STORELINK_SANDBOX=off, or configure a platform and a master key)"
            );
        } else {
            tracing::info!(why = settings.sandbox_why, "sandbox mode is off");
        }

        let session_store = HashedSessionStore::new(db.clone())?;
        session_store.migrate().await?;

        let platform_client = http::client(settings.http_timeout)?;
        let platforms = Arc::new(Registry::from_env(
            &settings.env,
            &Setup {
                sandbox: settings.sandbox,
                public_url: &public_url,
                db: &db,
                keyring: keyring.clone(),
                clock: clock.clone(),
                http: platform_client.clone(),
            },
        )?);
        let mut sandbox = match settings.sandbox {
            true => Some(Sandbox {
                platforms: platforms.sandbox(&SandboxKit {
                    keyring: &keyring,
                    clock: clock.clone(),
                    public_url: &public_url,
                })?,
                receiver: None,
            }),
            false => None,
        };
        let outbound = Outbound::new(settings.http_timeout, settings.allow_private_endpoints)?;
        let notify = NotifyContext {
            db: db.clone(),
            keyring: keyring.clone(),
            clock: clock.clone(),
            outbound: outbound.clone(),
        };
        if let Some(sandbox) = &mut sandbox
            && settings.sandbox_receiver
        {
            sandbox.receiver = Some(sandbox_receiver(&notify, &public_url).await?);
        }
        let notifier = Notifier::start(notify, settings.notify.clone());
        let tokens = Arc::new(Tokens::new(RefreshPolicy::default()));
        let budgets = Arc::new(Budgets::for_database(&db));
        let checker = Checker::start(HealthContext {
            db: db.clone(),
            keyring: keyring.clone(),
            clock: clock.clone(),
            http: platform_client.clone(),
            outbound: outbound.clone(),
            tokens: tokens.clone(),
            budgets: budgets.clone(),
            platforms: platforms.clone(),
            settings: settings.health.clone(),
        });
        let state = AppState(Arc::new(App {
            db,
            keyring,
            clock,
            http: platform_client,
            outbound,
            public_url: public_url.clone(),
            sandbox: sandbox.is_some(),
            platforms,
            tokens,
            budgets,
            health: settings.health.clone(),
            health_calls: Default::default(),
            checker,
            api: ApiAccess::new(settings.api.rate_limit),
            proxy_max_response: settings.api.proxy_max_response,
            trusted_proxies: TrustedProxies::new(settings.trusted_proxies.clone()),
            install_limits: InstallLimits::per_minute(settings.install_rate_limit),
            password_checks: PasswordChecks::new(settings.max_password_checks, PASSWORD_CHECK_WAIT),
            readiness: Default::default(),
            notifier,
        }));
        measure::install();
        let metrics_listener =
            match settings.metrics.bind {
                Some(address) => Some(TcpListener::bind(address).await.with_context(|| {
                    format!("STORELINK_METRICS_BIND: cannot listen on {address}")
                })?),
                None => None,
            };
        let router = router(
            state.clone(),
            sandbox,
            session_layer(&session_store, &public_url),
            settings.metrics.token.clone(),
        );
        Ok(Self {
            listener,
            router,
            state,
            session_store,
            server_limits: settings.server.clone(),
            metrics_listener,
        })
    }

    /// Where `/metrics` is served apart (`STORELINK_METRICS_BIND`), if it is.
    pub fn metrics_address(&self) -> Option<std::net::SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// The port actually bound (useful with port 0).
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The URL merchants reach this instance at.
    pub fn public_url(&self) -> &Url {
        &self.state.public_url
    }

    /// The shared state, for tests and tools that need the database or keyring.
    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// Serves until SIGINT or SIGTERM.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight and stops the
    /// background sweeper.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let sweeper = spawn_sweeper(self.state.clone(), self.session_store.clone());
        let mut sites = vec![(self.listener, self.router)];
        if let Some(listener) = self.metrics_listener {
            // Served as the main port is (same limits, one connection cap, the same headers,
            // request ids and log), so the private address is no way around them.
            let https = self.state.public_url.scheme() == "https";
            let metrics = web::metrics::open().with_state(self.state.clone());
            sites.push((listener, with_common_layers(metrics, https)));
        }
        // Asked to stop: first say so on /readyz and keep serving for the drain delay, so a
        // load balancer sends its new requests elsewhere before the listener closes.
        let readiness = self.state.readiness.clone();
        let drain_delay = self.server_limits.drain_delay;
        let shutdown = async move {
            shutdown.await;
            readiness.drain();
            if !drain_delay.is_zero() {
                tracing::info!(
                    seconds = drain_delay.as_secs_f64(),
                    "draining: /readyz answers 503"
                );
                tokio::time::sleep(drain_delay).await;
            }
        };
        tracing::info!(
            address = %sites[0].0.local_addr()?,
            public_url = %self.state.public_url,
            sandbox = self.state.sandbox,
            "storelink is listening"
        );
        let served = serve::serve_all(sites, self.server_limits, shutdown).await;
        sweeper.abort();
        // Requests in flight have had their answers; write anything still queued, then stop.
        self.state.platforms.shutdown().await;
        // Sends in flight finish (within a bound); what is not sent stays queued for later.
        self.state.notifier.shutdown().await;
        // Checks in flight finish; an unfinished one's claim runs out for another instance.
        self.state.checker.shutdown().await;
        self.state.db.close().await;
        tracing::info!("storelink has stopped");
        served.context("the HTTP server failed")
    }
}

/// The sandbox's stand-in for the vendor's backend, subscribed to everything as an endpoint of
/// this instance (added on first start), holding its signing secrets as a vendor would.
async fn sandbox_receiver(
    notify: &NotifyContext,
    public_url: &Url,
) -> anyhow::Result<sandbox::receiver::SandboxReceiver> {
    let url = public_url.join(sandbox::receiver::PATH)?;
    let secrets = notify::endpoints::ensure_sandbox_endpoint(notify, &url).await?;
    Ok(sandbox::receiver::SandboxReceiver::new(secrets))
}

/// All routes, with sessions, security headers and request logging.
fn router(
    state: AppState,
    sandbox: Option<Sandbox>,
    sessions: SessionManagerLayer<HashedSessionStore>,
    metrics_token: Option<SecretString>,
) -> Router {
    let mut pages = Router::new()
        .merge(web::install::router())
        .merge(web::console::router())
        .merge(web::health::router());
    if let Some(sandbox) = sandbox {
        // The stand-ins carry their own state: they are platforms, not part of storelink.
        pages = pages.merge(sandbox::router(sandbox));
    }
    let pages = pages
        .layer(sessions)
        // Outside the session layer, whose failures (a database that cannot be reached) are
        // empty 500s: they get the error page.
        .layer(axum::middleware::from_fn(
            crate::error::page_for_bare_failures,
        ))
        // Forms are small; a body past this is refused before it is read in full.
        .layer(axum::extract::DefaultBodyLimit::max(MAX_FORM_BODY));

    let https = state.public_url.scheme() == "https";
    let mut routes = Router::new()
        .merge(pages)
        // Machine-facing: no session, and body limits of their own.
        .merge(state.platforms.routes().with_state(()))
        .merge(web::api::router())
        .merge(web::assets::router());
    if let Some(token) = metrics_token {
        routes = routes.merge(web::metrics::behind_token(token));
    }
    let mut routes = routes
        // Counted by the route they matched (the pattern, never the raw path).
        .route_layer(axum::middleware::from_fn(measure::http))
        .fallback(web::not_found)
        .with_state(state.clone());
    if state.sandbox {
        // Every page then says so (base.html).
        routes = routes.layer(axum::middleware::from_fn(web::mark_sandbox_mode));
    }
    with_common_layers(routes, https)
}

/// What every answer of every listener gets: the security headers, the request log and the
/// request id.
fn with_common_layers(router: Router, https: bool) -> Router {
    router
        .layer(axum::middleware::map_response_with_state(
            https,
            security_headers,
        ))
        .layer(telemetry::trace_layer())
        // Outside the trace layer, so the request's span carries its id.
        .layer(axum::middleware::from_fn(telemetry::request_id))
}

/// Sets the headers every response carries, error pages and 404s included.
async fn security_headers(State(https): State<bool>, mut response: Response) -> Response {
    let headers = response.headers_mut();
    // Pages hold states, codes' outcomes and console data: no answer is cached, whichever part
    // of storelink (or the fallback) gave it, unless it said otherwise itself (the embedded
    // assets, whose versioned URLs never change their content).
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             object-src 'none'; \
             base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // No page of ours needs to tell another site where the visitor came from, and OAuth pages
    // must not leak their query (state, code) through the Referer header.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    response
}

/// The session layer: HttpOnly, SameSite=Lax (so the cookie comes back on the platform's
/// redirect to our callback), Secure when the public URL is https, ending after 30 idle minutes.
fn session_layer(
    store: &HashedSessionStore,
    public_url: &Url,
) -> SessionManagerLayer<HashedSessionStore> {
    SessionManagerLayer::new(store.clone())
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(public_url.scheme() == "https")
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(SESSION_IDLE))
}

/// Every minute: deletes expired sessions, then [`sweep_once`].
fn spawn_sweeper(state: AppState, sessions: HashedSessionStore) -> JoinHandle<()> {
    use tower_sessions::ExpiredDeletion as _;
    tokio::spawn(async move {
        // The first sweep waits a full period: start-up (and tests) need the database more.
        let mut tick =
            tokio::time::interval_at(tokio::time::Instant::now() + SWEEP_EVERY, SWEEP_EVERY);
        loop {
            tick.tick().await;
            if let Err(e) = sessions.delete_expired().await {
                tracing::warn!(error = %e, "failed to delete expired sessions");
            }
            sweep_once(&state).await;
        }
    })
}

/// Deletes flows that expired more than [`flow::SWEEP_AFTER_EXPIRY_SECS`] ago, and forgets
/// rate-limited clients whose allowance is full again.
pub async fn sweep_once(state: &AppState) {
    let cutoff = state.clock.unix() - flow::STATE_LIFETIME_SECS - flow::SWEEP_AFTER_EXPIRY_SECS;
    match oauth_states::delete_older_than(&state.db, cutoff).await {
        Ok(0) => {}
        Ok(n) => tracing::debug!(flows = n, "expired authorization flows deleted"),
        Err(e) => tracing::warn!(error = %e, "failed to delete old authorization flows"),
    }
    // A spent grant can be presented again only within its window; after that it is refused
    // anyway, so its row can go.
    let spent_cutoff = state.clock.unix() - crate::web::installed::ORDER_UPDATES_WINDOW;
    if let Err(e) = db::spent_grants::delete_older_than(&state.db, spent_cutoff).await {
        tracing::warn!(error = %e, "failed to delete old spent grants");
    }
    state.install_limits.sweep();
    state.api.sweep();
    state.budgets.sweep().await;
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
