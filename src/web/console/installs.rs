//! Connected stores: the list (`GET /console`), one store (`GET /console/installs/{id}`), and
//! revoking it (a confirmation page, then `POST /console/installs/{id}/revoke`).

use askama::Template;
use axum::{
    Form,
    extract::{Path, Query, State, rejection::QueryRejection},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;

use super::{
    Nav, auth::Operator, auth::verify_csrf, events::EventRow, fmt_time, non_empty, query_string,
};
use crate::{
    app::AppState,
    db::{
        audit, credentials, events,
        installs::{self, Cursor, Install, ListFilter, Revoked},
    },
    error::{AppError, render_or_plain},
    webhooks,
};

/// Rows per page.
pub const PAGE_SIZE: i64 = 50;
/// Events shown on a store's page.
const RECENT_EVENTS: i64 = 20;
/// Session key of a one-time message for the detail page.
const FLASH_KEY: &str = "console.flash";

/// Billing address fields as Maropost names them, with their labels.
const ADDRESS_FIELDS: [(&str, &str); 8] = [
    ("company", "Company"),
    ("street1", "Street"),
    ("street2", "Street (2)"),
    ("city", "City"),
    ("state", "State"),
    ("post_code", "Post code"),
    ("country_name", "Country"),
    ("country_code", "Country code"),
];

/// Statuses, in the order the page shows them.
const STATUSES: [(&str, &str); 3] = [
    ("active", "Active"),
    ("needs_attention", "Needs attention"),
    ("revoked", "Revoked"),
];
/// Providers the filter offers.
const PROVIDERS: [(&str, &str); 2] = [("maropost", "Maropost"), ("bol", "bol.com")];

fn status_label(status: &str) -> &'static str {
    STATUSES
        .iter()
        .find(|(s, _)| *s == status)
        .map(|(_, l)| *l)
        .unwrap_or("Unknown")
}

fn provider_label(provider: &str) -> &'static str {
    PROVIDERS
        .iter()
        .find(|(p, _)| *p == provider)
        .map(|(_, l)| *l)
        .unwrap_or("Other")
}

/// One row of the list, ready to show.
struct Row {
    id: String,
    provider: &'static str,
    name: String,
    domain: String,
    account_id: String,
    status: String,
    status_label: &'static str,
    installed_at: String,
    updated_at: String,
}

impl From<&Install> for Row {
    fn from(i: &Install) -> Self {
        Self {
            id: i.id.clone(),
            provider: provider_label(&i.provider),
            name: i.store_name.clone().unwrap_or_default(),
            domain: i.store_domain.clone().unwrap_or_default(),
            account_id: i.account_id.clone(),
            status: i.status.clone(),
            status_label: status_label(&i.status),
            installed_at: fmt_time(i.installed_at),
            updated_at: fmt_time(i.updated_at),
        }
    }
}

struct Count {
    status: &'static str,
    label: &'static str,
    count: i64,
}

#[derive(Template)]
#[template(path = "console/installs.html")]
struct ListPage {
    nav: Nav,
    counts: Vec<Count>,
    total: i64,
    rows: Vec<Row>,
    provider: String,
    status: String,
    q: String,
    providers: &'static [(&'static str, &'static str)],
    statuses: &'static [(&'static str, &'static str)],
    next: Option<String>,
    first: Option<String>,
    /// Order notifications per status over the last 24 hours.
    event_counts: Vec<(String, i64)>,
}

/// The list's query: filters and the cursor.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    provider: Option<String>,
    status: Option<String>,
    q: Option<String>,
    after: Option<String>,
}

/// `GET /console`.
pub async fn list(
    State(state): State<AppState>,
    operator: Operator,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, AppError> {
    let Query(query) = query.map_err(|_| bad_query())?;
    let filter = ListFilter {
        provider: non_empty(&query.provider).filter(|p| PROVIDERS.iter().any(|(k, _)| k == p)),
        status: non_empty(&query.status).filter(|s| STATUSES.iter().any(|(k, _)| k == s)),
        search: non_empty(&query.q),
    };
    let cursor = match non_empty(&query.after) {
        Some(text) => Some(Cursor::decode(&text).ok_or_else(bad_query)?),
        None => None,
    };

    // One row more than a page tells whether there is a next page.
    let mut found = installs::list(&state.db, &filter, cursor.as_ref(), PAGE_SIZE + 1).await?;
    let has_next = found.len() as i64 > PAGE_SIZE;
    found.truncate(PAGE_SIZE as usize);
    let filters = |after: Option<&str>| {
        query_string(&[
            ("provider", filter.provider.as_deref()),
            ("status", filter.status.as_deref()),
            ("q", filter.search.as_deref()),
            ("after", after),
        ])
    };
    let next = has_next.then(|| found.last()).flatten().map(|last| {
        filters(Some(
            &Cursor {
                updated_at: last.updated_at,
                id: last.id.clone(),
            }
            .encode(),
        ))
    });
    let first = cursor.is_some().then(|| filters(None));

    let by_status = installs::count_by_status(&state.db).await?;
    let counts: Vec<Count> = STATUSES
        .iter()
        .map(|(status, label)| Count {
            status,
            label,
            count: by_status
                .iter()
                .find(|(s, _)| s == status)
                .map(|(_, n)| *n)
                .unwrap_or(0),
        })
        .collect();
    let day_ago = state.clock.unix() - 24 * 60 * 60;
    let event_counts = events::counts_by_status_since(&state.db, day_ago)
        .await?
        .into_iter()
        .map(|(status, n)| (status.unwrap_or_default(), n))
        .collect();
    Ok(render_or_plain(&ListPage {
        nav: Nav::from(&operator),
        total: counts.iter().map(|c| c.count).sum(),
        counts,
        rows: found.iter().map(Row::from).collect(),
        provider: filter.provider.clone().unwrap_or_default(),
        status: filter.status.clone().unwrap_or_default(),
        q: filter.search.clone().unwrap_or_default(),
        providers: &PROVIDERS,
        statuses: &STATUSES,
        next,
        first,
        event_counts,
    }))
}

fn bad_query() -> AppError {
    AppError::BadRequest {
        title: "This list address is not valid",
        message: "Open the connected stores page again from the menu.".into(),
    }
}

/// A credential as the detail page shows it.
struct CredentialRow {
    kind: String,
    key_id: String,
    sealed_at: String,
}

/// An audit entry as pages show it.
pub struct AuditRow {
    /// Entry id.
    pub id: i64,
    /// When.
    pub at: String,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// Which install.
    pub install_id: String,
    /// More.
    pub detail: String,
}

impl From<audit::Entry> for AuditRow {
    fn from(e: audit::Entry) -> Self {
        Self {
            id: e.id,
            at: fmt_time(e.at),
            actor: e.actor,
            action: e.action,
            install_id: e.install_id.unwrap_or_default(),
            detail: e.detail,
        }
    }
}

#[derive(Template)]
#[template(path = "console/install.html")]
struct DetailPage {
    nav: Nav,
    flash: Option<String>,
    row: Row,
    timezone: String,
    scope: String,
    user_name: String,
    user_email: String,
    user_id: String,
    billing: Vec<(String, String)>,
    initiated_by: &'static str,
    last_installed_at: String,
    credentials: Vec<CredentialRow>,
    history: Vec<AuditRow>,
    /// Maropost order notifications: where to send them, whether a key is set, the latest.
    webhook: Option<WebhookSection>,
    /// bol.com: how the connection authenticates and when its access token expires.
    tokens: Option<super::connections::TokenSection>,
}

/// The detail page's order-notifications section (Maropost installs).
struct WebhookSection {
    url: String,
    has_key: bool,
    events: Vec<EventRow>,
}

/// The install with this id, or `404` (ids that cannot exist are refused without a query).
pub async fn find_install(state: &AppState, id: &str) -> Result<Install, AppError> {
    // Ids are 32 hex characters; anything else cannot exist, so don't ask the database.
    if id.len() > 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AppError::NotFound);
    }
    installs::find(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)
}

/// Leaves a one-time message for the next detail page this operator sees.
pub async fn flash(operator: &Operator, message: &str) -> Result<(), AppError> {
    operator
        .session
        .insert(FLASH_KEY, message)
        .await
        .map_err(|e| AppError::Internal(e.into()))
}

/// `GET /console/installs/{id}`.
pub async fn detail(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let install = find_install(&state, &id).await?;
    let flash: Option<String> = operator
        .session
        .remove(FLASH_KEY)
        .await
        .map_err(anyhow::Error::from)?;
    let credentials = credentials::describe(&state.db, &install.id)
        .await?
        .into_iter()
        .map(|c| CredentialRow {
            kind: c.kind.replace('_', " "),
            key_id: c.key_id,
            sealed_at: fmt_time(c.sealed_at),
        })
        .collect();
    let history = audit::for_install(&state.db, &install.id, 100)
        .await?
        .into_iter()
        .map(AuditRow::from)
        .collect();
    let billing = install
        .billing_address
        .as_deref()
        .and_then(|json| {
            serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(json).ok()
        })
        .map(|map| {
            // In the order an address is read, not the map's alphabetical order.
            ADDRESS_FIELDS
                .iter()
                .filter_map(|&(key, label)| {
                    map.get(key)
                        .and_then(|v| v.as_str())
                        .filter(|s| !s.is_empty())
                        .map(|s| (label.to_owned(), s.to_owned()))
                })
                .collect()
        })
        .unwrap_or_default();
    let webhook = match install.provider.as_str() {
        "maropost" => Some(WebhookSection {
            url: webhooks::webhook_url(&state.public_url, &install.id).to_string(),
            has_key: webhooks::has_webhook_key(&state.db, &install.id).await?,
            events: events::latest_for_install(&state.db, &install.id, RECENT_EVENTS)
                .await?
                .into_iter()
                .map(EventRow::from)
                .collect(),
        }),
        _ => None,
    };
    let user_name = [
        install.user_first_name.as_deref(),
        install.user_last_name.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    Ok(render_or_plain(&DetailPage {
        nav: Nav::from(&operator),
        flash,
        row: Row::from(&install),
        timezone: install.timezone.clone().unwrap_or_default(),
        scope: install.scope.clone().unwrap_or_default(),
        user_name,
        user_email: install.user_email.clone().unwrap_or_default(),
        user_id: install.user_id.clone().unwrap_or_default(),
        billing,
        initiated_by: match (install.auth_kind.as_str(), install.initiated_by.as_str()) {
            ("client_credentials", _) => "by an operator, with the retailer's own credentials",
            (_, "panel") => "from the platform's control panel",
            _ => "from storelink's install page",
        },
        last_installed_at: fmt_time(install.last_installed_at),
        credentials,
        history,
        webhook,
        tokens: super::connections::token_section(&state, &install).await?,
    }))
}

#[derive(Template)]
#[template(path = "console/revoke.html")]
struct ConfirmPage {
    nav: Nav,
    row: Row,
}

/// `GET /console/installs/{id}/revoke`: the confirmation step.
pub async fn confirm_revoke(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let install = find_install(&state, &id).await?;
    Ok(render_or_plain(&ConfirmPage {
        nav: Nav::from(&operator),
        row: Row::from(&install),
    }))
}

/// The revoke form's fields.
#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    csrf_token: String,
}

/// `POST /console/installs/{id}/revoke`: revokes and erases credentials; idempotent.
pub async fn revoke(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
    Form(form): Form<RevokeForm>,
) -> Result<Response, AppError> {
    verify_csrf(&operator.session, &form.csrf_token).await?;
    let install = find_install(&state, &id).await?;
    let outcome = installs::revoke(
        &state.db,
        &install.id,
        &operator.actor(),
        state.clock.unix(),
    )
    .await?;
    let message = match outcome {
        Revoked::Now { erased } => {
            tracing::info!(install_id = %install.id, operator = operator.id, erased, "install revoked");
            format!(
                "{} is revoked: {erased} stored credential(s) erased. Remember that the merchant \
                 still has to remove the add-on on the platform.",
                install.display_name()
            )
        }
        Revoked::Already => format!(
            "{} was already revoked; nothing changed.",
            install.display_name()
        ),
        Revoked::Missing => return Err(AppError::NotFound),
    };
    operator
        .session
        .insert(FLASH_KEY, message)
        .await
        .map_err(anyhow::Error::from)?;
    Ok(Redirect::to(&format!("/console/installs/{}", install.id)).into_response())
}
