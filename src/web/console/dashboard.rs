//! The last 30 days at a glance, at the top of `/console`: new installs by platform, order
//! notifications per day (a small SVG bar chart drawn by the server: no script, no chart
//! library), and how many stores need attention.

use crate::{
    clock::fmt_time,
    db::{events, installs},
    error::AppError,
    state::AppState,
};

/// Days the dashboard looks back.
pub(crate) const DAYS: i64 = 30;
const DAY: i64 = 24 * 60 * 60;
/// The chart's drawing area, in SVG units: one bar every [`STEP`] across.
const CHART_HEIGHT: i64 = 60;
const STEP: i64 = 10;

/// What the dashboard shows.
pub(crate) struct Dashboard {
    /// New installs in the period.
    pub installs_total: i64,
    /// New installs by platform: `(short name, count)`.
    pub installs: Vec<(&'static str, i64)>,
    /// Order notifications in the period.
    pub notifications_total: i64,
    /// One bar per day, oldest first.
    pub bars: Vec<Bar>,
    /// The chart in words, for its `aria-label`.
    pub summary: String,
    /// The chart's width, in SVG units.
    pub width: i64,
    /// Stores needing attention now.
    pub needs_attention: i64,
}

/// One day's bar.
pub(crate) struct Bar {
    /// Left edge.
    pub x: i64,
    /// Top edge.
    pub y: i64,
    /// Height (0 for a day without notifications).
    pub height: i64,
    /// "2026-11-23: 4 notifications", shown on hover.
    pub label: String,
}

/// Reads the dashboard's figures at `now`.
pub(crate) async fn read(state: &AppState, needs_attention: i64) -> Result<Dashboard, AppError> {
    let now = state.clock.unix();
    let first_day = now.div_euclid(DAY) - (DAYS - 1);
    let since = first_day * DAY;
    let installs = installs::installed_since_by_platform(&state.db, since)
        .await?
        .into_iter()
        .map(|(platform, n)| (platform.short_name(), n))
        .collect::<Vec<_>>();
    let per_day = events::counts_by_day_since(&state.db, since).await?;
    let counts: Vec<(i64, i64)> = (first_day..first_day + DAYS)
        .map(|day| {
            let n = per_day
                .iter()
                .find(|(d, _)| *d == day)
                .map_or(0, |(_, n)| *n);
            (day, n)
        })
        .collect();
    Ok(Dashboard {
        installs_total: installs.iter().map(|(_, n)| n).sum(),
        installs,
        notifications_total: counts.iter().map(|(_, n)| n).sum(),
        summary: summary(&counts),
        bars: bars(&counts),
        width: DAYS * STEP,
        needs_attention,
    })
}

/// The bars for `(day, count)` pairs, scaled so the busiest day fills the chart's height.
fn bars(counts: &[(i64, i64)]) -> Vec<Bar> {
    let max = counts.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    (0_i64..)
        .zip(counts)
        .map(|(i, &(day, n))| {
            // Any day with a notification gets a visible bar.
            let height = if n == 0 {
                0
            } else {
                (n * CHART_HEIGHT / max).max(2)
            };
            Bar {
                x: i * STEP,
                y: CHART_HEIGHT - height,
                height,
                label: format!(
                    "{}: {n} notification{}",
                    date(day),
                    if n == 1 { "" } else { "s" }
                ),
            }
        })
        .collect()
}

/// The chart in one sentence.
fn summary(counts: &[(i64, i64)]) -> String {
    let total: i64 = counts.iter().map(|(_, n)| n).sum();
    match counts.iter().max_by_key(|&&(day, n)| (n, day)) {
        Some(&(day, n)) if n > 0 => format!(
            "Order notifications per day over the last {DAYS} days: {total} in all, most on {} ({n})",
            date(day)
        ),
        _ => format!("No order notifications in the last {DAYS} days"),
    }
}

/// A day number as `2026-11-23`.
fn date(day: i64) -> String {
    fmt_time(day * DAY).chars().take(10).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_busiest_day_and_say_their_numbers() {
        let counts = [(0, 0), (1, 5), (2, 10)];
        let bars = bars(&counts);
        assert_eq!(bars.len(), 3);
        assert_eq!((bars[0].height, bars[0].y), (0, CHART_HEIGHT));
        assert_eq!(bars[1].height, CHART_HEIGHT / 2);
        assert_eq!(
            (bars[2].x, bars[2].height, bars[2].y),
            (20, CHART_HEIGHT, 0)
        );
        assert_eq!(bars[2].label, "1970-01-03: 10 notifications");
        assert!(summary(&counts).contains("15 in all, most on 1970-01-03 (10)"));
        assert_eq!(
            summary(&[(0, 0)]),
            "No order notifications in the last 30 days"
        );
    }
}
