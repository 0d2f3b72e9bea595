//! Order notifications in the console: `GET /console/events` (every event, newest first,
//! filterable by install, order id and status) and setting a store's webhook key
//! (`POST /console/installs/{id}/webhook-key`).

use askama::Template;
use axum::{
    Form,
    extract::{Path, Query, State, rejection::QueryRejection},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;

use super::{Nav, auth::Operator, auth::verify_csrf, fmt_time, non_empty, query_string};
use crate::{
    app::AppState,
    db::{
        audit::{self, Action},
        events::{self, Event, Filter},
    },
    error::{AppError, render_or_plain},
    webhooks::{self, SetKeyError, event::OrderStatus},
};

/// Events per page.
pub const PAGE_SIZE: i64 = 50;

/// An event as the pages show it.
pub struct EventRow {
    /// Its install.
    pub install_id: String,
    /// `<EventID>`.
    pub event_id: String,
    /// `<EventType>`.
    pub event_type: String,
    /// `<OrderID>`.
    pub order_id: String,
    /// `<OrderStatus>`.
    pub order_status: String,
    /// `<CurrentTime>` as sent.
    pub sent_time: String,
    /// When storelink stored it.
    pub received_at: String,
}

impl From<Event> for EventRow {
    fn from(e: Event) -> Self {
        Self {
            install_id: e.install_id,
            event_id: e.event_id,
            event_type: e.event_type,
            order_id: e.order_id.unwrap_or_default(),
            order_status: e.order_status.unwrap_or_default(),
            sent_time: e.sent_time.unwrap_or_default(),
            received_at: fmt_time(e.received_at),
        }
    }
}

#[derive(Template)]
#[template(path = "console/events.html")]
struct EventsPage {
    nav: Nav,
    rows: Vec<EventRow>,
    install: String,
    order: String,
    status: String,
    statuses: Vec<&'static str>,
    next: Option<String>,
    first: Option<String>,
}

/// The page's query.
#[derive(Debug, Default, Deserialize)]
pub struct EventsQuery {
    install: Option<String>,
    order: Option<String>,
    status: Option<String>,
    before: Option<String>,
}

/// `GET /console/events`.
pub async fn list(
    State(state): State<AppState>,
    operator: Operator,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Response, AppError> {
    let bad = || AppError::BadRequest {
        title: "This events address is not valid",
        message: "Open the events page again from the menu.".into(),
    };
    let Query(query) = query.map_err(|_| bad())?;
    let filter = Filter {
        install_id: non_empty(&query.install),
        order_id: non_empty(&query.order),
        status: non_empty(&query.status)
            .and_then(|s| OrderStatus::parse(&s))
            .map(|s| s.as_str().to_owned()),
    };
    let before = match non_empty(&query.before) {
        Some(text) => Some(text.parse::<i64>().map_err(|_| bad())?),
        None => None,
    };
    let mut found = events::list(&state.db, &filter, before, PAGE_SIZE + 1).await?;
    let has_next = found.len() as i64 > PAGE_SIZE;
    found.truncate(PAGE_SIZE as usize);
    let with = |before: Option<&str>| {
        query_string(&[
            ("install", filter.install_id.as_deref()),
            ("order", filter.order_id.as_deref()),
            ("status", filter.status.as_deref()),
            ("before", before),
        ])
    };
    let next = has_next
        .then(|| found.last())
        .flatten()
        .map(|last| with(Some(&last.id.to_string())));
    let first = before.is_some().then(|| with(None));
    Ok(render_or_plain(&EventsPage {
        nav: Nav::from(&operator),
        rows: found.into_iter().map(EventRow::from).collect(),
        install: filter.install_id.clone().unwrap_or_default(),
        order: filter.order_id.clone().unwrap_or_default(),
        status: filter.status.clone().unwrap_or_default(),
        statuses: OrderStatus::ALL.iter().map(|s| s.as_str()).collect(),
        next,
        first,
    }))
}

/// The webhook-key form's fields. The key never gets a `Debug`.
#[derive(Deserialize)]
pub struct WebhookKeyForm {
    #[serde(default)]
    webhook_key: String,
    #[serde(default)]
    csrf_token: String,
}

/// `POST /console/installs/{id}/webhook-key`: seals and stores the store's `NETOAPI_KEY`.
pub async fn set_webhook_key(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
    Form(form): Form<WebhookKeyForm>,
) -> Result<Response, AppError> {
    verify_csrf(&operator.session, &form.csrf_token).await?;
    let now = state.clock.unix();
    match webhooks::set_webhook_key(&state.db, &state.keyring, &id, &form.webhook_key, now).await {
        Ok(()) => {}
        Err(SetKeyError::Invalid(e)) => {
            return Err(AppError::BadRequest {
                title: "This webhook key cannot be used",
                message: format!(
                    "{}. Nothing was changed.",
                    crate::error::capitalize(&e.to_string())
                ),
            });
        }
        Err(SetKeyError::UnknownInstall) => return Err(AppError::NotFound),
        Err(SetKeyError::Revoked) => {
            return Err(AppError::BadRequest {
                title: "This install is revoked",
                message: "A revoked install keeps no credentials; it needs to be installed again \
                          before it can receive notifications."
                    .into(),
            });
        }
        Err(SetKeyError::Database(e)) => return Err(e.into()),
    }
    audit::record_now(
        &state.db,
        now,
        &operator.actor(),
        Action::WebhookKeySet,
        Some(&id),
        "webhook key set (sealed)",
    )
    .await?;
    super::installs::flash(
        &operator,
        "The webhook key is saved. Notifications sent with it will now be accepted.",
    )
    .await?;
    Ok(Redirect::to(&format!("/console/installs/{id}")).into_response())
}
