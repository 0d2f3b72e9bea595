//! Merchant-facing pages: the landing page, starting an install, the platform's callback and the
//! success page.
//!
//! The callback reads like the flow: check what came back, spend the state, exchange the code,
//! store the install, then `303` to the success page so a reload never replays the code.

use askama::Template;
use axum::{
    Form, Router,
    extract::{Query, State, rejection::QueryRejection},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use secrecy::ExposeSecret as _;
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::{
    app::AppState,
    db::{
        installs::{self, Initiator, InstallingUser, NewInstall, Saved},
        tokens::{self, AuthKind, FreshTokens, NewConnection},
    },
    domain::{DomainError, StoreDomain},
    error::{AppError, render_or_plain},
    flow::{self, Provider},
    providers::{
        bol::{self, BolToken, Grant},
        maropost, shorten,
    },
};

/// Session key of the install the success page shows.
const COMPLETED_INSTALL_KEY: &str = "install.completed";
/// Longest authorization code we accept; real ones are far shorter.
const MAX_CODE_LEN: usize = 1024;

/// The merchant-facing routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(landing))
        .route(
            "/install/maropost",
            get(start_maropost_get).post(start_maropost_post),
        )
        .route(maropost::CALLBACK_PATH, get(maropost_callback))
        .route("/install/bol", get(start_bol).post(start_bol))
        .route(bol::CALLBACK_PATH, get(bol_callback))
        .route("/installed", get(installed))
}

#[derive(Template)]
#[template(path = "landing.html")]
struct LandingPage {
    maropost_enabled: bool,
    bol_enabled: bool,
    sandbox: bool,
    store_domain: String,
    error: Option<String>,
}

impl LandingPage {
    fn new(state: &AppState) -> Self {
        Self {
            maropost_enabled: state.maropost.is_some(),
            bol_enabled: state.bol.code_flow().is_some(),
            sandbox: state.sandbox.is_some(),
            store_domain: String::new(),
            error: None,
        }
    }
}

async fn landing(State(state): State<AppState>) -> Response {
    render_or_plain(&LandingPage::new(&state))
}

/// The install form's fields.
#[derive(Debug, Deserialize)]
struct StartForm {
    #[serde(default)]
    store_domain: String,
}

async fn start_maropost_get(
    State(state): State<AppState>,
    session: Session,
    form: Result<Query<StartForm>, QueryRejection>,
) -> Result<Response, AppError> {
    let Query(form) = form.map_err(|_| bad_form())?;
    start_maropost(state, session, form).await
}

async fn start_maropost_post(
    State(state): State<AppState>,
    session: Session,
    form: Result<Form<StartForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, AppError> {
    let Form(form) = form.map_err(|_| bad_form())?;
    start_maropost(state, session, form).await
}

fn bad_form() -> AppError {
    AppError::BadRequest {
        title: "This form could not be read",
        message: "Enter your store's domain on the first page and try again.".into(),
    }
}

/// Validates the domain, records a new flow and sends the merchant to Maropost.
async fn start_maropost(
    state: AppState,
    session: Session,
    form: StartForm,
) -> Result<Response, AppError> {
    let config = state.maropost.as_ref().ok_or(AppError::NotFound)?;
    let domain = match StoreDomain::parse(&form.store_domain) {
        Ok(domain) => domain,
        Err(e) => return Ok(refused_domain(&state, &form.store_domain, &e)),
    };
    let started = flow::start(
        &state.flow_context(),
        &session,
        Provider::Maropost,
        Some(&domain),
    )
    .await?;
    let url = config.authorize_url(&domain, &started.state, &started.pkce_challenge);
    tracing::info!(store_domain = %domain, "maropost install started");
    Ok(Redirect::to(url.as_str()).into_response())
}

/// Records a new flow and sends the retailer to bol.com to approve storelink.
async fn start_bol(State(state): State<AppState>, session: Session) -> Result<Response, AppError> {
    let client = state.bol.code_flow().ok_or(AppError::NotFound)?;
    let started = flow::start(&state.flow_context(), &session, Provider::Bol, None).await?;
    let url = state
        .bol
        .authorize_url(client, &started.state, &started.pkce_challenge);
    tracing::info!("bol.com connection started");
    Ok(Redirect::to(url.as_str()).into_response())
}

/// `400` with the landing form, the typed value and the reason.
fn refused_domain(state: &AppState, typed: &str, error: &DomainError) -> Response {
    let page = LandingPage {
        store_domain: shorten(typed, 300),
        error: Some(error.to_string()),
        ..LandingPage::new(state)
    };
    (StatusCode::BAD_REQUEST, render_or_plain(&page)).into_response()
}

/// What a platform sends back to the callback. Every field is optional: which ones arrive
/// decides what the callback is (approved, denied, panel-initiated, malformed).
#[derive(Debug, Deserialize)]
struct CallbackParams {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

#[derive(Template)]
#[template(path = "denied.html")]
struct DeniedPage {
    provider: &'static str,
}

async fn maropost_callback(
    State(state): State<AppState>,
    session: Session,
    params: Result<Query<CallbackParams>, QueryRejection>,
) -> Result<Response, AppError> {
    let config = state.maropost.as_ref().ok_or(AppError::NotFound)?;
    let provider = Provider::Maropost;
    let params = read_callback(params, provider)?;
    if let Some(error) = params.error.as_deref() {
        return provider_error(&state, &session, provider, &params, error).await;
    }
    let code = checked_code(&params, provider)?;

    let (flow_domain, verifier, initiated_by) = match params.state.as_deref() {
        Some(s) => {
            let returned = flow::finish(&state.flow_context(), &session, provider, s).await?;
            (
                returned.store_domain,
                Some(returned.pkce_verifier),
                Initiator::Storelink,
            )
        }
        None if config.accept_panel_installs => (None, None, Initiator::Panel),
        None => {
            return Err(AppError::Forbidden {
                title: "Installs from the control panel are turned off",
                message: "This storelink only accepts installations started from its own page. \
                          Start the installation here instead."
                    .into(),
            });
        }
    };

    let token = maropost::exchange_code(&state.http, config, code, verifier.as_ref())
        .await
        .map_err(|source| AppError::Token {
            provider: provider.display_name(),
            source,
        })?;
    let store_domain = token.store_domain.as_ref().or(flow_domain.as_ref());
    let saved = installs::save(
        &state.db,
        &state.keyring,
        &NewInstall {
            provider: provider.as_str(),
            account_id: &token.store_id,
            store_domain: store_domain.map(StoreDomain::as_str),
            store_name: token.store_name.as_deref(),
            timezone: token.store_timezone.as_deref(),
            scope: token.scope.as_deref(),
            user: token.user.clone(),
            billing_address: token.billing_address.clone(),
            initiated_by,
            access_token: token.access_token.expose_secret().as_bytes(),
        },
        state.clock.unix(),
    )
    .await?;
    tracing::info!(
        install_id = %saved.id,
        store_id = %token.store_id,
        reinstall = saved.reinstall,
        initiated_by = initiated_by.as_str(),
        "maropost install stored"
    );
    completed(&session, saved).await
}

/// bol.com's callback: the same checks as Maropost's, then the code is exchanged (Basic auth,
/// PKCE) and the install is keyed by the access token's account claim.
async fn bol_callback(
    State(state): State<AppState>,
    session: Session,
    params: Result<Query<CallbackParams>, QueryRejection>,
) -> Result<Response, AppError> {
    let client = state.bol.code_flow().ok_or(AppError::NotFound)?;
    let provider = Provider::Bol;
    let params = read_callback(params, provider)?;
    if let Some(error) = params.error.as_deref() {
        return provider_error(&state, &session, provider, &params, error).await;
    }
    let code = checked_code(&params, provider)?;
    // bol.com never starts a flow by itself: a callback without our state is not ours.
    let flow_state = params.state.as_deref().unwrap_or_default();
    let returned = flow::finish(&state.flow_context(), &session, provider, flow_state).await?;

    let now = state.clock.unix();
    let grant = Grant::AuthorizationCode {
        code,
        verifier: &returned.pkce_verifier,
        redirect_uri: &state.bol.redirect_uri,
    };
    let claim = Some(state.bol.account_claim.as_str());
    let token = bol::request_token(
        &state.http,
        &state.bol.token_url,
        client,
        &grant,
        claim,
        now,
    )
    .await
    .map_err(|source| AppError::Token {
        provider: provider.display_name(),
        source,
    })?;
    let saved = save_bol_install(&state, &token, now).await?;
    tracing::info!(
        install_id = %saved.id,
        reinstall = saved.reinstall,
        expires_at = token.expires_at,
        "bol.com install stored"
    );
    completed(&session, saved).await
}

/// Stores a code-flow bol.com install keyed by the token's account claim, with its tokens.
async fn save_bol_install(state: &AppState, token: &BolToken, now: i64) -> Result<Saved, AppError> {
    let account = token
        .account
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("a checked bol.com token lacks its account"))?;
    let name = format!("Retailer {account}");
    let connection = NewConnection {
        install: NewInstall {
            provider: Provider::Bol.as_str(),
            account_id: account,
            store_domain: None,
            store_name: Some(&name),
            timezone: None,
            scope: token.scope.as_deref(),
            user: InstallingUser::default(),
            billing_address: None,
            initiated_by: Initiator::Storelink,
            access_token: token.access_token.expose_secret().as_bytes(),
        },
        kind: AuthKind::Code,
        client: None,
        tokens: FreshTokens {
            access_token: &token.access_token,
            refresh_token: token.refresh_token.as_ref(),
            expires_at: token.expires_at,
        },
        actor: "merchant",
    };
    Ok(tokens::save_connection(&state.db, &state.keyring, &connection, now).await?)
}

/// The callback's query, or a `400` that names the platform.
fn read_callback(
    params: Result<Query<CallbackParams>, QueryRejection>,
    provider: Provider,
) -> Result<CallbackParams, AppError> {
    let Query(params) = params.map_err(|_| AppError::BadRequest {
        title: "This callback could not be read",
        message: format!(
            "The address {} sent you back to is malformed.",
            provider.display_name()
        ),
    })?;
    Ok(params)
}

/// The callback's authorization code: present, of a sane length, printable ASCII.
fn checked_code(params: &CallbackParams, provider: Provider) -> Result<&str, AppError> {
    let code = params
        .code
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| AppError::BadRequest {
            title: "This callback carried no code",
            message: format!(
                "{} sent you back without an authorization code.",
                provider.display_name()
            ),
        })?;
    if code.len() > MAX_CODE_LEN || !code.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(AppError::BadRequest {
            title: "This callback carried a malformed code",
            message: format!(
                "The authorization code is not one {} would send.",
                provider.display_name()
            ),
        });
    }
    Ok(code)
}

/// The last step of every callback: remember the install for this browser's success page and
/// `303` there, so a reload never replays the code.
async fn completed(session: &Session, saved: Saved) -> Result<Response, AppError> {
    session
        .insert(
            COMPLETED_INSTALL_KEY,
            CompletedInstall {
                id: saved.id,
                reinstall: saved.reinstall,
            },
        )
        .await
        .map_err(anyhow::Error::from)?;
    Ok(Redirect::to("/installed").into_response())
}

/// The platform sent the merchant back with an error. A denial gets a friendly page; anything
/// else is the platform's failure. A valid state is spent either way, so it cannot be reused.
async fn provider_error(
    state: &AppState,
    session: &Session,
    provider: Provider,
    params: &CallbackParams,
    error: &str,
) -> Result<Response, AppError> {
    if let Some(s) = params.state.as_deref() {
        // The outcome does not matter: nothing is exchanged or stored on this path.
        let _ = flow::finish(&state.flow_context(), session, provider, s).await;
    }
    if error == "access_denied" {
        tracing::info!(provider = provider.as_str(), "merchant denied the install");
        return Ok(render_or_plain(&DeniedPage {
            provider: provider.display_name(),
        }));
    }
    Err(AppError::ProviderError {
        provider: provider.display_name(),
        error: shorten(error, 64),
        description: params.error_description.as_deref().map(|d| shorten(d, 200)),
    })
}

#[derive(Template)]
#[template(path = "installed.html")]
struct InstalledPage {
    store_name: String,
    store_domain: Option<String>,
    provider: &'static str,
    reinstall: bool,
    /// How the merchant disconnects, on their platform.
    disconnect: &'static str,
}

/// What the success page shows, kept in the session of the browser that completed the install
/// (so nobody else can look at it, and a reload shows the same page).
#[derive(Debug, Serialize, Deserialize)]
struct CompletedInstall {
    id: String,
    reinstall: bool,
}

/// The success page: shows the install this browser just completed.
async fn installed(State(state): State<AppState>, session: Session) -> Result<Response, AppError> {
    let completed: Option<CompletedInstall> = session
        .get(COMPLETED_INSTALL_KEY)
        .await
        .map_err(anyhow::Error::from)?;
    let completed = completed.ok_or(AppError::NotFound)?;
    let install = installs::find(&state.db, &completed.id)
        .await?
        .ok_or(AppError::NotFound)?;
    let provider = match install.provider.as_str() {
        "bol" => Provider::Bol,
        _ => Provider::Maropost,
    };
    Ok(render_or_plain(&InstalledPage {
        store_name: install.display_name().to_owned(),
        store_domain: install.store_domain.clone(),
        provider: provider.display_name(),
        reinstall: completed.reinstall,
        disconnect: match provider {
            Provider::Maropost => "remove the add-on in your Maropost control panel (Add-ons)",
            Provider::Bol => {
                "remove storelink under Settings > Services > API settings > Authorized parties \
                 in your bol.com account"
            }
        },
    }))
}
