//! The health keeper: every instance runs a checker that keeps each install's credentials known
//! to work (or says when they do not), and the vendor's own calls through storelink count too.
//!
//! - **Checks.** Each active install (and each one needing attention for a reason that may heal)
//!   is checked at least every `STORELINK_HEALTH_CHECK_INTERVAL`: its platform's Test connection,
//!   which renews the token first where it is due (keeping rotating refresh tokens in use) and
//!   then makes one harmless read. A new install is first checked at a random moment within the
//!   interval, and each later check comes an interval (less up to a tenth, at random) after the
//!   last, so checks stay spread evenly and never all come at start-up.
//! - **One check per install per interval, whatever the number of instances.** An instance claims
//!   a due install in the database for a lease ([`crate::db::health::claim_due`]); if it dies
//!   mid-check, the lease runs out and another instance checks it. At most
//!   `STORELINK_HEALTH_CHECK_CONCURRENCY` checks run at once on an instance.
//! - **What follows** ([`crate::db::health::record`]): degraded after three failures in a row that
//!   may pass, recovered after one success; needing attention (`credentials_rejected`) when the
//!   platform refuses the current token or key. Each change is announced and audited once; a
//!   check that works writes its times only.

use std::sync::Arc;

use rand::Rng as _;
use tokio::{
    sync::{Mutex as AsyncMutex, watch},
    task::JoinSet,
};

use crate::{
    clock::Clock,
    config::HealthSettings,
    crypto::Keyring,
    db::{
        Db,
        health::{self, Observed, Source},
        installs::{self, Install},
    },
    measure,
    platforms::{
        Registry,
        kit::{
            api_call::{CheckFailure, FailureKind},
            budget::Budgets,
            context::{Context, TestOutcome},
            outbound::Outbound,
            single_flight::Tokens,
        },
    },
};

/// How long a claim on an install's check holds: longer than a check can take (a renewal with
/// its retries, then one call, each with its timeout).
const LEASE_SECS: i64 = 120;
/// Installs scheduled per round (new ones, or after a re-install).
const SCHEDULE_BATCH: i64 = 500;

/// What checks need: the parts of a platform call, and the platforms.
#[derive(Clone)]
pub struct HealthContext {
    /// The database.
    pub db: Db,
    /// Opens credentials.
    pub keyring: Arc<Keyring>,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// The client for configured hosts.
    pub http: reqwest::Client,
    /// The guarded client for URLs from data.
    pub outbound: Outbound,
    /// The token lifecycle.
    pub tokens: Arc<Tokens>,
    /// The rate budgets.
    pub budgets: Arc<Budgets>,
    /// Every platform.
    pub platforms: Arc<Registry>,
    /// How often and how many.
    pub settings: HealthSettings,
}

impl HealthContext {
    fn calls(&self) -> Context<'_> {
        Context {
            db: &self.db,
            keyring: &self.keyring,
            clock: self.clock.as_ref(),
            http: &self.http,
            outbound: &self.outbound,
            tokens: &self.tokens,
            budgets: &self.budgets,
        }
    }

    /// When the check after one made `now` is due: an interval later, less up to a tenth of it
    /// at random (so it is never later than the interval, and checks stay spread).
    fn next_after(&self, now: i64) -> Option<i64> {
        let interval = self.settings.interval_secs()?;
        let jitter = rand::thread_rng().gen_range(0..=interval / 10);
        Some(now + interval - jitter)
    }
}

/// Checks `install` now (an operator's "Test connection", or a claimed check) and records what
/// it found; its next check is due an interval later.
pub async fn check_now(ctx: &HealthContext, install: &Install) -> sqlx::Result<TestOutcome> {
    let outcome = ctx.platforms.test_connection(&ctx.calls(), install).await;
    let now = ctx.clock.unix();
    let Some(observed) = observed(&outcome) else {
        // The platform's rate budget had no room: nothing was learnt. The claim's lease runs
        // out and the check is made again then.
        measure::health_check(install.platform.as_str(), "not_made");
        return Ok(outcome);
    };
    measure::health_check(install.platform.as_str(), outcome_label(&observed));
    let next_check_at = ctx.next_after(now);
    health::record(
        &ctx.db,
        &install.id,
        &observed,
        Source::Check { next_check_at },
        now,
    )
    .await?;
    Ok(outcome)
}

/// What a check's outcome means for the install's health; `None` when no call was made.
fn observed(outcome: &TestOutcome) -> Option<Observed> {
    Some(match outcome {
        Ok(_) => Observed::Ok,
        Err(CheckFailure { kind, message }) => match kind {
            FailureKind::MayPass => Observed::Failed(message.clone()),
            FailureKind::Rejected => Observed::Rejected(message.clone()),
            FailureKind::NeedsAttention => Observed::NeedsAttention(message.clone()),
            FailureKind::NotMade => return None,
        },
    })
}

/// The metrics' name for an observation.
fn outcome_label(observed: &Observed) -> &'static str {
    match observed {
        Observed::Ok => "ok",
        Observed::Failed(_) => "failed",
        Observed::Rejected(_) => "rejected",
        Observed::NeedsAttention(_) => "needs_attention",
    }
}

/// Records what one of the vendor's calls through storelink found: a failure that may pass
/// counts towards degraded, a success clears failures. A success writes nothing unless this
/// instance has seen the install fail (see [`CallWatch`]).
pub async fn record_call(
    db: &Db,
    watch: &CallWatch,
    install_id: &str,
    failure: Option<&str>,
    now: i64,
) {
    let observed = match failure {
        Some(error) => {
            watch.failed(install_id).await;
            Observed::Failed(error.to_owned())
        }
        None if watch.take(install_id).await => Observed::Ok,
        None => return,
    };
    if let Err(e) = health::record(db, install_id, &observed, Source::Call, now).await {
        tracing::warn!(error = %e, %install_id, "health: cannot record a call");
    }
}

/// The installs whose calls through this instance failed lately: a success is written only for
/// them, so a working call costs no write. Bounded: past [`CallWatch::MAX`] it starts over (a
/// missed recovery is made good by the next check).
#[derive(Default)]
pub struct CallWatch(AsyncMutex<std::collections::HashSet<String>>);

impl CallWatch {
    const MAX: usize = 10_000;

    async fn failed(&self, id: &str) {
        let mut set = self.0.lock().await;
        if set.len() >= Self::MAX {
            set.clear();
        }
        set.insert(id.to_owned());
    }

    async fn take(&self, id: &str) -> bool {
        let mut set = self.0.lock().await;
        !set.is_empty() && set.remove(id)
    }
}

/// The running checker of this instance; cheap to clone.
#[derive(Clone)]
pub struct Checker {
    stop: Arc<watch::Sender<bool>>,
    done: Arc<std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

impl Checker {
    /// Starts checking (when the interval is not 0) on the current runtime.
    pub fn start(ctx: HealthContext) -> Self {
        let (stop, stopped) = watch::channel(false);
        let task = ctx
            .settings
            .interval_secs()
            .map(|interval| tokio::spawn(run(ctx, interval, stopped)));
        Self {
            stop: Arc::new(stop),
            done: Arc::new(std::sync::Mutex::new(task)),
        }
    }

    /// Stops claiming checks and waits for those running (their claims are given back by
    /// recording them; an unfinished one's lease runs out).
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let task = self
            .done
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

/// The checker's loop: schedule new installs, claim due ones up to the concurrency, check them.
async fn run(ctx: HealthContext, interval: i64, mut stopped: watch::Receiver<bool>) {
    let concurrency = ctx.settings.concurrency.max(1);
    let mut running: JoinSet<()> = JoinSet::new();
    loop {
        if *stopped.borrow() {
            break;
        }
        let now = ctx.clock.unix();
        schedule(&ctx, now, interval).await;
        let free = concurrency.saturating_sub(running.len());
        if free > 0 {
            match health::claim_due(&ctx.db, now, free as i64, LEASE_SECS).await {
                Ok(claimed) => {
                    for id in claimed {
                        let ctx = ctx.clone();
                        running.spawn(async move { check_claimed(&ctx, &id).await });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "health: cannot claim checks"),
            }
        }
        tokio::select! {
            Some(_) = running.join_next(), if !running.is_empty() => {}
            _ = tokio::time::sleep(ctx.settings.poll) => {}
            _ = stopped.changed() => {}
        }
    }
    // Checks in flight finish (each is bounded by its calls' timeouts).
    while running.join_next().await.is_some() {}
}

/// Schedules every install that has no check scheduled, a batch at a time. A new install was
/// just shown to work by its connection: its first check comes at a random moment within the
/// interval, never at once.
async fn schedule(ctx: &HealthContext, now: i64, interval: i64) {
    loop {
        let read = health::schedule_new(&ctx.db, now, SCHEDULE_BATCH, || {
            rand::thread_rng().gen_range(1..=interval.max(1))
        })
        .await;
        match read {
            Ok(n) if n as i64 == SCHEDULE_BATCH => continue,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, "health: cannot schedule checks");
                return;
            }
        }
    }
}

/// One claimed check.
async fn check_claimed(ctx: &HealthContext, id: &str) {
    let install = match installs::find(&ctx.db, id).await {
        Ok(Some(install)) => install,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, install_id = %id, "health: cannot read an install");
            return;
        }
    };
    match check_now(ctx, &install).await {
        Ok(Ok(_)) => tracing::debug!(install_id = %id, "health: check passed"),
        Ok(Err(failure)) => {
            tracing::info!(install_id = %id, error = %failure, "health: check failed");
        }
        Err(e) => tracing::warn!(error = %e, install_id = %id, "health: cannot record a check"),
    }
}
