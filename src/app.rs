//! The application: its shared state, its routes at a glance, and serving them until asked to
//! stop.

use std::{future::Future, net::SocketAddr, ops::Deref, sync::Arc, time::Duration};

use anyhow::Context as _;
use axum::{
    Router,
    extract::State,
    http::{HeaderValue, header},
    response::Response,
};
use tokio::{net::TcpListener, task::JoinHandle};
use tower_http::{services::ServeDir, set_header::SetResponseHeaderLayer};
use tower_sessions::{Expiry, SessionManagerLayer, cookie::SameSite};
use tower_sessions_sqlx_store::SqliteStore;
use url::Url;

use crate::{
    clock::Clock,
    config::Settings,
    crypto::{Keyring, MasterKey},
    db::{self, Db, credentials, oauth_states},
    flow::FlowContext,
    providers::{
        self,
        bol::{
            BolConfig,
            tokens::{BolTokens, RefreshPolicy},
        },
        maropost::MaropostConfig,
    },
    sandbox, telemetry, web,
    webhooks::Intake,
};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "storelink_session";
/// Sessions end after this much inactivity.
pub const SESSION_IDLE: time::Duration = time::Duration::minutes(30);
/// Largest request body the pages accept.
const MAX_FORM_BODY: usize = 64 * 1024;
/// How often expired sessions and old flows are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// What every handler can reach.
pub struct App {
    /// The database.
    pub db: Db,
    /// Seals and opens credentials.
    pub keyring: Keyring,
    /// The time (moved by tests).
    pub clock: Arc<dyn Clock>,
    /// Client for calls to platforms; never follows redirects.
    pub http: reqwest::Client,
    /// The URL merchants reach storelink at.
    pub public_url: Url,
    /// Whether the built-in sandbox providers are served.
    pub sandbox: Option<sandbox::Sandbox>,
    /// Maropost, when enabled.
    pub maropost: Option<MaropostConfig>,
    /// bol.com: its endpoints always (a retailer's own credentials need only those), the code
    /// flow when storelink's intermediary client is configured.
    pub bol: BolConfig,
    /// Every bol.com access token is had through this (see [`crate::providers::bol::tokens`]).
    pub bol_tokens: BolTokens,
    /// Checks and stores received webhook events, committing them in groups (see
    /// [`crate::webhooks::writer`]).
    pub webhooks: Intake,
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

/// A built application, bound to its port, ready to serve.
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    session_store: SqliteStore,
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
        let keyring = load_keyring(&settings)?;
        check_keys_in_use(&db, &keyring).await?;

        let session_store = SqliteStore::new(db.clone())
            .with_table_name("sessions")
            .map_err(|e| anyhow::anyhow!("session table name: {e}"))?;
        session_store
            .migrate()
            .await
            .context("failed to create the sessions table")?;

        let maropost = MaropostConfig::resolve(&settings.maropost, settings.sandbox, &public_url)?;
        let bol = BolConfig::resolve(&settings.bol, settings.sandbox, &public_url)?;
        let sandbox = settings
            .sandbox
            .then(|| sandbox::Sandbox::new(&keyring, maropost.as_ref(), &bol));
        let webhooks = Intake::start(db.clone());
        let state = AppState(Arc::new(App {
            db,
            keyring,
            clock,
            http: providers::http_client(settings.http_timeout)?,
            public_url: public_url.clone(),
            sandbox,
            maropost,
            bol,
            bol_tokens: BolTokens::new(RefreshPolicy::default()),
            webhooks,
        }));
        let router = router(state.clone(), session_layer(&session_store, &public_url));
        Ok(Self {
            listener,
            router,
            state,
            session_store,
        })
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
        tracing::info!(
            address = %self.listener.local_addr()?,
            public_url = %self.state.public_url,
            sandbox = self.state.sandbox.is_some(),
            "storelink is listening"
        );
        let served = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await;
        sweeper.abort();
        // Requests in flight have had their answers; write anything still queued, then stop.
        self.state.webhooks.shutdown().await;
        self.state.db.close().await;
        tracing::info!("storelink has stopped");
        served.context("the HTTP server failed")
    }
}

/// All routes, with sessions, security headers and request logging.
fn router(state: AppState, sessions: SessionManagerLayer<SqliteStore>) -> Router {
    let mut pages = Router::new()
        .merge(web::install::router())
        .merge(web::console::router())
        .merge(web::health::router());
    if state.sandbox.is_some() {
        pages = pages.merge(sandbox::router());
    }
    let pages = pages
        .layer(sessions)
        // Forms are small; a body past this is refused before it is read in full.
        .layer(axum::extract::DefaultBodyLimit::max(MAX_FORM_BODY))
        // Pages hold states, codes' outcomes and (later) console data: never cache them.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));

    let https = state.public_url.scheme() == "https";
    Router::new()
        .merge(pages)
        // Machine-facing: no session, and a body limit of its own.
        .merge(web::webhooks::router())
        .nest_service("/static", ServeDir::new("static"))
        .fallback(web::not_found)
        .layer(axum::middleware::map_response_with_state(
            https,
            security_headers,
        ))
        .layer(telemetry::trace_layer())
        .with_state(state)
}

/// Sets the headers every response carries, error pages and 404s included.
async fn security_headers(State(https): State<bool>, mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; object-src 'none'; \
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
fn session_layer(store: &SqliteStore, public_url: &Url) -> SessionManagerLayer<SqliteStore> {
    SessionManagerLayer::new(store.clone())
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(public_url.scheme() == "https")
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(SESSION_IDLE))
}

/// Loads the master key (and any previous ones); in sandbox mode without one, creates a development key beside the
/// database (once) and says so loudly.
pub fn load_keyring(settings: &Settings) -> anyhow::Result<Keyring> {
    let previous = settings
        .previous_master_keys
        .iter()
        .enumerate()
        .map(|(i, encoded)| {
            MasterKey::from_base64(encoded)
                .map_err(|e| anyhow::anyhow!("STORELINK_PREVIOUS_MASTER_KEYS: key {}: {e}", i + 1))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if let Some(encoded) = &settings.master_key {
        let key = MasterKey::from_base64(encoded)
            .map_err(|e| anyhow::anyhow!("STORELINK_MASTER_KEY: {e}"))?;
        return Ok(Keyring::with_previous(key, previous));
    }
    if !settings.sandbox {
        anyhow::bail!("STORELINK_MASTER_KEY: required outside sandbox mode");
    }
    let path = dev_key_path(&settings.database_url);
    let (key, created) = MasterKey::load_or_create_dev_key(&path)?;
    tracing::warn!(
        path = %path.display(),
        created,
        "sandbox mode: credentials are sealed with a development key kept in a file; \
         set STORELINK_MASTER_KEY (see `storelink keygen`) for real use"
    );
    Ok(Keyring::with_previous(key, previous))
}

/// `storelink.db` -> `storelink.db.master-key`, beside the database.
fn dev_key_path(database_url: &str) -> std::path::PathBuf {
    match db::sqlite_path(database_url) {
        Some(path) => {
            let mut name = path.file_name().unwrap_or_default().to_os_string();
            name.push(".master-key");
            path.with_file_name(name)
        }
        None => std::path::PathBuf::from("storelink.master-key"),
    }
}

/// Refuses to start when stored credentials were sealed under a key this process lacks: better
/// a clear stop now than credentials that cannot be opened when they are needed.
async fn check_keys_in_use(db: &Db, keyring: &Keyring) -> anyhow::Result<()> {
    let unknown: Vec<String> = credentials::key_ids_in_use(db)
        .await?
        .into_iter()
        .filter(|id| !keyring.has_key(id))
        .collect();
    if !unknown.is_empty() {
        anyhow::bail!(
            "STORELINK_MASTER_KEY: stored credentials were sealed under key id {}, but the \
             configured key has id {}; start with the key they were sealed with",
            unknown.join(", "),
            keyring.current().id()
        );
    }
    Ok(())
}

/// Every minute: deletes expired sessions and flows older than a day.
fn spawn_sweeper(state: AppState, sessions: SqliteStore) -> JoinHandle<()> {
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
            let cutoff = state.clock.unix() - 24 * 60 * 60;
            if let Err(e) = oauth_states::delete_older_than(&state.db, cutoff).await {
                tracing::warn!(error = %e, "failed to delete old authorization flows");
            }
        }
    })
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
