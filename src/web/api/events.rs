//! `GET /api/v1/events`: Maropost's order notifications as a feed to poll, oldest first, with a
//! cursor that never skips or repeats an event.

use axum::{
    Json,
    extract::{Query, State, rejection::QueryRejection},
};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{
    caller::ApiCaller,
    installs::find,
    objects::{EventList, EventObject},
    params,
    problem::Problem,
    responses::{BadInput, Common},
};
use crate::{db::events, state::AppState};

/// Events per page unless asked otherwise.
const DEFAULT_LIMIT: i64 = 100;
/// The most events one page holds.
const MAX_LIMIT: i64 = 1000;

/// The feed's query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct FeedQuery {
    /// Only this install's events.
    install_id: Option<String>,
    /// The previous page's `next_cursor` (an event id); omit it to start at the beginning.
    #[param(value_type = Option<i64>, minimum = 0)]
    after: Option<String>,
    /// Events per page, 1 to 1000 (default 100).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

/// The events stored after `after`, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/events",
    tag = "events",
    params(FeedQuery),
    responses(
        (status = 200, description = "The next events, and the cursor to ask for what follows",
         body = EventList),
        (status = 404, description = "No install has this id", body = Problem,
         content_type = "application/problem+json"),
        BadInput,
        Common,
    ),
    security(("api_key" = []), ("merchant_center" = []))
)]
pub(super) async fn feed(
    State(state): State<AppState>,
    caller: ApiCaller,
    query: Result<Query<FeedQuery>, QueryRejection>,
) -> Result<Json<EventList>, Problem> {
    let Query(query) =
        query.map_err(|_| Problem::bad_request("The query string could not be read."))?;
    let after = match query.after.as_deref() {
        None => 0,
        Some(text) => text
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| {
                Problem::bad_parameter("after", "after must be an event id this API gave out.")
            })?,
    };
    let limit = params::limit(query.limit.as_deref(), DEFAULT_LIMIT, MAX_LIMIT)?;
    let install_id = match query.install_id.as_deref() {
        None => None,
        Some(id) => Some(find(&state, &caller, id).await?.id),
    };
    let found = match (install_id, caller.only_account()) {
        (Some(id), _) => events::feed(&state.db, Some(&id), after, limit).await?,
        (None, None) => events::feed(&state.db, None, after, limit).await?,
        // A Merchant Center caller's feed holds its own installs' events only.
        (None, Some((platform, account_id))) => {
            events::feed_for_account(&state.db, platform, &account_id, after, limit).await?
        }
    };
    let next_cursor = found.last().map_or(after, |last| last.id).to_string();
    Ok(Json(EventList {
        data: found.into_iter().map(EventObject::from).collect(),
        next_cursor,
    }))
}
