//! "Notifications to your backend" in the console: the endpoints notifications go to
//! (`/console/endpoints`, with a form to add one; its signing secret is shown once, on the
//! answer to the POST), and each endpoint's page (`/console/endpoints/{id}`) with its recent
//! messages and their attempts, "Send again", "Send test event", "Rotate secret", enable or
//! disable, and removal after a confirmation. Every change is CSRF-protected and audited.

use askama::Template;
use axum::{
    Form,
    body::Bytes,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use secrecy::ExposeSecret as _;

use super::{
    auth::{Operator, verify_csrf},
    shared::{CsrfForm, Flash, FlashKind, Moment, Nav, flash, install_names, take_flash},
};
use crate::{
    db::{
        endpoints::{self, Endpoint, Subscription},
        outbox,
    },
    domain::{EndpointLimits, EventType, MessageStatus, text::shorten},
    error::{AppError, render_or_plain},
    notify::{self, endpoints::EndpointError},
    state::AppState,
};

/// Messages an endpoint's page shows.
const RECENT: i64 = 50;

/// An endpoint as pages show it.
struct EndpointRow {
    id: String,
    url: String,
    events: String,
    enabled: bool,
    disabled_reason: Option<String>,
    created_at: Moment,
    last_success: Option<Moment>,
    failing_since: Option<Moment>,
    limits: String,
    rate_limit: String,
    max_in_flight: i64,
    paused_until: Option<Moment>,
}

impl EndpointRow {
    fn new(e: &Endpoint, now: i64) -> Self {
        Self {
            id: e.id.clone(),
            url: e.url.clone(),
            events: e.subscription().describe(),
            enabled: e.enabled,
            disabled_reason: e.disabled_reason.clone(),
            created_at: Moment::new(e.created_at, now),
            last_success: e.last_success_at.map(|at| Moment::new(at, now)),
            failing_since: e.failing_since.map(|at| Moment::new(at, now)),
            limits: e.limits().describe(),
            rate_limit: e.rate_limit.map(|r| r.to_string()).unwrap_or_default(),
            max_in_flight: e.max_in_flight,
            paused_until: e
                .paused_until
                .filter(|until| *until > now)
                .map(|at| Moment::new(at, now)),
        }
    }
}

/// A signing secret just made: shown once.
struct ShownSecret {
    url: String,
    secret: String,
    rotated: bool,
}

/// One event type's checkbox on the add form.
struct TypeChoice {
    name: &'static str,
    checked: bool,
}

#[derive(Template)]
#[template(path = "console/endpoints.html")]
struct EndpointsPage {
    nav: Nav,
    flash: Option<Flash>,
    endpoints: Vec<EndpointRow>,
    shown: Option<ShownSecret>,
    url: String,
    types: Vec<TypeChoice>,
    enabled: bool,
    rate_limit: String,
    max_in_flight: String,
    error: Option<String>,
}

impl EndpointsPage {
    async fn load(state: &AppState, operator: &Operator) -> Result<Self, AppError> {
        let now = state.clock.unix();
        Ok(Self {
            nav: Nav::from(operator),
            flash: take_flash(&operator.session).await?,
            endpoints: endpoints::list(&state.db)
                .await?
                .iter()
                .map(|e| EndpointRow::new(e, now))
                .collect(),
            shown: None,
            url: String::new(),
            types: choices(&Subscription::All),
            enabled: true,
            rate_limit: String::new(),
            max_in_flight: crate::domain::DEFAULT_MAX_IN_FLIGHT.to_string(),
            error: None,
        })
    }
}

fn choices(subscription: &Subscription) -> Vec<TypeChoice> {
    EventType::subscribable()
        .map(|t| TypeChoice {
            name: t.as_str(),
            checked: subscription.includes(t),
        })
        .collect()
}

/// `GET /console/endpoints`.
pub(crate) async fn list(
    State(state): State<AppState>,
    operator: Operator,
) -> Result<Response, AppError> {
    Ok(render_or_plain(
        &EndpointsPage::load(&state, &operator).await?,
    ))
}

/// The add form, read by hand: its event types are repeated `events` fields, which the plain
/// form extractor cannot collect.
struct AddForm {
    csrf_token: String,
    url: String,
    events: Vec<String>,
    enabled: bool,
    rate_limit: String,
    max_in_flight: String,
}

impl AddForm {
    fn parse(body: &[u8]) -> Self {
        let mut form = Self {
            csrf_token: String::new(),
            url: String::new(),
            events: Vec::new(),
            enabled: false,
            rate_limit: String::new(),
            max_in_flight: String::new(),
        };
        for (key, value) in url::form_urlencoded::parse(body) {
            match key.as_ref() {
                "csrf_token" => form.csrf_token = value.into_owned(),
                "url" => form.url = value.into_owned(),
                "events" if form.events.len() < 32 => form.events.push(value.into_owned()),
                "enabled" => form.enabled = true,
                "rate_limit" => form.rate_limit = shorten(value.trim(), 20),
                "max_in_flight" => form.max_in_flight = shorten(value.trim(), 20),
                _ => {}
            }
        }
        form
    }
}

/// `POST /console/endpoints`: adds an endpoint and shows its signing secret, once. The answer
/// is the page itself (no redirect), so the secret is never in a URL, a session or a reload.
pub(crate) async fn add(
    State(state): State<AppState>,
    operator: Operator,
    body: Bytes,
) -> Result<Response, AppError> {
    let form = AddForm::parse(&body);
    verify_csrf(&operator.session, &form.csrf_token).await?;
    let refuse = |page: EndpointsPage, subscription: &Subscription, error: String| {
        let page = EndpointsPage {
            url: shorten(form.url.trim(), 2000),
            types: choices(subscription),
            enabled: form.enabled,
            rate_limit: form.rate_limit.clone(),
            max_in_flight: form.max_in_flight.clone(),
            error: Some(error),
            ..page
        };
        (StatusCode::BAD_REQUEST, render_or_plain(&page)).into_response()
    };
    let subscription = match Subscription::parse(&form.events.join(",")) {
        Ok(_) if form.events.is_empty() => {
            let page = EndpointsPage::load(&state, &operator).await?;
            let error = "Choose at least one event type to send.".to_owned();
            return Ok(refuse(page, &Subscription::Only(Vec::new()), error));
        }
        Ok(subscription) => subscription,
        Err(e) => {
            let page = EndpointsPage::load(&state, &operator).await?;
            return Ok(refuse(page, &Subscription::All, format!("{e}.")));
        }
    };
    // Every type ticked is "all": types added later are sent too.
    let subscription = match subscription {
        Subscription::Only(types) if types.len() == EventType::subscribable().count() => {
            Subscription::All
        }
        other => other,
    };
    let limits = match limits(&form.rate_limit, &form.max_in_flight) {
        Ok(limits) => limits,
        Err(error) => {
            let page = EndpointsPage::load(&state, &operator).await?;
            return Ok(refuse(page, &subscription, error));
        }
    };
    let added = notify::endpoints::add(
        &state.notify(),
        &form.url,
        &subscription,
        limits,
        form.enabled,
        &operator.actor(),
    )
    .await;
    let (endpoint, secret) = match added {
        Ok(added) => added,
        Err(EndpointError::Database(e)) => return Err(e.into()),
        Err(e @ (EndpointError::Url(_) | EndpointError::Exists(_))) => {
            let page = EndpointsPage::load(&state, &operator).await?;
            let error = match e {
                EndpointError::Exists(url) => {
                    format!("{url} is already an endpoint; open it below to change it.")
                }
                other => other.to_string(),
            };
            return Ok(refuse(page, &subscription, error));
        }
    };
    tracing::info!(operator = operator.id, endpoint = %endpoint.id, "notification endpoint added");
    let page = EndpointsPage {
        shown: Some(ShownSecret {
            url: endpoint.url,
            secret: secret.expose_secret().to_owned(),
            rotated: false,
        }),
        ..EndpointsPage::load(&state, &operator).await?
    };
    Ok(render_or_plain(&page))
}

/// A message as an endpoint's page shows it, with its attempts.
struct MessageRow {
    id: String,
    event_type: &'static str,
    store: Option<(String, String)>,
    created_at: Moment,
    status: &'static str,
    next_attempt: Option<Moment>,
    attempts: Vec<AttemptRow>,
}

struct AttemptRow {
    at: Moment,
    status_code: String,
    ok: bool,
    latency_ms: i64,
    outcome: String,
    answer: String,
}

#[derive(Template)]
#[template(path = "console/endpoint.html")]
struct EndpointPage {
    nav: Nav,
    flash: Option<Flash>,
    endpoint: EndpointRow,
    shown: Option<ShownSecret>,
    messages: Vec<MessageRow>,
    /// Order events owed to this endpoint whose messages are not made yet.
    order_backlog: i64,
}

pub(super) async fn find(state: &AppState, id: &str) -> Result<Endpoint, AppError> {
    if id.len() != 24 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AppError::NotFound);
    }
    endpoints::find(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)
}

impl EndpointPage {
    async fn load(state: &AppState, operator: &Operator, id: &str) -> Result<Self, AppError> {
        let endpoint = find(state, id).await?;
        let now = state.clock.unix();
        let messages = outbox::recent(&state.db, &endpoint.id, RECENT).await?;
        let order_backlog = outbox::order_backlog(&state.db, &endpoint.id).await?;
        let ids: Vec<String> = messages.iter().map(|m| m.id.clone()).collect();
        let attempts = outbox::attempts_of(&state.db, &ids).await?;
        let names = install_names(
            state,
            messages.iter().filter_map(|m| m.install_id.as_deref()),
        )
        .await?;
        let messages = messages
            .into_iter()
            .map(|m| MessageRow {
                event_type: m.event_type.as_str(),
                store: m.install_id.as_ref().map(|id| {
                    let name = names.get(id).cloned().unwrap_or_else(|| id.clone());
                    (id.clone(), name)
                }),
                created_at: Moment::new(m.created_at, now),
                status: m.status.as_str(),
                next_attempt: (m.status == MessageStatus::Pending)
                    .then(|| Moment::new(m.next_attempt_at, now)),
                attempts: attempts
                    .iter()
                    .filter(|a| a.message_id == m.id)
                    .map(|a| AttemptRow {
                        at: Moment::new(a.attempted_at, now),
                        status_code: a
                            .status_code
                            .map(|c| c.to_string())
                            .unwrap_or_else(|| "none".into()),
                        ok: a.status_code.is_some_and(|c| (200..300).contains(&c)),
                        latency_ms: a.latency_ms,
                        outcome: a.outcome.clone(),
                        answer: a.answer.clone().unwrap_or_default(),
                    })
                    .collect(),
                id: m.id,
            })
            .collect();
        Ok(Self {
            nav: Nav::from(operator),
            flash: take_flash(&operator.session).await?,
            endpoint: EndpointRow::new(&endpoint, now),
            shown: None,
            messages,
            order_backlog,
        })
    }
}

/// The limits as typed: an empty rate is no limit.
pub(super) fn limits(rate_limit: &str, max_in_flight: &str) -> Result<EndpointLimits, String> {
    let number = |text: &str, what: &str| {
        text.trim()
            .parse::<i64>()
            .map_err(|_| format!("{what} must be a whole number from 1 to 1000."))
    };
    let rate = match rate_limit.trim() {
        "" => None,
        text => Some(number(text, "Messages a second")?),
    };
    let most = match max_in_flight.trim() {
        "" => i64::from(crate::domain::DEFAULT_MAX_IN_FLIGHT),
        text => number(text, "Messages in flight")?,
    };
    EndpointLimits::new(rate, most).map_err(|(field, _)| match field {
        "rate_limit" => {
            "Messages a second must be a whole number from 1 to 1000, or empty.".to_owned()
        }
        _ => "Messages in flight must be a whole number from 1 to 1000.".to_owned(),
    })
}

/// `GET /console/endpoints/{id}`.
pub(crate) async fn detail(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    Ok(render_or_plain(
        &EndpointPage::load(&state, &operator, &id).await?,
    ))
}

pub(super) fn back_to(endpoint: &Endpoint) -> Response {
    Redirect::to(&format!("/console/endpoints/{}", endpoint.id)).into_response()
}

/// `POST /console/endpoints/{id}/test`: queues a `ping` for this endpoint.
pub(crate) async fn send_test(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, AppError> {
    verify_csrf(&operator.session, &form.csrf_token).await?;
    let endpoint = find(&state, &id).await?;
    notify::endpoints::send_test(&state.notify(), &endpoint, &operator.actor()).await?;
    state.notifier.wake();
    let message = if endpoint.enabled {
        "A test event is on its way; reload to see how it went."
    } else {
        "A test event is queued; it is sent once the endpoint is enabled."
    };
    flash(&operator, FlashKind::Success, message).await?;
    Ok(back_to(&endpoint))
}

/// `POST /console/endpoints/{id}/messages/{message}/send-again`.
pub(crate) async fn send_again(
    State(state): State<AppState>,
    operator: Operator,
    Path((id, message)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, AppError> {
    verify_csrf(&operator.session, &form.csrf_token).await?;
    let endpoint = find(&state, &id).await?;
    if !notify::endpoints::send_again(&state.notify(), &endpoint, &message, &operator.actor())
        .await?
    {
        return Err(AppError::NotFound);
    }
    state.notifier.wake();
    flash(
        &operator,
        FlashKind::Success,
        "The message is queued again, with a fresh retry schedule.",
    )
    .await?;
    Ok(back_to(&endpoint))
}

/// `POST /console/endpoints/{id}/rotate`: a new signing secret, shown once on the answer.
pub(crate) async fn rotate(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, AppError> {
    verify_csrf(&operator.session, &form.csrf_token).await?;
    let endpoint = find(&state, &id).await?;
    let secret = endpoints::rotate_secret(
        &state.db,
        &state.keyring,
        &endpoint.id,
        &operator.actor(),
        state.clock.unix(),
    )
    .await?
    .ok_or(AppError::NotFound)?;
    tracing::info!(operator = operator.id, endpoint = %endpoint.id, "endpoint secret rotated");
    let page = EndpointPage {
        shown: Some(ShownSecret {
            url: endpoint.url.clone(),
            secret: secret.expose_secret().to_owned(),
            rotated: true,
        }),
        ..EndpointPage::load(&state, &operator, &endpoint.id).await?
    };
    Ok(render_or_plain(&page))
}

/// `POST /console/endpoints/{id}/enable` and `.../disable`.
pub(crate) async fn set_enabled(
    state: &AppState,
    operator: &Operator,
    id: &str,
    csrf_token: &str,
    enabled: bool,
) -> Result<Response, AppError> {
    verify_csrf(&operator.session, csrf_token).await?;
    let endpoint = find(state, id).await?;
    endpoints::set_enabled(
        &state.db,
        &endpoint.id,
        enabled,
        &operator.actor(),
        state.clock.unix(),
    )
    .await?;
    let message = if enabled {
        state.notifier.wake();
        "Enabled: queued messages are sent now."
    } else {
        "Disabled: messages are kept and sent once it is enabled again."
    };
    flash(operator, FlashKind::Success, message).await?;
    Ok(back_to(&endpoint))
}

/// `POST /console/endpoints/{id}/enable`.
pub(crate) async fn enable(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, AppError> {
    set_enabled(&state, &operator, &id, &form.csrf_token, true).await
}

/// `POST /console/endpoints/{id}/disable`.
pub(crate) async fn disable(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, AppError> {
    set_enabled(&state, &operator, &id, &form.csrf_token, false).await
}

#[derive(Template)]
#[template(path = "console/endpoint_remove.html")]
struct ConfirmRemovePage {
    nav: Nav,
    id: String,
    url: String,
}

/// `GET /console/endpoints/{id}/remove`: the confirmation step.
pub(crate) async fn confirm_remove(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let endpoint = find(&state, &id).await?;
    Ok(render_or_plain(&ConfirmRemovePage {
        nav: Nav::from(&operator),
        id: endpoint.id,
        url: endpoint.url,
    }))
}

/// `POST /console/endpoints/{id}/remove`.
pub(crate) async fn remove(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, AppError> {
    verify_csrf(&operator.session, &form.csrf_token).await?;
    let endpoint = find(&state, &id).await?;
    endpoints::remove(
        &state.db,
        &endpoint.id,
        &operator.actor(),
        state.clock.unix(),
    )
    .await?;
    flash(
        &operator,
        FlashKind::Success,
        &format!(
            "{} is removed, with its queued messages. Nothing more is sent to it.",
            endpoint.url
        ),
    )
    .await?;
    Ok(Redirect::to("/console/endpoints").into_response())
}
