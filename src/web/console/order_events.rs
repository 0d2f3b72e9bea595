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

use super::{
    auth::{Operator, verify_csrf},
    shared::{
        EventRow, FlashKind, Nav, Page, flash, id_cursor, install_names, non_empty, page_range,
        query_string,
    },
};
use crate::{
    db::events::{self, Filter},
    domain::OrderStatus,
    error::{AppError, capitalize, render_or_plain},
    platforms::kit::webhook_keys::{self as webhooks, SetKeyError},
    state::AppState,
};

/// Events per page.
pub(crate) const PAGE_SIZE: i64 = 50;

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
    /// The previous page's query string, when this is not the first page.
    previous: Option<String>,
    /// "51–100 of 6,412".
    range: String,
}

/// The page's query.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct EventsQuery {
    install: Option<String>,
    order: Option<String>,
    status: Option<String>,
    before: Option<String>,
}

/// `GET /console/events`.
pub(crate) async fn list(
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
        status: non_empty(&query.status).and_then(|s| OrderStatus::parse(&s)),
    };
    let before = id_cursor(&query.before).map_err(|_| bad())?;
    let found = events::list(&state.db, &filter, before, PAGE_SIZE + 1).await?;
    let now = state.clock.unix();
    let link = |before: Option<&str>| {
        query_string(&[
            ("install", filter.install_id.as_deref()),
            ("order", filter.order_id.as_deref()),
            ("status", filter.status.map(OrderStatus::as_str)),
            ("before", before),
        ])
    };
    let page = Page::new(found, PAGE_SIZE, before.is_none(), link, |last| {
        last.id.to_string()
    })
    .map(|e| EventRow::new(e, now));
    let mut rows = page.rows;
    let names = install_names(&state, rows.iter().map(|r| r.install_id.as_str())).await?;
    for row in &mut rows {
        if let Some(name) = names.get(&row.install_id) {
            row.install_name.clone_from(name);
        }
    }
    let (matching, earlier) = events::position(&state.db, &filter, before).await?;
    let previous = match before {
        Some(before) => Some(
            match events::previous_before(&state.db, &filter, before, PAGE_SIZE).await? {
                Some(start) => link(Some(&start.to_string())),
                None => link(None),
            },
        ),
        None => None,
    };
    let range = page_range(earlier, rows.len(), matching);
    Ok(render_or_plain(&EventsPage {
        nav: Nav::from(&operator),
        rows,
        install: filter.install_id.clone().unwrap_or_default(),
        order: filter.order_id.clone().unwrap_or_default(),
        status: filter
            .status
            .map(OrderStatus::as_str)
            .unwrap_or_default()
            .to_owned(),
        statuses: OrderStatus::ALL.iter().map(|s| s.as_str()).collect(),
        next: page.next,
        previous,
        range,
    }))
}

/// The webhook-key form's fields. The key never gets a `Debug`.
#[derive(Deserialize)]
pub(crate) struct WebhookKeyForm {
    #[serde(default)]
    webhook_key: String,
    #[serde(default)]
    csrf_token: String,
}

/// `POST /console/installs/{id}/webhook-key`: seals and stores the store's `NETOAPI_KEY`.
pub(crate) async fn set_webhook_key(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
    Form(form): Form<WebhookKeyForm>,
) -> Result<Response, AppError> {
    verify_csrf(&operator.session, &form.csrf_token).await?;
    let now = state.clock.unix();
    let actor = operator.actor();
    let set = webhooks::set_webhook_key(
        &state.db,
        &state.keyring,
        &id,
        &form.webhook_key,
        &actor,
        now,
    )
    .await;
    match set {
        Ok(()) => {}
        Err(SetKeyError::Invalid(e)) => {
            return Err(AppError::BadRequest {
                title: "This webhook key cannot be used",
                message: format!("{}. Nothing was changed.", capitalize(&e.to_string())),
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
        // The console's form holds no single-use grant.
        Err(e @ SetKeyError::GrantSpent) => return Err(anyhow::Error::from(e).into()),
    }
    flash(
        &operator,
        FlashKind::Success,
        "The webhook key is saved. Notifications sent with it will now be accepted.",
    )
    .await?;
    Ok(Redirect::to(&format!("/console/installs/{id}")).into_response())
}
