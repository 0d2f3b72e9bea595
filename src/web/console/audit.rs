//! `GET /console/audit`: the whole audit log, newest first, filterable by install and action.

use askama::Template;
use axum::{
    extract::{Query, State, rejection::QueryRejection},
    response::Response,
};
use serde::Deserialize;

use super::{
    auth::Operator,
    shared::{AuditRow, Nav, Page, id_cursor, install_names, non_empty, page_range, query_string},
};
use crate::{
    db::audit::{self, Action, Filter},
    error::{AppError, render_or_plain},
    state::AppState,
};

/// Entries per page.
pub(crate) const PAGE_SIZE: i64 = 50;

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    nav: Nav,
    rows: Vec<AuditRow>,
    install: String,
    action: String,
    /// `(value, label)` of each action the filter offers.
    actions: Vec<(&'static str, &'static str)>,
    next: Option<String>,
    /// The previous page's query string, when this is not the first page.
    previous: Option<String>,
    /// "51–100 of 6,412".
    range: String,
}

/// The page's query.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct AuditQuery {
    install: Option<String>,
    action: Option<String>,
    before: Option<String>,
}

/// `GET /console/audit`.
pub(crate) async fn list(
    State(state): State<AppState>,
    operator: Operator,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Response, AppError> {
    let bad = || AppError::BadRequest {
        title: "This audit log address is not valid",
        message: "Open the audit log again from the menu.".into(),
    };
    let Query(query) = query.map_err(|_| bad())?;
    let filter = Filter {
        install_id: non_empty(&query.install),
        action: non_empty(&query.action).and_then(|a| Action::parse(&a)),
    };
    let before = id_cursor(&query.before).map_err(|_| bad())?;
    let found = audit::list(&state.db, &filter, before, PAGE_SIZE + 1).await?;
    let now = state.clock.unix();
    let action = filter.action.map(Action::as_str);
    let link = |before: Option<&str>| {
        query_string(&[
            ("install", filter.install_id.as_deref()),
            ("action", action),
            ("before", before),
        ])
    };
    let page = Page::new(found, PAGE_SIZE, before.is_none(), link, |last| {
        last.id.to_string()
    })
    .map(|e| AuditRow::new(e, now));
    let mut rows = page.rows;
    let names = install_names(&state, rows.iter().map(|r| r.install_id.as_str())).await?;
    for row in &mut rows {
        if let Some(name) = names.get(&row.install_id) {
            row.install_name.clone_from(name);
        }
    }
    let (matching, earlier) = audit::position(&state.db, &filter, before).await?;
    let previous = match before {
        Some(before) => Some(
            match audit::previous_before(&state.db, &filter, before, PAGE_SIZE).await? {
                Some(start) => link(Some(&start.to_string())),
                None => link(None),
            },
        ),
        None => None,
    };
    let range = page_range(earlier, rows.len(), matching);
    Ok(render_or_plain(&AuditPage {
        nav: Nav::from(&operator),
        rows,
        install: filter.install_id.clone().unwrap_or_default(),
        action: action.unwrap_or_default().to_owned(),
        actions: Action::ALL
            .iter()
            .map(|a| (a.as_str(), a.label()))
            .collect(),
        range,
        next: page.next,
        previous,
    }))
}
