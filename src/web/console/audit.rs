//! `GET /console/audit`: the whole audit log, newest first, filterable by install and action.

use askama::Template;
use axum::{
    extract::{Query, State, rejection::QueryRejection},
    response::Response,
};
use serde::Deserialize;

use super::{Nav, auth::Operator, installs::AuditRow, non_empty, query_string};
use crate::{
    app::AppState,
    db::audit::{self, Action, Filter},
    error::{AppError, render_or_plain},
};

/// Entries per page.
pub const PAGE_SIZE: i64 = 50;

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    nav: Nav,
    rows: Vec<AuditRow>,
    install: String,
    action: String,
    actions: Vec<&'static str>,
    next: Option<String>,
    first: Option<String>,
}

/// The page's query.
#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    install: Option<String>,
    action: Option<String>,
    before: Option<String>,
}

/// `GET /console/audit`.
pub async fn list(
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
    let before = match non_empty(&query.before) {
        Some(text) => Some(text.parse::<i64>().map_err(|_| bad())?),
        None => None,
    };
    let mut rows = audit::list(&state.db, &filter, before, PAGE_SIZE + 1).await?;
    let has_next = rows.len() as i64 > PAGE_SIZE;
    rows.truncate(PAGE_SIZE as usize);
    let action = filter.action.map(Action::as_str);
    let next = has_next.then(|| rows.last()).flatten().map(|last| {
        query_string(&[
            ("install", filter.install_id.as_deref()),
            ("action", action),
            ("before", Some(&last.id.to_string())),
        ])
    });
    let first = before.is_some().then(|| {
        query_string(&[
            ("install", filter.install_id.as_deref()),
            ("action", action),
        ])
    });
    Ok(render_or_plain(&AuditPage {
        nav: Nav::from(&operator),
        rows: rows.into_iter().map(AuditRow::from).collect(),
        install: filter.install_id.clone().unwrap_or_default(),
        action: action.unwrap_or_default().to_owned(),
        actions: Action::ALL.iter().map(|a| a.as_str()).collect(),
        next,
        first,
    }))
}
