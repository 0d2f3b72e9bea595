//! The rate-limit part of a store's page: the ceiling of ours on its API calls, and what the
//! platform last said about slowing down, per budget (endpoint group) it has used.

use super::shared::Moment;
use crate::{
    db::installs::Install,
    platforms::kit::budget::{Budget, now_us},
    state::AppState,
};

/// The section: the ceiling in words, and one row per budget the install has used.
pub(crate) struct BudgetSection {
    /// "5/s per endpoint group", "500/min", or none of ours.
    pub ceiling: String,
    /// The budgets the platform has said something about, or that are stopped now.
    pub rows: Vec<BudgetRow>,
}

/// One budget on the page.
pub(crate) struct BudgetRow {
    /// The endpoint group (or `api`).
    pub group: String,
    /// Until when no call goes, when that is still ahead.
    pub stopped_until: Option<Moment>,
    /// When the platform last said to slow down, and with which status.
    pub slowed: Option<(Moment, u16)>,
}

/// The rate-limit section of `install`'s page at `now` (Unix seconds).
pub(crate) async fn section(state: &AppState, install: &Install, now: i64) -> BudgetSection {
    let driver = state.platforms.get(install.platform);
    // A call to no particular path tells the ceiling and whether it is per endpoint group.
    let sample = driver.api_budget(&install.account_id, "");
    let ceiling = match (sample.rate, sample.group) {
        (None, _) => "none of ours: storelink follows what the platform's answers say".to_owned(),
        (Some(rate), "api") => format!("{rate}"),
        (Some(rate), _) => format!("{rate} per endpoint group"),
    };
    let prefix = Budget::account_prefix(install.platform, &install.account_id);
    let now_micros = now_us();
    let rows = state
        .budgets
        .shown(&prefix)
        .await
        .into_iter()
        .filter(|shown| shown.slowed.is_some() || shown.blocked_until > now_micros)
        .map(|shown| BudgetRow {
            group: shown
                .key
                .strip_prefix(&prefix)
                .unwrap_or(&shown.key)
                .to_owned(),
            stopped_until: (shown.blocked_until > now_micros)
                .then(|| Moment::new((shown.blocked_until + 999_999) / 1_000_000, now)),
            slowed: shown
                .slowed
                .map(|(at, status)| (Moment::new(at, now), status)),
        })
        .collect();
    BudgetSection { ceiling, rows }
}
