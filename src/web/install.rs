//! Merchant-facing pages: the landing page, starting an install and the platform's callback (the
//! success page that follows is [`super::installed`]).
//!
//! The callback reads like the flow: check what came back, spend the state, exchange the code,
//! store the install, then `303` to the success page so a reload never replays the code.

use std::net::IpAddr;

use askama::Template;
use axum::{
    Form, Router,
    extract::{Query, State, rejection::QueryRejection},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use secrecy::ExposeSecret as _;
use serde::Deserialize;
use tower_sessions::Session;

use crate::{
    db::{
        installs::{self, NewInstall, Saved},
        token_state,
    },
    domain::{DomainError, Initiator, Platform, StoreDomain, text::shorten},
    error::{AppError, render_or_plain},
    flow,
    limits::RateLimit,
    measure,
    providers::{
        bol::{self, BolToken, Grant, oauth::ConnectingClient},
        maropost,
    },
    state::AppState,
    web::{client::ClientIp, installed},
};

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
        .merge(installed::router())
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
            sandbox: state.sandbox,
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
    ClientIp(client): ClientIp,
    session: Session,
    form: Result<Query<StartForm>, QueryRejection>,
) -> Result<Response, AppError> {
    take(&state.install_limits.starts, client)?;
    let Query(form) = form.map_err(|_| bad_form())?;
    start_maropost(state, session, form).await
}

async fn start_maropost_post(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    session: Session,
    form: Result<Form<StartForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, AppError> {
    take(&state.install_limits.starts, client)?;
    let Form(form) = form.map_err(|_| bad_form())?;
    start_maropost(state, session, form).await
}

/// One request of `limit` for `client`, or `429` with how long to wait.
fn take(limit: &RateLimit, client: IpAddr) -> Result<(), AppError> {
    limit.check(client).map_err(|wait| {
        tracing::info!(client = %client, wait_secs = wait.as_secs(), "rate limited");
        AppError::RateLimited {
            retry_after: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
        }
    })
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
    let domain = match StoreDomain::parse_typed(&form.store_domain) {
        Ok(domain) => domain,
        Err(e) => return Ok(refused_domain(&state, &form.store_domain, &e)),
    };
    let started = flow::start(
        &state.flow_context(),
        &session,
        Platform::Maropost,
        Some(&domain),
    )
    .await?;
    measure::flow_started(Platform::Maropost.as_str());
    let url = config.authorize_url(&domain, &started.state, &started.pkce_challenge);
    tracing::info!(store_domain = %domain, "maropost install started");
    Ok(Redirect::to(url.as_str()).into_response())
}

/// Records a new flow and sends the retailer to bol.com to approve storelink.
async fn start_bol(
    State(state): State<AppState>,
    ClientIp(address): ClientIp,
    session: Session,
) -> Result<Response, AppError> {
    let client = state.bol.code_flow().ok_or(AppError::NotFound)?;
    take(&state.install_limits.starts, address)?;
    let started = flow::start(&state.flow_context(), &session, Platform::Bol, None).await?;
    measure::flow_started(Platform::Bol.as_str());
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
    /// The authorization server's issuer identifier (RFC 9207), when it sends one.
    iss: Option<String>,
}

#[derive(Template)]
#[template(path = "denied.html")]
struct DeniedPage {
    provider: &'static str,
    /// The platform's `error_description`, only for a callback that answers this browser's flow.
    description: Option<String>,
}

async fn maropost_callback(
    state: State<AppState>,
    client: ClientIp,
    session: Session,
    params: Result<Query<CallbackParams>, QueryRejection>,
) -> Result<Response, AppError> {
    let ended = maropost_callback_steps(state, client, session, params).await;
    counted(Platform::Maropost, ended)
}

async fn maropost_callback_steps(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    session: Session,
    params: Result<Query<CallbackParams>, QueryRejection>,
) -> Result<Response, AppError> {
    let config = state.maropost.as_ref().ok_or(AppError::NotFound)?;
    let provider = Platform::Maropost;
    let params = read_callback(params, provider)?;
    check_issuer(&params, config.issuer.as_deref(), provider)?;
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
        None if config.accept_panel_installs => {
            // Each one spends a token request with our client secret: limited per address.
            take(&state.install_limits.stateless_callbacks, client)?;
            (None, None, Initiator::Panel)
        }
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
            platform: provider,
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
        initiated_by = %initiated_by,
        "maropost install stored"
    );
    // A panel install names its store only to a browser that has started flows here: anyone
    // can send a victim's browser to the callback with a code for the sender's own store.
    let named = match initiated_by {
        Initiator::Storelink => true,
        Initiator::Panel => flow::has_started_flows(&session).await?,
    };
    installed::completed(&session, saved, provider, named, state.clock.unix()).await
}

/// bol.com's callback: the same checks as Maropost's, then the code is exchanged (Basic auth,
/// PKCE) and the install is keyed by the access token's account claim.
async fn bol_callback(
    state: State<AppState>,
    session: Session,
    params: Result<Query<CallbackParams>, QueryRejection>,
) -> Result<Response, AppError> {
    let ended = bol_callback_steps(state, session, params).await;
    counted(Platform::Bol, ended)
}

async fn bol_callback_steps(
    State(state): State<AppState>,
    session: Session,
    params: Result<Query<CallbackParams>, QueryRejection>,
) -> Result<Response, AppError> {
    let client = state.bol.code_flow().ok_or(AppError::NotFound)?;
    let provider = Platform::Bol;
    let params = read_callback(params, provider)?;
    check_issuer(&params, state.bol.issuer.as_deref(), provider)?;
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
    let token = bol::request_token(&state.http, &state.bol, client, &grant, claim, now)
        .await
        .and_then(|token| bol::oauth::check_offline_access(&state.bol, &token).map(|()| token))
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
    installed::completed(&session, saved, provider, true, now).await
}

/// Stores a code-flow bol.com install keyed by the token's account claim, with its tokens.
async fn save_bol_install(state: &AppState, token: &BolToken, now: i64) -> Result<Saved, AppError> {
    let account = token
        .account
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("a checked bol.com token lacks its account"))?;
    // The name bol.com shows for the retailer when its Retailer API gives one, else the account.
    let name =
        match bol::retailer::current_retailer_name(&state.http, &state.bol, &token.access_token)
            .await
        {
            Some(name) => name.as_str().to_owned(),
            None => format!("Retailer {account}"),
        };
    let connection = token.connection(account, &name, ConnectingClient::Intermediary, "merchant");
    Ok(token_state::save_connection(&state.db, &state.keyring, &connection, now).await?)
}

/// Counts how a callback ended: an install stored (the `303` to the success page), a platform
/// that did not approve (its page), or a refusal by kind.
fn counted(platform: Platform, ended: Result<Response, AppError>) -> Result<Response, AppError> {
    match &ended {
        Ok(answer) if answer.status().is_redirection() => {
            measure::flow_completed(platform.as_str())
        }
        Ok(_) => measure::flow_failed(platform.as_str(), "not_approved"),
        Err(e) => measure::flow_failed(platform.as_str(), e.kind()),
    }
    ended
}

/// The callback's query, or a `400` that names the platform.
fn read_callback(
    params: Result<Query<CallbackParams>, QueryRejection>,
    provider: Platform,
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

/// RFC 9207: a callback that names its authorization server (`iss`) must name the one this
/// platform is configured with, or it may be an answer from another server mixed up with ours.
/// Refused before the state is spent or any token request is made. Without a configured issuer
/// (outside sandbox mode, when `BOL_ISSUER`/`MAROPOST_ISSUER` is unset) nothing is checked.
fn check_issuer(
    params: &CallbackParams,
    expected: Option<&str>,
    provider: Platform,
) -> Result<(), AppError> {
    match (params.iss.as_deref(), expected) {
        (Some(iss), Some(expected)) if iss != expected => Err(AppError::BadRequest {
            title: "This callback came from another authorization server",
            message: format!(
                "The answer names an issuer that is not {}'s, so it was refused before \
                 anything was exchanged. Nothing was installed. Start the installation again.",
                provider.display_name()
            ),
        }),
        _ => Ok(()),
    }
}

/// The callback's authorization code: present, of a sane length, printable ASCII.
fn checked_code(params: &CallbackParams, provider: Platform) -> Result<&str, AppError> {
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

/// The platform sent the merchant back with an error. A denial gets a neutral page (the platform
/// did not approve: the merchant may not have clicked anything); anything else is the platform's
/// failure. A valid state is spent either way, so it cannot be reused. The platform's own words
/// (`error_description`) are shown only when the callback answers a flow this browser started:
/// anyone can send a browser to the callback with a made-up description.
async fn provider_error(
    state: &AppState,
    session: &Session,
    provider: Platform,
    params: &CallbackParams,
    error: &str,
) -> Result<Response, AppError> {
    let ours = match params.state.as_deref() {
        // The outcome only decides what is shown: nothing is exchanged or stored on this path.
        Some(s) => flow::finish(&state.flow_context(), session, provider, s)
            .await
            .is_ok(),
        None => false,
    };
    let description = params
        .error_description
        .as_deref()
        .filter(|_| ours)
        .map(|d| shorten(d, 200))
        .filter(|d| !d.is_empty());
    if error == "access_denied" {
        tracing::info!(
            provider = provider.as_str(),
            "the platform did not approve the install"
        );
        return Ok(render_or_plain(&DeniedPage {
            provider: provider.display_name(),
            description,
        }));
    }
    Err(AppError::ProviderError {
        provider: provider.display_name(),
        error: error_code(error),
        description,
    })
}

/// An OAuth `error` code as shown on our page: codes are short runs of lower-case letters,
/// digits and `_`; anything else is not repeated.
fn error_code(error: &str) -> String {
    let plausible = !error.is_empty()
        && error.len() <= 64
        && error
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if plausible {
        error.to_owned()
    } else {
        "an unrecognised error code".to_owned()
    }
}
