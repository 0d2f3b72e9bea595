//! Merchant-facing pages: the landing page, starting an install and the platform's callback (the
//! success page that follows is [`super::installed`]).
//!
//! The callback reads like the flow: check what came back, spend the state, exchange the code,
//! store the install, then `303` to the success page so a reload never replays the code.

use std::net::IpAddr;

use askama::Template;
use axum::{
    Form, Router,
    extract::{Path, Query, State, rejection::QueryRejection},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use serde::Deserialize;
use tower_sessions::Session;

use crate::{
    domain::{DomainError, Initiator, Platform, StoreDomain, text::shorten},
    error::{AppError, render_or_plain},
    flow,
    limits::RateLimit,
    measure,
    platforms::{
        PlatformDriver,
        driver::{CodeFlow, CompleteError, Exchange, StatelessCallbacks},
    },
    state::AppState,
    web::{client::ClientIp, installed},
};

/// Longest authorization code we accept; real ones are far shorter.
const MAX_CODE_LEN: usize = 1024;

/// The merchant-facing routes: `/install/{platform}` and `/oauth/{platform}/callback` for every
/// platform with a code flow (the redirect URIs registered with the platforms).
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(landing))
        .route("/install/{platform}", get(start_get).post(start_post))
        .route("/oauth/{platform}/callback", get(callback))
        .merge(installed::router())
}

/// A platform's card on the landing page.
struct Card {
    /// The platform's name in URLs.
    slug: &'static str,
    heading: &'static str,
    blurb: &'static str,
    /// The form asks for the store's domain, with this example.
    store_domain_example: Option<&'static str>,
    button: &'static str,
}

#[derive(Template)]
#[template(path = "landing.html")]
struct LandingPage {
    cards: Vec<Card>,
    sandbox: bool,
    store_domain: String,
    error: Option<String>,
}

impl LandingPage {
    fn new(state: &AppState) -> Self {
        let cards = state
            .platforms
            .all()
            .filter_map(|driver| {
                let card = driver.code_flow()?.landing();
                Some(Card {
                    slug: driver.platform().as_str(),
                    heading: card.heading,
                    blurb: card.blurb,
                    store_domain_example: card.store_domain_example,
                    button: card.button,
                })
            })
            .collect();
        Self {
            cards,
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

/// The platform a URL's `{platform}` names and its code flow, or `404`.
fn code_flow<'a>(
    state: &'a AppState,
    name: &str,
) -> Result<(&'a dyn PlatformDriver, &'a dyn CodeFlow), AppError> {
    let driver = state.platforms.by_name(name).ok_or(AppError::NotFound)?;
    let flow = driver.code_flow().ok_or(AppError::NotFound)?;
    Ok((driver, flow))
}

async fn start_get(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    session: Session,
    Path(name): Path<String>,
    form: Result<Query<StartForm>, QueryRejection>,
) -> Result<Response, AppError> {
    code_flow(&state, &name)?;
    take(&state.install_limits.starts, client)?;
    let form = form.map(|Query(form)| form).map_err(|_| bad_form());
    start(&state, &session, &name, form).await
}

async fn start_post(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    session: Session,
    Path(name): Path<String>,
    form: Result<Form<StartForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, AppError> {
    code_flow(&state, &name)?;
    take(&state.install_limits.starts, client)?;
    let form = form.map(|Form(form)| form).map_err(|_| bad_form());
    start(&state, &session, &name, form).await
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

/// Validates the store domain (where the platform asks for one; the form is read only then),
/// records a new flow and sends the merchant to the platform.
async fn start(
    state: &AppState,
    session: &Session,
    name: &str,
    form: Result<StartForm, AppError>,
) -> Result<Response, AppError> {
    let (driver, flow) = code_flow(state, name)?;
    let platform = driver.platform();
    let domain = match flow.landing().store_domain_example {
        Some(_) => {
            let typed = form?.store_domain;
            match StoreDomain::parse_typed(&typed) {
                Ok(domain) => Some(domain),
                Err(e) => return Ok(refused_domain(state, &typed, &e)),
            }
        }
        None => None,
    };
    let started = flow::start(&state.flow_context(), session, platform, domain.as_ref()).await?;
    measure::flow_started(platform.as_str());
    let url = flow.authorize_url(domain.as_ref(), &started.state, &started.pkce_challenge);
    match &domain {
        Some(domain) => {
            tracing::info!(platform = platform.as_str(), store_domain = %domain, "install started")
        }
        None => tracing::info!(platform = platform.as_str(), "install started"),
    }
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

/// `GET /oauth/{platform}/callback`: the platform sends the merchant back.
async fn callback(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    session: Session,
    Path(name): Path<String>,
    params: Result<Query<CallbackParams>, QueryRejection>,
) -> Result<Response, AppError> {
    let (driver, flow) = code_flow(&state, &name)?;
    let ended = callback_steps(&state, client, &session, driver, flow, params).await;
    counted(driver.platform(), ended)
}

/// Checks what came back, spends the state, exchanges the code and stores the install, then
/// `303`s to the success page.
async fn callback_steps(
    state: &AppState,
    client: IpAddr,
    session: &Session,
    driver: &dyn PlatformDriver,
    flow: &dyn CodeFlow,
    params: Result<Query<CallbackParams>, QueryRejection>,
) -> Result<Response, AppError> {
    let provider = driver.platform();
    let params = read_callback(params, provider)?;
    check_issuer(&params, flow.issuer(), provider)?;
    if let Some(error) = params.error.as_deref() {
        return provider_error(state, session, provider, &params, error).await;
    }
    let code = checked_code(&params, provider)?;

    let (flow_domain, verifier, initiated_by) =
        match (params.state.as_deref(), flow.stateless_callbacks()) {
            (None, StatelessCallbacks::Accepted) => {
                // Each one spends a token request with our client secret: limited per address.
                take(&state.install_limits.stateless_callbacks, client)?;
                (None, None, Initiator::Panel)
            }
            (None, StatelessCallbacks::Refused) => {
                return Err(AppError::Forbidden {
                    title: "Installs from the control panel are turned off",
                    message: "This storelink only accepts installations started from its own \
                              page. Start the installation here instead."
                        .into(),
                });
            }
            // Our state; or none, from a platform that never starts a flow itself: finishing
            // "no state" refuses it as not ours.
            (returned_state, _) => {
                let s = returned_state.unwrap_or_default();
                let returned = flow::finish(&state.flow_context(), session, provider, s).await?;
                (
                    returned.store_domain,
                    Some(returned.pkce_verifier),
                    Initiator::Storelink,
                )
            }
        };

    let now = state.clock.unix();
    let saved = flow
        .complete(
            &state.calls(),
            Exchange {
                code,
                verifier: verifier.as_ref(),
                store_domain: flow_domain,
                initiated_by,
                now,
            },
        )
        .await
        .map_err(|e| match e {
            CompleteError::Token(source) => AppError::Token {
                provider: provider.display_name(),
                source,
            },
            CompleteError::Internal(e) => AppError::Internal(e),
        })?;
    // A panel install names its store only to a browser that has started flows here: anyone
    // can send a victim's browser to the callback with a code for the sender's own store.
    let named = match initiated_by {
        Initiator::Storelink => true,
        Initiator::Panel => flow::has_started_flows(session).await?,
    };
    let order_updates = named && driver.inbound().is_some();
    installed::completed(session, saved, order_updates, named, now).await
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
