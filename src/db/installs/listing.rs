//! The connected-stores list: filters (platform, status, search), keyset pages newest change
//! first, where a page stands, and the counts at the top of the console.

use super::Install;
use crate::{
    db::{Db, QueryBuilder, dialect},
    domain::{HealthState, InstallStatus, Platform},
};

/// What the connected-stores page filters by.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only this platform's.
    pub platform: Option<Platform>,
    /// Only installs with this status.
    pub status: Option<InstallStatus>,
    /// Any part of the domain or name.
    pub search: Option<String>,
    /// Only this platform's account (a Merchant Center caller's project): with `platform`, at
    /// most one install.
    pub account: Option<(Platform, String)>,
    /// Only installs whose health is this.
    pub health: Option<HealthState>,
}

/// A position in the list: the last row of the previous page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// Its `updated_at`.
    pub updated_at: i64,
    /// Its id.
    pub id: String,
}

impl Cursor {
    /// `"<updated_at>.<id>"`, as carried in a link.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.updated_at, self.id)
    }

    /// Parses [`Cursor::encode`]'s form; anything else is `None`.
    pub fn decode(text: &str) -> Option<Self> {
        let (at, id) = text.split_once('.')?;
        let valid_id =
            !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit());
        valid_id.then_some(())?;
        Some(Self {
            updated_at: at.parse().ok()?,
            id: id.to_owned(),
        })
    }
}

/// One page of installs, most recently changed first, after `cursor`. Fetches `limit` rows.
///
/// Only the conditions in use are put into the query, so SQLite can pick the index that serves
/// the filter and the order together.
pub async fn list(
    db: &Db,
    filter: &ListFilter,
    cursor: Option<&Cursor>,
    limit: i64,
) -> sqlx::Result<Vec<Install>> {
    let mut query = QueryBuilder::new("SELECT * FROM installs WHERE 1 = 1");
    push_filter(db, &mut query, filter).await?;
    if let Some(cursor) = cursor {
        query
            .push(" AND (updated_at, id) < (")
            .push_bind(cursor.updated_at)
            .push(", ")
            .push_bind(cursor.id.as_str())
            .push(")");
    }
    query
        .push(" ORDER BY updated_at DESC, id DESC LIMIT ")
        .push_bind(limit);
    query.build_query_as().fetch_all(db).await
}

/// How many installs match a filter, for a pager: exact, except that a search stops counting at
/// [`SEARCH_COUNT_CAP`] (`at_least`), since counting every match of a common term would cost more
/// than the page itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// Installs that match (or the cap).
    pub total: i64,
    /// Whether there may be more than `total`.
    pub at_least: bool,
    /// Matching installs on pages before the one that starts after the cursor.
    pub before: i64,
}

/// Where a search stops counting its matches.
pub const SEARCH_COUNT_CAP: i64 = 1000;

/// Where a page of [`list`] stands (see [`Standing`]).
pub async fn position(
    db: &Db,
    filter: &ListFilter,
    cursor: Option<&Cursor>,
) -> sqlx::Result<Standing> {
    // The total is the kept count unless a search or an account narrows the list (a search's
    // counts stop at the cap); the rows before a page are counted from the index that serves
    // the filter.
    let searching = filter
        .search
        .as_deref()
        .is_some_and(|s| !s.trim().is_empty());
    let count = |after: Option<&Cursor>| {
        let filter = filter.clone();
        let after = after.cloned();
        async move {
            let mut query =
                QueryBuilder::new("SELECT COUNT(*) FROM (SELECT 1 FROM installs WHERE 1 = 1");
            push_filter(db, &mut query, &filter).await?;
            if let Some(cursor) = &after {
                query
                    .push(" AND (updated_at, id) >= (")
                    .push_bind(cursor.updated_at)
                    .push(", ")
                    .push_bind(cursor.id.clone())
                    .push(")");
            }
            if searching {
                query.push(" LIMIT ").push_bind(SEARCH_COUNT_CAP);
            }
            query.push(") AS matching");
            query.build_query_scalar::<i64>().fetch_one(db).await
        }
    };
    let total = if searching || filter.account.is_some() || filter.health.is_some() {
        count(None).await?
    } else {
        // By platform and status only: the counts the database keeps.
        kept_count(db, filter.platform, filter.status).await?
    };
    let before = match cursor {
        Some(cursor) => count(Some(cursor)).await?,
        None => 0,
    };
    Ok(Standing {
        total,
        at_least: searching && total >= SEARCH_COUNT_CAP,
        before,
    })
}

/// The cursor of the page before the one that starts after `cursor`, for a "Previous" link:
/// `None` when that page is the first (no cursor).
pub async fn previous_cursor(
    db: &Db,
    filter: &ListFilter,
    cursor: &Cursor,
    page_size: i64,
) -> sqlx::Result<Option<Cursor>> {
    // The previous page is the `page_size` installs ending with the cursor's; the one just
    // before them, if any, is its cursor.
    let mut query = QueryBuilder::new("SELECT updated_at, id FROM installs WHERE 1 = 1");
    push_filter(db, &mut query, filter).await?;
    query
        .push(" AND (updated_at, id) >= (")
        .push_bind(cursor.updated_at)
        .push(", ")
        .push_bind(cursor.id.as_str())
        .push(") ORDER BY updated_at ASC, id ASC LIMIT 1 OFFSET ")
        .push_bind(page_size);
    let found: Option<(i64, String)> = query.build_query_as().fetch_optional(db).await?;
    Ok(found.map(|(updated_at, id)| Cursor { updated_at, id }))
}

/// Adds `filter`'s conditions to a query that ends in `WHERE 1 = 1`. Only the conditions in
/// use are added, so SQLite can pick the index that serves the filter and the order together.
async fn push_filter(
    db: &Db,
    query: &mut QueryBuilder<'_>,
    filter: &ListFilter,
) -> sqlx::Result<()> {
    if let Some(platform) = filter.platform {
        query.push(" AND provider = ").push_bind(platform);
    }
    if let Some(status) = filter.status {
        query.push(" AND status = ").push_bind(status);
    }
    if let Some((platform, account_id)) = &filter.account {
        query
            .push(" AND provider = ")
            .push_bind(*platform)
            .push(" AND account_id = ")
            .push_bind(account_id.clone());
    }
    match filter.health {
        None => {}
        // An install without a health row has not been checked.
        Some(HealthState::Unknown) => {
            query.push(
                " AND NOT EXISTS (SELECT 1 FROM install_health h WHERE h.install_id = installs.id
                     AND h.state <> 'unknown')",
            );
        }
        Some(state) => {
            query
                .push(" AND EXISTS (SELECT 1 FROM install_health h WHERE h.install_id = installs.id AND h.state = ")
                .push_bind(state.as_str())
                .push(")");
        }
    }
    let search = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if let Some(text) = search {
        dialect::push_install_search(db, query, text).await?;
    }
    Ok(())
}

/// How many installs there are of `platform` in `status` (each, when `None`), from the counts
/// the database keeps as installs change (`install_counts`).
async fn kept_count(
    db: &Db,
    platform: Option<Platform>,
    status: Option<InstallStatus>,
) -> sqlx::Result<i64> {
    // SUM of BIGINT is NUMERIC on PostgreSQL: cast back.
    sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM install_counts
         WHERE ($1 IS NULL OR provider = $1) AND ($2 IS NULL OR status = $2)",
    )
    .bind(platform)
    .bind(status)
    .fetch_one(db)
    .await
}

/// How many installs have each status (for the counts at the top of the console), from the
/// counts the database keeps as installs change (`install_counts`), not by counting them.
pub async fn count_by_status(db: &Db) -> sqlx::Result<Vec<(InstallStatus, i64)>> {
    // SUM of BIGINT is NUMERIC on PostgreSQL: cast back.
    sqlx::query_as(
        "SELECT status, CAST(SUM(n) AS BIGINT) FROM install_counts WHERE n > 0
         GROUP BY status ORDER BY status",
    )
    .fetch_all(db)
    .await
}

/// How many installs each platform has in each status (for metrics), as [`count_by_status`].
pub async fn count_by_platform_and_status(
    db: &Db,
) -> sqlx::Result<Vec<(Platform, InstallStatus, i64)>> {
    sqlx::query_as("SELECT provider, status, n FROM install_counts WHERE n > 0")
        .fetch_all(db)
        .await
}

/// The platforms that have installs not revoked (`storelink doctor` checks their token
/// endpoints).
pub async fn platforms_in_use(db: &Db) -> sqlx::Result<Vec<Platform>> {
    sqlx::query_scalar(
        "SELECT DISTINCT provider FROM install_counts
         WHERE n > 0 AND status <> 'revoked' ORDER BY provider",
    )
    .fetch_all(db)
    .await
}

/// The accounts (`account_id`s) of `platform` that are not revoked, at most `limit` of them:
/// what `storelink doctor` asks a platform whose token endpoint depends on the account.
pub async fn accounts_in_use(db: &Db, platform: Platform, limit: i64) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT DISTINCT account_id FROM installs
         WHERE provider = $1 AND status <> 'revoked' ORDER BY account_id LIMIT $2",
    )
    .bind(platform)
    .bind(limit)
    .fetch_all(db)
    .await
}
