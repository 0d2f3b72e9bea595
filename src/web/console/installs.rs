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
    auth::{Operator, verify_csrf},
    budgets::{self, BudgetSection},
    dashboard::{self, Dashboard},
    shared::{
        AuditRow, CsrfForm, EventRow, Flash, FlashKind, InstallRow, Moment, Nav, Page,
        find_install, flash, non_empty, page_range, query_string, take_flash, thousands,
    },
};
use crate::{
    clock::fmt_time,
    db::{
        api_keys, audit, credentials, events, health,
        installs::{self, Cursor, Install, ListFilter, Revoked},
        token_state,
    },
    domain::{AuthKind, HealthState, Initiator, InstallStatus, Platform, Reason},
    error::{AppError, render_or_plain},
    platforms::{driver::WebhookTexts, kit::webhook_keys},
    state::AppState,
};

/// Rows per page.
pub(crate) const PAGE_SIZE: i64 = 50;
/// Events shown on a store's page.
const RECENT_EVENTS: i64 = 20;

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

/// A choice in a filter: its value and its label.
type Choice = (&'static str, &'static str);

/// The platforms the filter offers.
fn platform_choices() -> Vec<Choice> {
    Platform::ALL
        .iter()
        .map(|p| (p.as_str(), p.short_name()))
        .collect()
}

/// The statuses the filter offers, in the order the page shows them.
fn status_choices() -> Vec<Choice> {
    InstallStatus::ALL
        .iter()
        .map(|s| (s.as_str(), s.label()))
        .collect()
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
    rows: Vec<InstallRow>,
    provider: String,
    status: String,
    health: String,
    q: String,
    providers: Vec<Choice>,
    statuses: Vec<Choice>,
    healths: Vec<Choice>,
    next: Option<String>,
    /// The previous page's query string, when this is not the first page.
    previous: Option<String>,
    /// "51–100 of 6,412".
    range: String,
    /// How many stores match the filters, written out ("6,412").
    matching: String,
    /// The last 30 days at a glance.
    dashboard: Dashboard,
    /// Order notifications per status over the last 24 hours.
    event_counts: Vec<(&'static str, i64)>,
}

/// The list's query: filters and the cursor.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    provider: Option<String>,
    status: Option<String>,
    health: Option<String>,
    q: Option<String>,
    after: Option<String>,
}

/// `GET /console`.
pub(crate) async fn list(
    State(state): State<AppState>,
    operator: Operator,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, AppError> {
    let Query(query) = query.map_err(|_| bad_query())?;
    let filter = ListFilter {
        platform: non_empty(&query.provider).and_then(|p| Platform::parse(&p)),
        status: non_empty(&query.status).and_then(|s| InstallStatus::parse(&s)),
        search: non_empty(&query.q),
        account: None,
        health: non_empty(&query.health).and_then(|h| HealthState::parse(&h)),
    };
    let cursor = match non_empty(&query.after) {
        Some(text) => Some(Cursor::decode(&text).ok_or_else(bad_query)?),
        None => None,
    };

    let found = installs::list(&state.db, &filter, cursor.as_ref(), PAGE_SIZE + 1).await?;
    let now = state.clock.unix();
    let link = |after: Option<&str>| {
        query_string(&[
            ("provider", filter.platform.map(Platform::as_str)),
            ("status", filter.status.map(InstallStatus::as_str)),
            ("health", filter.health.map(HealthState::as_str)),
            ("q", filter.search.as_deref()),
            ("after", after),
        ])
    };
    let page = Page::new(found, PAGE_SIZE, cursor.is_none(), link, |last| {
        Cursor {
            updated_at: last.updated_at,
            id: last.id.clone(),
        }
        .encode()
    });
    let standing = installs::position(&state.db, &filter, cursor.as_ref()).await?;
    let previous = match &cursor {
        Some(cursor) => Some(
            match installs::previous_cursor(&state.db, &filter, cursor, PAGE_SIZE).await? {
                Some(earlier) => link(Some(&earlier.encode())),
                None => link(None),
            },
        ),
        None => None,
    };

    let by_status = installs::count_by_status(&state.db).await?;
    let counts: Vec<Count> = InstallStatus::ALL
        .iter()
        .map(|&status| Count {
            status: status.as_str(),
            label: status.label(),
            count: by_status
                .iter()
                .find(|(s, _)| *s == status)
                .map(|(_, n)| *n)
                .unwrap_or(0),
        })
        .collect();
    let needs_attention = counts
        .iter()
        .find(|c| c.status == InstallStatus::NeedsAttention.as_str())
        .map_or(0, |c| c.count);
    let dashboard = dashboard::read(&state, needs_attention).await?;
    let day_ago = state.clock.unix() - 24 * 60 * 60;
    let event_counts = events::counts_by_status_since(&state.db, day_ago)
        .await?
        .into_iter()
        .map(|(status, n)| (status.map(|s| s.as_str()).unwrap_or_default(), n))
        .collect();
    let ids: Vec<&str> = page.rows.iter().map(|i| i.id.as_str()).collect();
    let healths = health::of_installs(&state.db, &ids).await?;
    // A search stops counting at a cap: "1–50 of 1,000+".
    let mut range = page_range(standing.before, page.rows.len(), standing.total);
    if standing.at_least && !range.is_empty() {
        range.push('+');
    }
    Ok(render_or_plain(&ListPage {
        nav: Nav::from(&operator),
        total: counts.iter().map(|c| c.count).sum(),
        counts,
        rows: page
            .rows
            .iter()
            .map(|i| InstallRow::new(i, now).with_health(healths.get(&i.id)))
            .collect(),
        provider: filter
            .platform
            .map(Platform::as_str)
            .unwrap_or_default()
            .to_owned(),
        status: filter
            .status
            .map(InstallStatus::as_str)
            .unwrap_or_default()
            .to_owned(),
        q: filter.search.clone().unwrap_or_default(),
        health: filter
            .health
            .map(HealthState::as_str)
            .unwrap_or_default()
            .to_owned(),
        providers: platform_choices(),
        statuses: status_choices(),
        healths: HealthState::ALL
            .iter()
            .map(|h| (h.as_str(), h.label()))
            .collect(),
        dashboard,
        range,
        matching: format!(
            "{}{}",
            thousands(standing.total),
            if standing.at_least { "+" } else { "" }
        ),
        next: page.next,
        previous,
        event_counts,
    }))
}

fn bad_query() -> AppError {
    AppError::BadRequest {
        title: "This list address is not valid",
        message: "Open the connected stores page again from the menu.".into(),
    }
}

/// An API key's reads of the store's token, as the detail page shows them.
struct TokenReadRow {
    name: String,
    revoked: bool,
    first_read_at: String,
    last_read_at: String,
}

/// A credential as the detail page shows it.
struct CredentialRow {
    kind: String,
    key_id: String,
    sealed_at: String,
}

#[derive(Template)]
#[template(path = "console/install.html")]
struct DetailPage {
    nav: Nav,
    flash: Option<Flash>,
    row: InstallRow,
    timezone: String,
    scope: String,
    user_name: String,
    user_email: String,
    user_id: String,
    billing: Vec<(String, String)>,
    initiated_by: &'static str,
    last_installed_at: Moment,
    credentials: Vec<CredentialRow>,
    /// Which API keys read the access token, and when.
    token_reads: Vec<TokenReadRow>,
    history: Vec<AuditRow>,
    /// Order notifications: where the platform sends them, whether a key is set, the latest.
    webhook: Option<WebhookSection>,
    /// How the connection authenticates and when its access token expires.
    tokens: Option<TokenSection>,
    /// What its checks found, and what to do when it needs attention.
    health: HealthSection,
    /// Its rate budgets.
    budgets: BudgetSection,
}

/// Why an install needs attention, and the ways out.
struct Attention {
    /// What happened, in words.
    label: &'static str,
    /// What to do about it.
    remedy: &'static str,
    /// A link the merchant can follow to connect again (code-flow installs), bringing this same
    /// install back.
    reconnect_url: Option<String>,
    /// Where the operator's own "Reconnect" button posts (code-flow installs), the platform's
    /// short name for it, and the store's domain it sends (empty for platforms without one).
    reconnect: Option<(String, &'static str, String)>,
    /// The form that takes new credentials, for a connection an operator added.
    renew_url: Option<String>,
}

/// The detail page's health section.
struct HealthSection {
    /// The state's name (for CSS) and label.
    state: (&'static str, &'static str),
    /// The last check, the last success, the next check.
    checked_at: Option<Moment>,
    last_ok_at: Option<Moment>,
    next_check_at: Option<Moment>,
    /// Failures in a row, and the last one.
    failures: i64,
    last_error: String,
    /// Why it needs attention and what to do, when it does.
    attention: Option<Attention>,
}

/// The detail page's order-notifications section (installs of platforms that send them).
struct WebhookSection {
    url: String,
    /// The platform's words for the set-up.
    texts: &'static WebhookTexts,
    has_key: bool,
    events: Vec<EventRow>,
}

/// `GET /console/installs/{id}`.
pub(crate) async fn detail(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let install = find_install(&state, &id).await?;
    let now = state.clock.unix();
    let flash = take_flash(&operator.session).await?;
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
        .map(|e| AuditRow::new(e, now))
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
    let webhook = match state.platforms.get(install.platform).inbound() {
        Some(inbound) => Some(WebhookSection {
            url: inbound.url(&state.public_url, &install.id).to_string(),
            texts: inbound.texts(),
            has_key: webhook_keys::has_webhook_key(&state.db, &install.id).await?,
            events: events::latest_for_install(&state.db, &install.id, RECENT_EVENTS)
                .await?
                .into_iter()
                .map(|e| EventRow::new(e, now))
                .collect(),
        }),
        None => None,
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
        row: InstallRow::new(&install, now),
        timezone: install.timezone.clone().unwrap_or_default(),
        scope: install.scope.clone().unwrap_or_default(),
        user_name,
        user_email: install.user_email.clone().unwrap_or_default(),
        user_id: install.user_id.clone().unwrap_or_default(),
        billing,
        initiated_by: match (install.auth_kind, install.initiated_by) {
            (AuthKind::ClientCredentials | AuthKind::Password | AuthKind::ApiKey, _) => {
                "by an operator, with credentials entered in the console or through the API"
            }
            (AuthKind::Code, Initiator::Panel) => "from the platform's control panel",
            (AuthKind::Code, Initiator::Storelink) => "from storelink's install page",
        },
        last_installed_at: Moment::new(install.last_installed_at, now),
        credentials,
        token_reads: api_keys::token_reads(&state.db, &install.id)
            .await?
            .into_iter()
            .map(|r| TokenReadRow {
                name: r.name,
                revoked: r.revoked,
                first_read_at: fmt_time(r.first_read_at),
                last_read_at: fmt_time(r.last_read_at),
            })
            .collect(),
        history,
        webhook,
        health: health_section(&state, &install, now).await?,
        budgets: budgets::section(&state, &install, now).await,
        tokens: token_section(&state, &install).await?,
    }))
}

/// The health section of `install`'s page at `now`.
async fn health_section(
    state: &AppState,
    install: &Install,
    now: i64,
) -> Result<HealthSection, AppError> {
    let found = health::find(&state.db, &install.id).await?;
    let attention =
        (install.status == InstallStatus::NeedsAttention).then(|| attention(state, install));
    Ok(HealthSection {
        state: (found.state().as_str(), found.state().label()),
        checked_at: found.checked_at.map(|at| Moment::new(at, now)),
        last_ok_at: found.last_ok_at.map(|at| Moment::new(at, now)),
        next_check_at: found
            .next_check_at
            .filter(|_| install.status != InstallStatus::Revoked)
            .map(|at| Moment::new(at, now)),
        failures: found.consecutive_failures,
        last_error: found.last_error.clone().unwrap_or_default(),
        attention,
    })
}

/// Why `install` (which needs attention) does, and the ways out: a reconnect link for a
/// connection a merchant authorized, the credentials form for one an operator added.
fn attention(state: &AppState, install: &Install) -> Attention {
    let reason = install.attention_reason.as_deref().and_then(Reason::parse);
    let code_flow = install.auth_kind == AuthKind::Code
        && state.platforms.get(install.platform).code_flow().is_some();
    let path = format!("/install/{}", install.platform.as_str());
    let reconnect_url = code_flow.then(|| {
        let mut url = state.public_url.clone();
        url.set_path(&path);
        if let Some(domain) = &install.store_domain {
            url.query_pairs_mut().append_pair("store_domain", domain);
        }
        url.to_string()
    });
    Attention {
        // Installs marked before reasons were kept have none: say what is known.
        label: reason.map_or("storelink can no longer get access tokens", Reason::label),
        remedy: reason.map_or(
            "Its history below says why. Reconnect it, or enter new credentials.",
            Reason::remedy,
        ),
        reconnect_url,
        reconnect: code_flow.then(|| {
            let domain = install.store_domain.clone().unwrap_or_default();
            (path, install.platform.short_name(), domain)
        }),
        renew_url: renew_url(install, install.client_id.as_deref()),
    }
}

/// The form that takes new credentials for a connection an operator added, prefilled with
/// what identifies it (none of it secret); none for a connection a merchant authorized.
fn renew_url(install: &Install, client_id: Option<&str>) -> Option<String> {
    if install.auth_kind == AuthKind::Code {
        return None;
    }
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("name", install.display_name());
    for (name, value) in [
        ("client_id", client_id),
        ("store_domain", install.store_domain.as_deref()),
        ("username", install.username.as_deref()),
    ] {
        if let Some(value) = value {
            query.append_pair(name, value);
        }
    }
    Some(format!(
        "/console/connections/{}/new?{}",
        install.platform.as_str(),
        query.finish()
    ))
}

/// What the detail page shows of a connection's credentials and token.
struct TokenSection {
    /// How the connection authenticates, in words.
    kind: &'static str,
    /// The client id an operator entered.
    client_id: String,
    /// The user an operator entered (OrderCloud's password grant, a Maropost key's user).
    username: String,
    /// Where API calls go, when fixed at connection time.
    api_url: String,
    /// Whether the connection has an access token that expires (a Maropost API key has not).
    expires: bool,
    /// "expires in 95 s (…)", "expired 12 s ago; renewed at next use", "none stored".
    expiry: String,
    /// When the token was last obtained.
    refreshed_at: String,
}

/// The token section of `install`'s page: for installs whose tokens expire and every
/// connection an operator added (an install with only a permanent token has none).
async fn token_section(
    state: &AppState,
    install: &Install,
) -> Result<Option<TokenSection>, AppError> {
    let driver = state.platforms.get(install.platform);
    if driver.permanent_token(install.auth_kind) {
        return Ok(None);
    }
    let Some(token) = token_state::load(&state.db, &install.id).await? else {
        return Ok(None);
    };
    let kind = token.auth_kind;
    let now = state.clock.unix();
    let expiry = match token.token_expires_at {
        _ if install.status != InstallStatus::Active => "none stored".to_owned(),
        Some(at) if at > now => format!("expires in {} s ({})", at - now, fmt_time(at)),
        Some(at) => format!(
            "expired {} s ago ({}); a new one is obtained at next use",
            now - at,
            fmt_time(at)
        ),
        None => "none stored".to_owned(),
    };
    Ok(Some(TokenSection {
        kind: driver.describes(kind),
        client_id: token.client_id.clone().unwrap_or_default(),
        username: token.username.clone().unwrap_or_default(),
        api_url: token.api_url.clone().unwrap_or_default(),
        expires: kind != AuthKind::ApiKey,
        expiry,
        refreshed_at: token.token_refreshed_at.map(fmt_time).unwrap_or_default(),
    }))
}

#[derive(Template)]
#[template(path = "console/revoke.html")]
struct ConfirmPage {
    nav: Nav,
    row: InstallRow,
}

/// `GET /console/installs/{id}/revoke`: the confirmation step.
pub(crate) async fn confirm_revoke(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let install = find_install(&state, &id).await?;
    Ok(render_or_plain(&ConfirmPage {
        nav: Nav::from(&operator),
        row: InstallRow::new(&install, state.clock.unix()),
    }))
}

/// `POST /console/installs/{id}/revoke`: revokes and erases credentials; idempotent.
pub(crate) async fn revoke(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
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
    let (kind, message) = match outcome {
        Revoked::Now { erased } => {
            tracing::info!(install_id = %install.id, operator = operator.id, erased, "install revoked");
            let message = format!(
                "{} is revoked: {erased} stored credential(s) erased. Remember that the merchant \
                 still has to remove the add-on on the platform.",
                install.display_name()
            );
            (FlashKind::Success, message)
        }
        Revoked::Already => (
            FlashKind::Warning,
            format!(
                "{} was already revoked; nothing changed.",
                install.display_name()
            ),
        ),
        Revoked::Missing => return Err(AppError::NotFound),
    };
    flash(&operator, kind, &message).await?;
    Ok(Redirect::to(&format!("/console/installs/{}", install.id)).into_response())
}
