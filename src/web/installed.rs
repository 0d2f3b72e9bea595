//! The success page after an install (`GET /installed`) and, for Maropost, the merchant's own
//! order-notification set-up (`POST /installed/order-updates`).
//!
//! What it guarantees: the page shows only the install this browser just completed (kept in its
//! session). The set-up form takes a store's API key (Maropost's `NETOAPI_KEY`) only through a
//! grant written into the session of the browser that completed that install, when it did: it
//! names that one install, expires after [`ORDER_UPDATES_WINDOW`] seconds, carries its own CSRF
//! token, and is spent when a key is saved (in the database, in the same transaction: see
//! [`webhooks::set_webhook_key_once`]). Another browser, a late form, a forged form and a
//! revoked install are refused with a page that says so, and nothing is stored. The key is sealed
//! and audited by [`webhooks::set_webhook_key`], the same path as the console's, with the actor
//! `merchant`.

use askama::Template;
use axum::{
    Form, Router,
    extract::{State, rejection::FormRejection},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::{
    clock::fmt_time,
    crypto::{constant_time_eq, random_hex, sha256_hex},
    db::installs::{self, Saved},
    domain::InstallStatus,
    error::{AppError, capitalize, render_or_plain},
    platforms::{
        driver::WebhookTexts,
        kit::webhook_keys::{self as webhooks, SetKeyError},
    },
    state::AppState,
};

/// Session key of the install the success page shows.
const COMPLETED_INSTALL_KEY: &str = "install.completed";
/// Session key of the order-updates grant.
const ORDER_UPDATES_KEY: &str = "install.order_updates";
/// How long after an install its browser may set the store's webhook key, in seconds.
pub(crate) const ORDER_UPDATES_WINDOW: i64 = 30 * 60;
/// The audit log's actor for what a merchant does on these pages.
const MERCHANT: &str = "merchant";

/// The success page's routes.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/installed", get(installed))
        .route("/installed/order-updates", post(set_order_updates))
}

/// What the success page shows, kept in the session of the browser that completed the install
/// (so nobody else can look at it, and a reload shows the same page).
#[derive(Debug, Serialize, Deserialize)]
struct CompletedInstall {
    id: String,
    reinstall: bool,
    /// False for an install started from a platform's control panel and completed in a browser
    /// that never started a flow here: the page then names no store.
    #[serde(default = "yes")]
    named: bool,
}

fn yes() -> bool {
    true
}

/// The single-purpose grant: this browser may set `install_id`'s webhook key until
/// `expires_at`, once, with a form carrying `csrf_token`.
#[derive(Serialize, Deserialize)]
struct OrderUpdatesGrant {
    install_id: String,
    expires_at: i64,
    csrf_token: String,
    /// Set once a key is saved: the grant is spent, the page says it is done.
    #[serde(default)]
    done: bool,
}

/// The last step of every callback: remember the install for this browser's success page and
/// `303` there, so a reload never replays the code. `named`: whether that page may name the
/// store. `order_updates` (a named install of a platform that sends notifications) also opens
/// the order-updates grant: a store the page cannot name may be someone else's (a panel install
/// sent to this browser), and its set-up must not be offered to whoever holds this browser.
pub(crate) async fn completed(
    session: &Session,
    saved: Saved,
    order_updates: bool,
    named: bool,
    now: i64,
) -> Result<Response, AppError> {
    let grant = order_updates.then(|| OrderUpdatesGrant {
        install_id: saved.id.clone(),
        expires_at: now + ORDER_UPDATES_WINDOW,
        csrf_token: random_hex(32),
        done: false,
    });
    session
        .insert(
            COMPLETED_INSTALL_KEY,
            CompletedInstall {
                id: saved.id,
                reinstall: saved.reinstall,
                named,
            },
        )
        .await
        .map_err(AppError::from)?;
    match grant {
        Some(grant) => session.insert(ORDER_UPDATES_KEY, grant).await,
        None => session.remove_value(ORDER_UPDATES_KEY).await.map(drop),
    }
    .map_err(AppError::from)?;
    Ok(Redirect::to("/installed").into_response())
}

#[derive(Template)]
#[template(path = "installed.html")]
struct InstalledPage {
    /// Whether the page may name the store (see [`CompletedInstall::named`]).
    named: bool,
    store_name: String,
    store_domain: Option<String>,
    provider: &'static str,
    reinstall: bool,
    /// The access the platform granted, as it named it.
    scope: Option<String>,
    /// How the merchant disconnects, on their platform.
    disconnect: &'static str,
    /// The page's main button: back to where the merchant manages the store, when known.
    back_to: Option<(String, &'static str)>,
    /// The order-updates set-up (installs this page names, of platforms that send
    /// notifications).
    order_updates: Option<OrderUpdates>,
}

/// The order-updates part of the success page.
struct OrderUpdates {
    /// Where the platform should send notifications.
    webhook_url: String,
    /// The platform's words for the set-up.
    texts: &'static WebhookTexts,
    /// Where the set-up stands.
    stage: Stage,
    /// Why the key just typed was refused.
    error: Option<String>,
}

/// Where the merchant's set-up stands.
enum Stage {
    /// The form is open: its CSRF token, and until when (words).
    Open { csrf_token: String, until: String },
    /// A key was saved from this browser.
    Done,
    /// The window has passed (or this browser has no grant for this install).
    Closed,
    /// The install was revoked since: it takes no key.
    Revoked,
}

impl OrderUpdates {
    fn is_open(&self) -> bool {
        matches!(self.stage, Stage::Open { .. })
    }
}

/// `GET /installed`: shows the install this browser just completed.
async fn installed(State(state): State<AppState>, session: Session) -> Result<Response, AppError> {
    Ok(render_or_plain(&page(&state, &session, None).await?))
}

/// The success page for this browser, with `error` beside the key field.
async fn page(
    state: &AppState,
    session: &Session,
    error: Option<String>,
) -> Result<InstalledPage, AppError> {
    let completed: Option<CompletedInstall> = session
        .get(COMPLETED_INSTALL_KEY)
        .await
        .map_err(AppError::from)?;
    let completed = completed.ok_or(AppError::NotFound)?;
    let install = installs::find(&state.db, &completed.id)
        .await?
        .ok_or(AppError::NotFound)?;
    let driver = state.platforms.get(install.platform);
    let named = completed.named;
    let order_updates = match driver.inbound() {
        Some(inbound) if named => {
            let grant = grant(session).await?.filter(|g| g.install_id == install.id);
            let now = state.clock.unix();
            let stage = match grant {
                _ if install.status == InstallStatus::Revoked => Stage::Revoked,
                Some(g) if g.done => Stage::Done,
                Some(g) if g.expires_at > now => Stage::Open {
                    csrf_token: g.csrf_token,
                    until: fmt_time(g.expires_at),
                },
                _ => Stage::Closed,
            };
            Some(OrderUpdates {
                webhook_url: inbound.url(&state.public_url, &install.id).to_string(),
                texts: inbound.texts(),
                stage,
                error,
            })
        }
        _ => None,
    };
    Ok(InstalledPage {
        named,
        store_name: install.display_name().to_owned(),
        store_domain: install.store_domain.clone().filter(|_| named),
        provider: install.platform.display_name(),
        reinstall: completed.reinstall && named,
        // Where the merchant manages the store, when the page may name it.
        back_to: driver.back_link(&install).filter(|_| named),
        scope: install.scope.clone().filter(|s| named && !s.is_empty()),
        disconnect: driver.disconnect_hint(),
        order_updates,
    })
}

/// This browser's order-updates grant, if it has one.
async fn grant(session: &Session) -> Result<Option<OrderUpdatesGrant>, AppError> {
    session.get(ORDER_UPDATES_KEY).await.map_err(AppError::from)
}

/// The answer to a grant that was used already.
fn already_set_up() -> AppError {
    AppError::Gone {
        title: "Order updates are already set up",
        message: "The key was saved from this browser. To change it, ask the add-on's vendor."
            .into(),
    }
}

/// The set-up form's fields. The key never gets a `Debug`.
#[derive(Deserialize)]
struct OrderUpdatesForm {
    #[serde(default)]
    webhook_key: String,
    #[serde(default)]
    csrf_token: String,
}

/// `POST /installed/order-updates`: the merchant's store API key, sealed and stored as the
/// install's webhook key, while this browser's grant holds.
async fn set_order_updates(
    State(state): State<AppState>,
    session: Session,
    form: Result<Form<OrderUpdatesForm>, FormRejection>,
) -> Result<Response, AppError> {
    let Form(form) = form.map_err(|_| AppError::BadRequest {
        title: "This form could not be read",
        message: "Open the page you were sent to after installing and try again.".into(),
    })?;
    let not_here = || AppError::Forbidden {
        title: "Order updates cannot be set up from this browser",
        message: "This form works only in the browser that just installed the add-on. Ask the \
                  add-on's vendor to set up order updates for your store, or install the add-on \
                  again from this browser."
            .into(),
    };
    let mut grant = grant(&session).await?.ok_or_else(not_here)?;
    if grant.done {
        return Err(already_set_up());
    }
    if form.csrf_token.is_empty()
        || !constant_time_eq(grant.csrf_token.as_bytes(), form.csrf_token.as_bytes())
    {
        return Err(AppError::Forbidden {
            title: "This form has expired",
            message: "The form was missing its security token or it did not match your \
                      session. Reload the page and try again."
                .into(),
        });
    }
    let now = state.clock.unix();
    if grant.expires_at <= now {
        session
            .remove_value(ORDER_UPDATES_KEY)
            .await
            .map_err(AppError::from)?;
        return Err(AppError::Gone {
            title: "The time to set up order updates here has passed",
            message: format!(
                "The key can be entered here for {} minutes after installing. Ask the add-on's \
                 vendor to set up order updates for your store, or install the add-on again \
                 from this browser.",
                ORDER_UPDATES_WINDOW / 60
            ),
        });
    }
    // Spent in the database, with the key's store: requests racing with one grant (the session
    // says "not done" to each of them) store one key between them.
    let set = webhooks::set_webhook_key_once(
        &state.db,
        &state.keyring,
        &grant.install_id,
        &form.webhook_key,
        MERCHANT,
        now,
        &sha256_hex(grant.csrf_token.as_bytes()),
    )
    .await;
    match set {
        Ok(()) => {}
        Err(SetKeyError::GrantSpent) => return Err(already_set_up()),
        Err(SetKeyError::Invalid(e)) => {
            let page = page(&state, &session, Some(capitalize(&e.to_string()))).await?;
            let status = if page
                .order_updates
                .as_ref()
                .is_some_and(OrderUpdates::is_open)
            {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::GONE
            };
            return Ok((status, render_or_plain(&page)).into_response());
        }
        Err(SetKeyError::UnknownInstall | SetKeyError::Revoked) => {
            session
                .remove_value(ORDER_UPDATES_KEY)
                .await
                .map_err(AppError::from)?;
            return Err(AppError::Gone {
                title: "This installation is no longer active",
                message: "The add-on was removed from this store since it was installed, so \
                          it takes no key. Install the add-on again to set up order updates."
                    .into(),
            });
        }
        Err(SetKeyError::Database(e)) => return Err(e.into()),
    }
    tracing::info!(install_id = %grant.install_id, "webhook key set by the merchant");
    grant.done = true;
    session
        .insert(ORDER_UPDATES_KEY, grant)
        .await
        .map_err(AppError::from)?;
    Ok(Redirect::to("/installed#order-updates").into_response())
}
