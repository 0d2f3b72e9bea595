//! Rate budgets: every call storelink makes to a platform's API for an install draws on that
//! install's budget (per endpoint group where the platform limits by group), and every token
//! request on one per (platform, client id). A budget has a ceiling of ours (a [`Rate`], or none)
//! and learns from the platform: a `429` or `503` with `Retry-After`, or
//! `X-RateLimit-Remaining: 0` with a reset time, stops every caller of the budget until then.
//!
//! How a budget decides is [`crate::domain::rate_budget`]'s; this module holds where budgets are
//! kept and how calls draw on them.
//!
//! Where the state lives ([`Store`]): in memory for one instance (SQLite), or in the database
//! (PostgreSQL), where every instance on it shares each budget ([`crate::db::budgets`]).

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use reqwest::header::HeaderMap;

use crate::{
    config::{ConfigError, Env},
    db::{Backend, Db},
    domain::{
        Platform,
        rate_budget::{Admission, Patience, Rate, Shown, State, micros, stop_until},
    },
};

/// One budget: whose it is, its ceiling, and how it is named to people.
#[derive(Debug, Clone)]
pub struct Budget {
    /// The platform whose API (or token endpoint) it guards.
    pub platform: Platform,
    /// `{platform}:api:{account}:{group}` or `{platform}:token:{client id}` (`%` and `:` escaped
    /// in the account and the client id).
    pub key: String,
    /// The ceiling of ours; `None`: only what the platform says.
    pub rate: Option<Rate>,
    /// The endpoint group (`api` where the platform has one limit), or `token`.
    pub group: &'static str,
}

impl Budget {
    /// The budget of `group` of `platform`'s API for the store or account `account` (an
    /// install's `account_id`: an install is one per account, and the account is known before
    /// the install is stored, for look-ups while connecting).
    pub fn api(platform: Platform, account: &str, group: &'static str, rate: Option<Rate>) -> Self {
        Self {
            platform,
            key: format!("{}{group}", Self::account_prefix(platform, account)),
            rate,
            group,
        }
    }

    /// The budget of token requests with client id `client_id` at `platform`.
    pub fn token(platform: Platform, client_id: &str, rate: Option<Rate>) -> Self {
        Self {
            platform,
            key: format!("{}:token:{}", platform.as_str(), escaped(client_id)),
            rate,
            group: "token",
        }
    }

    /// The key prefix of an account's API budgets.
    pub fn account_prefix(platform: Platform, account: &str) -> String {
        format!("{}:api:{}:", platform.as_str(), escaped(account))
    }

    /// In words, for a problem or a page: "bol.com API (orders) of install …".
    pub fn describe(&self) -> String {
        match self.group {
            "token" => format!("{} token requests", self.platform.display_name()),
            "api" => format!("{} API", self.platform.display_name()),
            group => format!("{} API ({group})", self.platform.display_name()),
        }
    }
}

/// The ceiling setting `name` (`N/s`, `N/min` or a bare `N` a second; `0`: no ceiling of
/// ours), `default` when it is unset.
pub fn rate_setting(
    env: &Env,
    name: &'static str,
    default: Option<Rate>,
) -> Result<Option<Rate>, ConfigError> {
    Ok(env.parse(name, Rate::parse)?.unwrap_or(default))
}

/// `text` with `%` and `:` escaped, so one account's key prefix is never a prefix of another's.
fn escaped(text: &str) -> String {
    text.replace('%', "%25").replace(':', "%3A")
}

/// Now, in microseconds since the Unix epoch (the wall clock: budgets are shared by instances
/// that keep time by NTP, and waited out in real time).
pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, micros)
}

/// A budget kept in memory: its state, and when (Unix seconds) and with which status the
/// platform last said to slow down.
type Kept = (State, Option<(i64, u16)>);

/// Where budgets are kept.
pub enum Store {
    /// In this process (one instance: SQLite).
    Memory(Mutex<HashMap<String, Kept>>),
    /// In the database, shared by every instance on it (PostgreSQL).
    Database(Db),
}

/// Every budget of this instance (or, on PostgreSQL, of every instance).
pub struct Budgets {
    store: Store,
}

impl Budgets {
    /// Budgets kept where `db`'s instances can share them: in the database on PostgreSQL, in
    /// memory on SQLite (one instance writes a SQLite file).
    pub fn for_database(db: &Db) -> Self {
        let store = match Backend::of_pool(db) {
            Backend::Postgres => Store::Database(db.clone()),
            Backend::Sqlite => Store::Memory(Mutex::default()),
        };
        Self { store }
    }

    /// Budgets in this process only.
    pub fn in_memory() -> Self {
        Self {
            store: Store::Memory(Mutex::default()),
        }
    }

    /// Asks `budget` for room for one call now, with `patience`; sleeps until the turn when one
    /// was taken. `Err` is the moment to come back (microseconds since the Unix epoch).
    pub async fn admit(&self, budget: &Budget, patience: Patience) -> Result<Waited, i64> {
        self.admit_as(budget, patience, 0).await
    }

    /// [`Self::admit`] for `caller`, the vendor's key and connection hashed (see
    /// [`caller_tag`]): a caller that was refused finds the turn kept for it when it comes back.
    pub async fn admit_as(
        &self,
        budget: &Budget,
        patience: Patience,
        caller: u64,
    ) -> Result<Waited, i64> {
        let (admission, now) = match &self.store {
            Store::Memory(map) => {
                let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
                let now = now_us();
                let (state, _) = map.entry(budget.key.clone()).or_default();
                (state.decide(budget.rate, patience, now, caller), now)
            }
            Store::Database(db) => {
                match crate::db::budgets::decide(
                    db,
                    &budget.key,
                    budget.rate,
                    patience,
                    now_us,
                    caller,
                )
                .await
                {
                    Ok(decided) => decided,
                    Err(e) => {
                        // The database is the budget: without it, a call goes (the platform's
                        // own limit still answers), and the failure is logged.
                        tracing::warn!(error = %e, budget = %budget.key, "rate budget: cannot read; the call goes");
                        (Admission::Now, now_us())
                    }
                }
            }
        };
        let outcome = match admission {
            Admission::Now => Ok(Waited(Duration::ZERO)),
            Admission::At(at) => {
                let wait = Duration::from_micros(u64::try_from(at - now).unwrap_or(0));
                tokio::time::sleep(wait).await;
                Ok(Waited(wait))
            }
            Admission::Refused(at) => Err(at),
        };
        let (label, waited) = match &outcome {
            Ok(Waited(wait)) if wait.is_zero() => ("now", 0.0),
            Ok(Waited(wait)) => ("waited", wait.as_secs_f64()),
            Err(_) => ("refused", 0.0),
        };
        crate::measure::budget_admission(budget.platform.as_str(), budget.group, label, waited);
        outcome
    }

    /// [`Self::admit_as`], with a refusal named for the caller.
    pub async fn admit_or_refuse(
        &self,
        budget: &Budget,
        patience: Patience,
        caller: u64,
    ) -> Result<Waited, OverBudget> {
        self.admit_as(budget, patience, caller)
            .await
            .map_err(|at| OverBudget::at(budget, at, now_us()))
    }

    /// Takes what the platform's answer (`status`, `headers`) says about `budget`: a "slow
    /// down" stops every caller of the budget until the moment it names.
    pub async fn learn(&self, budget: &Budget, status: u16, headers: &HeaderMap) {
        let now = now_us();
        let Some(until) = stop_until(status, headers, now) else {
            return;
        };
        crate::measure::platform_slowed(budget.platform.as_str(), status);
        let slowed = (now / 1_000_000, status);
        match &self.store {
            Store::Memory(map) => {
                let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
                let (state, last) = map.entry(budget.key.clone()).or_default();
                state.block(until);
                *last = Some(slowed);
            }
            Store::Database(db) => {
                if let Err(e) = crate::db::budgets::block(db, &budget.key, until, slowed).await {
                    tracing::warn!(error = %e, budget = %budget.key, "rate budget: cannot record the platform's stop");
                }
            }
        }
        tracing::info!(
            budget = %budget.key,
            status,
            wait_ms = (until - now) / 1000,
            "the platform said to slow down; callers of the budget wait"
        );
    }

    /// Forgets budgets idle for [`crate::db::budgets::IDLE_US`]: nothing held, nothing
    /// stopped, no call (a budget not kept starts fresh).
    pub async fn sweep(&self) {
        let now = now_us();
        match &self.store {
            Store::Memory(map) => {
                let cut = now - crate::db::budgets::IDLE_US;
                let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
                map.retain(|_, (state, _)| {
                    state.tat >= cut || state.blocked_until >= cut || !state.turns.is_empty()
                });
            }
            Store::Database(db) => match crate::db::budgets::sweep(db, now).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(budgets = n, "idle rate budgets forgotten"),
                Err(e) => tracing::warn!(error = %e, "failed to sweep idle rate budgets"),
            },
        }
    }

    /// The budgets whose keys begin with `prefix` (an install's), for its page.
    pub async fn shown(&self, prefix: &str) -> Vec<Shown> {
        match &self.store {
            Store::Memory(map) => {
                let map = map.lock().unwrap_or_else(|p| p.into_inner());
                let mut shown: Vec<Shown> = map
                    .iter()
                    .filter(|(key, _)| key.starts_with(prefix))
                    .map(|(key, (state, slowed))| Shown {
                        key: key.clone(),
                        blocked_until: state.blocked_until,
                        slowed: *slowed,
                    })
                    .collect();
                shown.sort_by(|a, b| a.key.cmp(&b.key));
                shown
            }
            Store::Database(db) => {
                crate::db::budgets::shown(db, prefix)
                    .await
                    .unwrap_or_else(|e| {
                        tracing::warn!(error = %e, "rate budget: cannot read for a page");
                        Vec::new()
                    })
            }
        }
    }
}

/// How long a call waited for its turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waited(pub Duration);

/// Tells one of the vendor's callers from another: who it is (`actor`, the key's name) and the
/// connection it came on (`peer`). A refused caller that comes back on the same connection, as
/// HTTP clients keeping their connections alive do, finds the turn kept for it; another caller
/// cannot take it. Never 0 (storelink's own calls).
pub fn caller_tag(actor: &str, peer: Option<std::net::SocketAddr>) -> u64 {
    use std::hash::{Hash as _, Hasher as _};
    // The same on every instance (fixed keys): a turn is kept in the shared budget.
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    actor.hash(&mut hasher);
    peer.hash(&mut hasher);
    hasher.finish().max(1)
}

/// The longest storelink's own calls (checks, Test connection, look-ups, token requests) wait
/// for their turn; past it they fail as [`OverBudget`].
pub const OWN_PATIENCE: Duration = Duration::from_secs(20);

/// A call the budget had no room for within the caller's patience.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{budget} is at its rate limit; retry after {retry_after} s")]
pub struct OverBudget {
    /// The budget, in words ([`Budget::describe`]).
    pub budget: String,
    /// Whole seconds until the caller's turn (at least 1): a caller that waits this long is
    /// let through.
    pub retry_after: u64,
}

impl OverBudget {
    fn at(budget: &Budget, at: i64, now: i64) -> Self {
        let micros = (at - now).max(1);
        Self {
            budget: budget.describe(),
            retry_after: u64::try_from((micros + 999_999) / 1_000_000)
                .unwrap_or(1)
                .max(1),
        }
    }
}

/// Sends `request` within `budget`: waits for its turn (up to `patience`), sends it, and takes
/// what the answer says about slowing down. The outer `Err` is a call that was never sent.
pub async fn send(
    budgets: &Budgets,
    budget: &Budget,
    patience: Patience,
    request: reqwest::RequestBuilder,
) -> Result<Result<reqwest::Response, reqwest::Error>, OverBudget> {
    send_as(budgets, budget, patience, 0, request).await
}

/// [`send`] for `caller` (see [`caller_tag`]).
pub async fn send_as(
    budgets: &Budgets,
    budget: &Budget,
    patience: Patience,
    caller: u64,
    request: reqwest::RequestBuilder,
) -> Result<Result<reqwest::Response, reqwest::Error>, OverBudget> {
    budgets.admit_or_refuse(budget, patience, caller).await?;
    let sent = request.send().await;
    if let Ok(response) = &sent {
        budgets
            .learn(budget, response.status().as_u16(), response.headers())
            .await;
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_accounts_keys_are_never_a_prefix_of_anothers() {
        let a = Budget::api(Platform::Bol, "client:a", "orders", None);
        let b = Budget::api(Platform::Bol, "client:a:b", "orders", None);
        let prefix = Budget::account_prefix(Platform::Bol, "client:a");
        assert!(a.key.starts_with(&prefix));
        assert!(!b.key.starts_with(&prefix), "{} / {prefix}", b.key);
        assert_eq!(a.describe(), "bol.com API (orders)");
        assert_eq!(
            Budget::api(Platform::Maropost, "s1", "api", None).describe(),
            "Maropost Commerce Cloud API"
        );
        assert_eq!(
            Budget::token(Platform::Bol, "id:1", None).key,
            "bol:token:id%3A1"
        );
    }

    #[tokio::test]
    async fn a_platforms_stop_holds_the_budget_and_shows_on_its_page() {
        let budgets = Budgets::in_memory();
        let budget = Budget::api(Platform::Bol, "r1", "orders", Some(Rate::per_second(100)));
        assert!(budgets.admit(&budget, Patience::Refuse).await.is_ok());
        let mut headers = HeaderMap::new();
        headers.insert(reqwest::header::RETRY_AFTER, "30".parse().unwrap());
        budgets.learn(&budget, 429, &headers).await;
        let refused = budgets
            .admit_or_refuse(&budget, Patience::Refuse, 7)
            .await
            .unwrap_err();
        assert_eq!(refused.budget, "bol.com API (orders)");
        assert!((29..=30).contains(&refused.retry_after), "{refused:?}");
        // Another group, and another account, are not held.
        let other = Budget::api(Platform::Bol, "r1", "offers", None);
        assert!(budgets.admit(&other, Patience::Refuse).await.is_ok());
        let shown = budgets
            .shown(&Budget::account_prefix(Platform::Bol, "r1"))
            .await;
        assert_eq!(shown.len(), 2);
        assert_eq!(shown[1].key, budget.key);
        assert_eq!(shown[1].slowed.map(|(_, status)| status), Some(429));
        assert!(shown[1].blocked_until > now_us());
        // An answer that says nothing about slowing down changes nothing.
        budgets.learn(&other, 200, &HeaderMap::new()).await;
        assert!(budgets.admit(&other, Patience::Refuse).await.is_ok());
    }
}
