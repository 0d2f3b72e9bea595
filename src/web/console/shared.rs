//! What the console's pages share: the navigation, installs, audit entries and events as pages
//! show them, the keyset [`Page`], finding an install by its id, one-time messages, and reading
//! query parameters. Page modules import from here, never from each other.

use tower_sessions::Session;

use super::auth::Operator;
use crate::{
    clock::{fmt_ago, fmt_iso, fmt_time},
    db::{audit, events::Event, health, installs},
    domain::{HealthState, text::shorten},
    error::AppError,
    state::AppState,
};

/// Session key of a one-time message for the next page.
const FLASH_KEY: &str = "console.flash";

/// What every console page's header needs.
pub(crate) struct Nav {
    /// The operator's email.
    pub email: String,
    /// For the logout form.
    pub csrf_token: String,
    /// The page's path, to mark the navigation's link to it.
    pub path: String,
}

impl From<&Operator> for Nav {
    fn from(operator: &Operator) -> Self {
        Self {
            email: operator.email.clone(),
            csrf_token: operator.csrf_token.clone(),
            path: operator.path.clone(),
        }
    }
}

impl Nav {
    /// The navigation's `aria-current` for its link to `link`: `page` on that very page,
    /// `true` on a page inside its section (a store's page under "Connected stores"), else
    /// empty (no attribute).
    pub(crate) fn current(&self, link: &str) -> &'static str {
        let section = match self.path.as_str() {
            p if p.starts_with("/console/installs/") || p.starts_with("/console/connections/") => {
                "/console"
            }
            p if p.starts_with("/console/api-keys/") => "/console/api-keys",
            p if p.starts_with("/console/endpoints/") => "/console/endpoints",
            p => p,
        };
        if self.path == link {
            "page"
        } else if section == link {
            "true"
        } else {
            ""
        }
    }
}

/// A form that carries nothing but its CSRF token (a button: test, revoke, ...).
#[derive(Debug, serde::Deserialize)]
pub(crate) struct CsrfForm {
    /// The session's token, checked with [`super::auth::verify_csrf`].
    #[serde(default)]
    pub csrf_token: String,
}

/// One page of a list read by keyset: the rows, and the query strings of the next page and of
/// the first one (when not on it).
pub(crate) struct Page<T> {
    /// The page's rows.
    pub rows: Vec<T>,
    /// The next page's query string, when there are more rows.
    pub next: Option<String>,
    /// The first page's query string, when this is not the first page.
    pub first: Option<String>,
}

impl<T> Page<T> {
    /// Makes a page of `found`, which was read with a limit of `size + 1`: the row past the page
    /// only says that there is a next page. `link` builds the list's query string for a cursor
    /// (`None`: the first page); `cursor_of` gives a row's cursor.
    pub(crate) fn new(
        mut found: Vec<T>,
        size: i64,
        on_first_page: bool,
        link: impl Fn(Option<&str>) -> String,
        cursor_of: impl Fn(&T) -> String,
    ) -> Self {
        let size = usize::try_from(size).unwrap_or(0);
        let has_next = found.len() > size;
        found.truncate(size);
        let next = has_next
            .then(|| found.last())
            .flatten()
            .map(|last| link(Some(&cursor_of(last))));
        let first = (!on_first_page).then(|| link(None));
        Self {
            rows: found,
            next,
            first,
        }
    }

    /// The same page with each row turned into what the template shows.
    pub(crate) fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            rows: self.rows.into_iter().map(f).collect(),
            next: self.next,
            first: self.first,
        }
    }
}

/// The names pages show for these installs (store name, else domain, else account id), by
/// id, read in one query: lists show store names rather than 32-character ids.
pub(crate) async fn install_names<'a>(
    state: &AppState,
    ids: impl Iterator<Item = &'a str>,
) -> Result<std::collections::HashMap<String, String>, AppError> {
    let mut ids: Vec<&str> = ids.filter(|id| !id.is_empty()).collect();
    ids.sort_unstable();
    ids.dedup();
    Ok(installs::display_names(&state.db, &ids)
        .await?
        .into_iter()
        .collect())
}

/// The install with this id, or `404` (ids that cannot exist are refused without a query).
pub(crate) async fn find_install(
    state: &AppState,
    id: &str,
) -> Result<installs::Install, AppError> {
    // Ids are 32 hex characters; anything else cannot exist, so don't ask the database.
    if id.len() > 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AppError::NotFound);
    }
    installs::find(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)
}

/// What a one-time message reports, which decides its colour and its icon (the message's own
/// words say it too: "Connection test failed: ...").
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum FlashKind {
    /// Something was done as asked (saved, revoked, a test passed): green.
    Success,
    /// Something was tried and did not work (a connection test failed): red.
    Failure,
    /// Done, but worth a second look (nothing changed, already revoked): amber.
    Warning,
}

impl FlashKind {
    /// The CSS class's suffix (`notice-success`, ...).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Warning => "warning",
        }
    }
}

/// A one-time message for the next page, and what kind of news it is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Flash {
    /// Success, failure or warning.
    pub kind: FlashKind,
    /// The sentence shown.
    pub text: String,
}

/// Leaves a one-time message for the next page this operator sees.
pub(crate) async fn flash(
    operator: &Operator,
    kind: FlashKind,
    message: &str,
) -> Result<(), AppError> {
    let flash = Flash {
        kind,
        text: message.to_owned(),
    };
    operator
        .session
        .insert(FLASH_KEY, flash)
        .await
        .map_err(|e| AppError::Internal(e.into()))
}

/// Takes the one-time message left for this page, if any. One the page cannot read (left by an
/// older version in a session that outlived it) is dropped rather than failing the page.
pub(crate) async fn take_flash(session: &Session) -> Result<Option<Flash>, AppError> {
    let value: Option<serde_json::Value> =
        session.remove(FLASH_KEY).await.map_err(AppError::from)?;
    Ok(value.and_then(|v| serde_json::from_value(v).ok()))
}

/// A moment as lists show it: how long ago, with the exact time on hover and for machines
/// (`<time datetime="{iso}" title="{exact}">{ago}</time>`).
pub(crate) struct Moment {
    /// RFC 3339, for `datetime`.
    pub iso: String,
    /// `2026-11-23 12:07:00 UTC`, for `title`.
    pub exact: String,
    /// "3 min ago".
    pub ago: String,
}

impl Moment {
    /// `unix` seen at `now`.
    pub(crate) fn new(unix: i64, now: i64) -> Self {
        Self {
            iso: fmt_iso(unix),
            exact: fmt_time(unix),
            ago: fmt_ago(unix, now),
        }
    }
}

/// An install as the list and the store pages show it.
pub(crate) struct InstallRow {
    /// Its id.
    pub id: String,
    /// The platform's short name.
    pub provider: &'static str,
    /// What pages call it: the store's name, else its domain, else the platform's id for it.
    pub title: String,
    /// Its domain.
    pub domain: String,
    /// The platform's id for it.
    pub account_id: String,
    /// The status's name (for CSS classes and comparisons in templates).
    pub status: &'static str,
    /// The status's label.
    pub status_label: &'static str,
    /// First installed.
    pub installed_at: Moment,
    /// Last changed.
    pub updated_at: Moment,
    /// Its health's name (for CSS classes) and label.
    pub health: (&'static str, &'static str),
}

impl InstallRow {
    /// With the health its checks found (unknown without a row).
    pub(crate) fn with_health(mut self, health: Option<&health::Health>) -> Self {
        let state = health.map_or(HealthState::Unknown, health::Health::state);
        self.health = (state.as_str(), state.label());
        self
    }

    /// `i` as pages show it at `now`.
    pub(crate) fn new(i: &installs::Install, now: i64) -> Self {
        Self {
            id: i.id.clone(),
            provider: i.platform.short_name(),
            title: i.display_name().to_owned(),
            domain: i.store_domain.clone().unwrap_or_default(),
            account_id: i.account_id.clone(),
            status: i.status.as_str(),
            status_label: i.status.label(),
            installed_at: Moment::new(i.installed_at, now),
            updated_at: Moment::new(i.updated_at, now),
            health: (HealthState::Unknown.as_str(), HealthState::Unknown.label()),
        }
    }
}

/// An audit entry as pages show it.
pub(crate) struct AuditRow {
    /// When.
    pub at: Moment,
    /// Who, in words ("op@example.com").
    pub actor: String,
    /// What, in words ("Webhook key set").
    pub action: String,
    /// Which install.
    pub install_id: String,
    /// That install's name (or domain), when the page looked it up; else empty.
    pub install_name: String,
    /// What happened, in storelink's words.
    pub detail: String,
    /// Values from outside, each shown apart, marked as a value: `(name, value)`.
    pub fields: Vec<(String, String)>,
}

impl AuditRow {
    /// `e` as pages show it at `now`.
    pub(crate) fn new(e: audit::Entry, now: i64) -> Self {
        let fields = e.fields();
        Self {
            at: Moment::new(e.at, now),
            actor: audit::actor_label(&e.actor),
            action: audit::Action::parse(&e.action)
                .map(|a| a.label().to_owned())
                .unwrap_or(e.action),
            install_id: e.install_id.unwrap_or_default(),
            install_name: String::new(),
            detail: e.detail,
            fields,
        }
    }
}

/// An order notification as pages show it.
pub(crate) struct EventRow {
    /// Its install.
    pub install_id: String,
    /// That install's name (or domain), when the page looked it up; else empty.
    pub install_name: String,
    /// `<EventID>`.
    pub event_id: String,
    /// `<EventType>`.
    pub event_type: String,
    /// `<OrderID>`.
    pub order_id: String,
    /// `<OrderStatus>`.
    pub order_status: &'static str,
    /// `<CurrentTime>` as sent.
    pub sent_time: String,
    /// When storelink stored it.
    pub received_at: Moment,
}

impl EventRow {
    /// `e` as pages show it at `now`.
    pub(crate) fn new(e: Event, now: i64) -> Self {
        Self {
            install_id: e.install_id,
            install_name: String::new(),
            event_id: e.event_id,
            event_type: e.event_type,
            order_id: e.order_id.unwrap_or_default(),
            order_status: e.order_status.map(|s| s.as_str()).unwrap_or_default(),
            sent_time: e.sent_time.unwrap_or_default(),
            received_at: Moment::new(e.received_at, now),
        }
    }
}

/// Where a page stands in its list, as the pager says it: "51–100 of 6,412" (`before` rows on
/// earlier pages, `shown` on this one, `total` in all); empty when the page shows nothing.
pub(crate) fn page_range(before: i64, shown: usize, total: i64) -> String {
    let shown = i64::try_from(shown).unwrap_or(i64::MAX);
    if shown == 0 {
        return String::new();
    }
    format!(
        "{}\u{2013}{} of {}",
        thousands(before + 1),
        thousands(before + shown),
        thousands(total.max(before + shown))
    )
}

/// `6412` as `6,412`.
pub(crate) fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A query string from the pairs whose value is present.
pub(crate) fn query_string(pairs: &[(&str, Option<&str>)]) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            serializer.append_pair(key, value);
        }
    }
    serializer.finish()
}

/// A list's `before` cursor (an entry id): absent, or a number; `Err` for anything else.
pub(crate) fn id_cursor(value: &Option<String>) -> Result<Option<i64>, std::num::ParseIntError> {
    non_empty(value).map(|text| text.parse::<i64>()).transpose()
}

/// An optional query parameter: empty means absent.
pub(crate) fn non_empty(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| shorten(v, 200))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_queries() {
        assert_eq!(fmt_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(
            query_string(&[("a", Some("x y")), ("b", None), ("c", Some(""))]),
            "a=x+y"
        );
    }

    #[test]
    fn pages_say_where_they_stand() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(6412), "6,412");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(page_range(50, 50, 6412), "51\u{2013}100 of 6,412");
        assert_eq!(page_range(0, 3, 3), "1\u{2013}3 of 3");
        assert_eq!(page_range(0, 0, 0), "");
    }

    #[test]
    fn the_navigation_marks_the_current_page_and_section() {
        let nav = |path: &str| Nav {
            email: String::new(),
            csrf_token: String::new(),
            path: path.to_owned(),
        };
        assert_eq!(nav("/console").current("/console"), "page");
        assert_eq!(nav("/console").current("/console/audit"), "");
        assert_eq!(nav("/console/audit").current("/console/audit"), "page");
        assert_eq!(nav("/console/installs/ab").current("/console"), "true");
        assert_eq!(
            nav("/console/api-keys/3/revoke").current("/console/api-keys"),
            "true"
        );
        assert_eq!(nav("/console/events").current("/console"), "");
    }

    #[test]
    fn pages_cut_one_row_past_and_link_onwards() {
        let link = |cursor: Option<&str>| format!("after={}", cursor.unwrap_or("-"));
        let full = Page::new(vec![1, 2, 3], 2, true, link, |n| n.to_string());
        assert_eq!(full.rows, vec![1, 2]);
        assert_eq!(full.next.as_deref(), Some("after=2"));
        assert_eq!(full.first, None);
        let last = Page::new(vec![3], 2, false, link, |n| n.to_string());
        assert_eq!(last.rows, vec![3]);
        assert_eq!(last.next, None);
        assert_eq!(last.first.as_deref(), Some("after=-"));
    }
}
