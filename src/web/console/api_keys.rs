//! Keys for the vendor API in the console: the list, fifty keys a page, live ones first
//! (`GET /console/api-keys[?after=...]`), and a form to create one (`POST /console/api-keys`; a new key is shown once, on the answer to the POST), and
//! revoking one with a confirmation (`GET`/`POST /console/api-keys/{id}/revoke`). Every change is
//! audited with the operator's name, in the same transaction as the change.

use askama::Template;
use axum::{
    Form,
    extract::{Path, Query, State, rejection::QueryRejection},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;

use super::{
    auth::{Operator, verify_csrf},
    shared::{
        CsrfForm, Flash, FlashKind, Nav, Page, flash, non_empty, page_range, query_string,
        take_flash,
    },
};
use crate::{
    clock::fmt_time,
    db::api_keys::{self, ApiKey, CreateError, KeyCursor, Revoked},
    domain::{api_key::ApiKeySecret, text::shorten},
    error::{AppError, render_or_plain},
    state::AppState,
};

/// A key as the list shows it.
struct KeyRow {
    id: i64,
    name: String,
    prefix: String,
    created_at: String,
    created_by: String,
    last_used_at: String,
    revoked: bool,
}

impl From<ApiKey> for KeyRow {
    fn from(k: ApiKey) -> Self {
        Self {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            created_at: fmt_time(k.created_at),
            created_by: k.created_by,
            last_used_at: k
                .last_used_at
                .map(fmt_time)
                .unwrap_or_else(|| "never".into()),
            revoked: k.revoked_at.is_some(),
        }
    }
}

/// A key just made: shown once.
struct Created {
    name: String,
    key: String,
}

/// Keys per page.
pub(crate) const PAGE_SIZE: i64 = 50;

#[derive(Template)]
#[template(path = "console/api_keys.html")]
struct KeysPage {
    nav: Nav,
    flash: Option<Flash>,
    keys: Vec<KeyRow>,
    /// The next page's query string, when there are more keys.
    next: Option<String>,
    /// The first page's query string, when this is not the first page.
    first: Option<String>,
    /// "51–100 of 50,000".
    range: String,
    created: Option<Created>,
    name: String,
    error: Option<String>,
}

impl KeysPage {
    /// The page of keys after `after` (the first page for `None`).
    async fn load(
        state: &AppState,
        operator: &Operator,
        after: Option<KeyCursor>,
    ) -> Result<Self, AppError> {
        let found = api_keys::list_page(&state.db, after, PAGE_SIZE + 1).await?;
        let link = |after: Option<&str>| query_string(&[("after", after)]);
        let page = Page::new(found, PAGE_SIZE, after.is_none(), link, |last| {
            KeyCursor::after(last).encode()
        });
        let (total, before) = api_keys::position(&state.db, after).await?;
        Ok(Self {
            nav: Nav::from(operator),
            flash: take_flash(&operator.session).await?,
            range: page_range(before, page.rows.len(), total),
            keys: page.rows.into_iter().map(KeyRow::from).collect(),
            next: page.next,
            first: page.first,
            created: None,
            name: String::new(),
            error: None,
        })
    }
}

/// The list's query: where the page starts.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct KeysQuery {
    after: Option<String>,
}

/// `GET /console/api-keys[?after=live-42]`: a page of keys.
pub(crate) async fn list(
    State(state): State<AppState>,
    operator: Operator,
    query: Result<Query<KeysQuery>, QueryRejection>,
) -> Result<Response, AppError> {
    let bad = || AppError::BadRequest {
        title: "This page of API keys does not exist",
        message: "Open the API keys page again from the menu.".into(),
    };
    let Query(query) = query.map_err(|_| bad())?;
    let after = match non_empty(&query.after) {
        Some(text) => Some(KeyCursor::decode(&text).ok_or_else(bad)?),
        None => None,
    };
    Ok(render_or_plain(
        &KeysPage::load(&state, &operator, after).await?,
    ))
}

/// The create form's fields.
#[derive(Debug, Deserialize)]
pub(crate) struct CreateForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    name: String,
}

/// `POST /console/api-keys`: creates a key and shows it, once. The answer is the page itself
/// (no redirect), so the key is never in a URL, a session or a reload.
pub(crate) async fn create(
    State(state): State<AppState>,
    operator: Operator,
    Form(form): Form<CreateForm>,
) -> Result<Response, AppError> {
    verify_csrf(&operator.session, &form.csrf_token).await?;
    let refuse = |page: KeysPage, error: String| {
        let page = KeysPage {
            name: shorten(form.name.trim(), 64),
            error: Some(error),
            ..page
        };
        (StatusCode::BAD_REQUEST, render_or_plain(&page)).into_response()
    };
    let name = match api_keys::checked_name(&form.name) {
        Ok(name) => name,
        Err(e) => {
            let page = KeysPage::load(&state, &operator, None).await?;
            return Ok(refuse(
                page,
                format!("{}.", crate::error::capitalize(&e.to_string())),
            ));
        }
    };
    let key = ApiKeySecret::generate();
    let now = state.clock.unix();
    let actor = operator.actor();
    match api_keys::create(
        &state.db,
        &name,
        &key.hash(),
        &key.shown_prefix(),
        &actor,
        now,
    )
    .await
    {
        Ok(_) => {}
        Err(CreateError::NameTaken(_)) => {
            let page = KeysPage::load(&state, &operator, None).await?;
            let error = format!("A live key is already named {name}; choose another name.");
            return Ok(refuse(page, error));
        }
        Err(CreateError::Database(e)) => return Err(e.into()),
    }
    tracing::info!(operator = operator.id, key = %name, "API key created");
    let page = KeysPage {
        created: Some(Created {
            name,
            key: key.expose().to_owned(),
        }),
        ..KeysPage::load(&state, &operator, None).await?
    };
    Ok(render_or_plain(&page))
}

#[derive(Template)]
#[template(path = "console/api_key_revoke.html")]
struct ConfirmPage {
    nav: Nav,
    id: i64,
    name: String,
    prefix: String,
}

/// The live key with this id, or `404`.
async fn live_key(state: &AppState, id: &str) -> Result<ApiKey, AppError> {
    let id: i64 = id.parse().map_err(|_| AppError::NotFound)?;
    api_keys::find(&state.db, id)
        .await?
        .filter(|k| k.revoked_at.is_none())
        .ok_or(AppError::NotFound)
}

/// `GET /console/api-keys/{id}/revoke`: the confirmation step.
pub(crate) async fn confirm_revoke(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let key = live_key(&state, &id).await?;
    Ok(render_or_plain(&ConfirmPage {
        nav: Nav::from(&operator),
        id: key.id,
        name: key.name,
        prefix: key.prefix,
    }))
}

/// `POST /console/api-keys/{id}/revoke`.
pub(crate) async fn revoke(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, AppError> {
    verify_csrf(&operator.session, &form.csrf_token).await?;
    let key = live_key(&state, &id).await?;
    let outcome =
        api_keys::revoke_id(&state.db, key.id, &operator.actor(), state.clock.unix()).await?;
    let (kind, message) = match outcome {
        Revoked::Now => {
            tracing::info!(operator = operator.id, key = %key.name, "API key revoked");
            let message = format!(
                "API key {} is revoked: its requests are refused from now on.",
                key.name
            );
            (FlashKind::Success, message)
        }
        Revoked::Missing => (
            FlashKind::Warning,
            format!("API key {} was already revoked.", key.name),
        ),
    };
    flash(&operator, kind, &message).await?;
    Ok(Redirect::to("/console/api-keys").into_response())
}
