//! The delivery worker: one task per instance that claims due messages (up to
//! [`NotifyConfig::concurrency`] in flight), sends each signed through the outbound guard, and
//! records what came back.
//!
//! Each round: record every attempt that finished (one transaction for all of them, with the
//! endpoints' health), make the messages of order events stored since the last round
//! (`outbox::make_order_messages`), claim as many due messages as there are free slots (one
//! statement), start sending them, then wait for a send to finish, the poll interval, or
//! shutdown. Claims are leases in the database, so several instances can run workers on one
//! database; a lease that runs out (its instance died mid-send) makes the message due again: at
//! least once.
//!
//! Each endpoint has a lane ([`super::lanes`]): its messages are claimed apart, up to its
//! most-in-flight, and each send waits for its turn under the endpoint's rate, so a slow or
//! limited endpoint never holds up another. An endpoint answering `429` or `503` with
//! `Retry-After` is paused until then ([`super::retry_after`]), in the database for every
//! instance and at once for this one's sends still waiting at its gate.
//!
//! Only a 2xx counts as delivered. Redirects are not followed (a 3xx is a failure), and neither
//! the answer's body nor its headers are trusted beyond the first bytes kept for the console
//! and a `Retry-After`.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use reqwest::{Method, header::CONTENT_TYPE};
use tokio::{
    sync::{Notify, oneshot, watch},
    task::JoinSet,
};
use url::Url;
use zeroize::Zeroizing;

use super::{
    NotifyConfig, NotifyContext,
    lanes::{Gate, Lanes},
    retry_after, signing,
};
use crate::{
    db::{
        endpoints,
        outbox::{self, After, Attempt, Due},
    },
    domain::text::one_line,
    platforms::kit::outbound::Outbound,
};

/// How long a round waits for more sends to finish after the first, to record them together.
const GATHER: Duration = Duration::from_millis(3);

/// Without a backlog, rounds are at least this far apart: each is a transaction (an fsync), and
/// a trickle of messages must not take a disk's worth of commits from the requests that cause
/// them (webhook ingest commits its batches on the same disk). With a backlog, rounds are full
/// and follow one another at once.
const MIN_ROUND_INTERVAL: Duration = Duration::from_millis(20);

/// While the requests' writers are busy, rounds are at least this far apart even with a
/// backlog: 64 messages in flight then make at most 640 a second (a message costs about twice
/// the CPU of a received event: an HTTP request, its answer and three rows), and the disk is left
/// to webhook ingest for 100 ms between rounds' fsyncs. The backlog is sent at full speed once
/// the writers are not busy any more; meanwhile it is still sent, more slowly.
const BUSY_ROUND_INTERVAL: Duration = Duration::from_millis(100);

/// How many bytes of an answer are kept for the console.
const ANSWER_BYTES: usize = 512;

/// The handle to the running worker; cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    wake: Arc<Notify>,
    stop: Arc<watch::Sender<bool>>,
    done: Arc<Mutex<Option<oneshot::Receiver<()>>>>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier").finish_non_exhaustive()
    }
}

impl Notifier {
    /// Starts the worker on the current Tokio runtime (it ends with the runtime, or at
    /// [`Notifier::shutdown`]).
    pub fn start(ctx: NotifyContext, config: NotifyConfig) -> Self {
        let wake = Arc::new(Notify::new());
        let (stop, stopped) = watch::channel(false);
        let (finished, done) = oneshot::channel();
        let work = run(ctx, config, wake.clone(), stopped);
        tokio::spawn(async move {
            work.await;
            let _ = finished.send(());
        });
        Self {
            wake,
            stop: Arc::new(stop),
            done: Arc::new(Mutex::new(Some(done))),
        }
    }

    /// Looks for due messages now rather than at the next poll (after a change was queued here).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Stops claiming messages, waits for those in flight (up to the configured bound), gives
    /// back the ones still unsent, and waits for the worker to end.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let done = self
            .done
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(done) = done {
            let _ = done.await;
        }
    }
}

/// What became of one send.
struct Sent {
    message_id: String,
    endpoint_id: String,
    attempts: i64,
    /// `None`: not sent, the endpoint paused while it waited for its turn (given back).
    attempt: Option<Attempt>,
    delivered: bool,
    /// The endpoint asked for nothing more before this Unix second.
    paused_until: Option<i64>,
}

/// What every send needs besides its message.
#[derive(Clone)]
struct Sender {
    outbound: Outbound,
    clock: Arc<dyn crate::clock::Clock>,
    timeout: Duration,
    /// The longest pause an endpoint may ask for: the schedule's longest wait.
    longest_pause: Duration,
}

async fn run(
    ctx: NotifyContext,
    config: NotifyConfig,
    wake: Arc<Notify>,
    mut stopped: watch::Receiver<bool>,
) {
    let concurrency = config.concurrency.max(1);
    // A lease outlasts an attempt (its timeout) with room to record it.
    let lease = i64::try_from(config.timeout.as_secs()).unwrap_or(10) + 5;
    let mut in_flight: JoinSet<Sent> = JoinSet::new();
    let mut claimed: HashMap<tokio::task::Id, (String, String)> = HashMap::new();
    let mut lanes = Lanes::default();
    let sender = Sender {
        outbound: ctx.outbound.clone(),
        clock: ctx.clock.clone(),
        timeout: config.timeout,
        longest_pause: config.schedule.longest_wait(),
    };
    let mut finished: Vec<Sent> = Vec::new();
    let mut next_round = tokio::time::Instant::now();
    let mut full_round = false;
    // How often, lately, another writer held the turn when a round asked for it: about the share
    // of time the requests' writers spend writing (when they are busy, a round mostly waits for
    // one). Over one half, the writers are busy and the rounds make room for them.
    let mut contention = 0.0_f64;
    loop {
        let busy = contention > 0.5;
        if (!full_round || busy) && !*stopped.borrow() {
            // Sends in flight go on meanwhile; the round records what they got.
            tokio::select! {
                _ = tokio::time::sleep_until(next_round) => {}
                _ = stopped.changed() => {}
            }
        }
        while let Some(done) = in_flight.try_join_next_with_id() {
            collect(done, &mut claimed, &mut lanes, &mut finished);
        }
        if *stopped.borrow() {
            record(&ctx, &config, std::mem::take(&mut finished)).await;
            break;
        }
        let free = concurrency.saturating_sub(in_flight.len());
        next_round = tokio::time::Instant::now()
            + if busy {
                BUSY_ROUND_INTERVAL
            } else {
                MIN_ROUND_INTERVAL
            };
        let (due, contended) = round(
            &ctx,
            &config,
            &mut lanes,
            std::mem::take(&mut finished),
            free,
            lease,
        )
        .await;
        if let Some(contended) = contended {
            contention = 0.75 * contention + if contended { 0.25 } else { 0.0 };
        }
        full_round = free > 0 && due.len() == free;
        for (message, url, secrets) in due {
            let ids = (message.id.clone(), message.endpoint_id.clone());
            let gate = lanes.claimed(&message.endpoint_id);
            let handle = in_flight.spawn(send(sender.clone(), gate, message, url, secrets));
            claimed.insert(handle.id(), ids);
        }
        if full_round && !busy && in_flight.len() < concurrency {
            // More may be due right now.
            continue;
        }
        tokio::select! {
            done = in_flight.join_next_with_id(), if !in_flight.is_empty() => {
                if let Some(done) = done {
                    collect(done, &mut claimed, &mut lanes, &mut finished);
                }
                // Sends finish one after another: gather those finishing within a moment, so
                // one transaction (one fsync) records many and claims as many new ones.
                let until = tokio::time::Instant::now() + GATHER;
                while finished.len() < concurrency / 2 {
                    match tokio::time::timeout_at(until, in_flight.join_next_with_id()).await {
                        Ok(Some(done)) => collect(done, &mut claimed, &mut lanes, &mut finished),
                        Ok(None) | Err(_) => break,
                    }
                }
            }
            _ = wake.notified() => {}
            _ = tokio::time::sleep(config.poll) => {}
            _ = stopped.changed() => {}
        }
    }
    drain(&ctx, &config, in_flight, claimed, lanes).await;
}

/// Waits up to the drain bound for the sends in flight, records them, and gives back the
/// claims of those that did not finish (due again at once, on any instance).
async fn drain(
    ctx: &NotifyContext,
    config: &NotifyConfig,
    mut in_flight: JoinSet<Sent>,
    mut claimed: HashMap<tokio::task::Id, (String, String)>,
    mut lanes: Lanes,
) {
    let mut finished = Vec::new();
    let deadline = tokio::time::Instant::now() + config.drain;
    while !in_flight.is_empty() {
        match tokio::time::timeout_at(deadline, in_flight.join_next_with_id()).await {
            Ok(Some(done)) => collect(done, &mut claimed, &mut lanes, &mut finished),
            Ok(None) | Err(_) => break,
        }
    }
    record(ctx, config, finished).await;
    in_flight.abort_all();
    while let Some(done) = in_flight.join_next_with_id().await {
        collect(done, &mut claimed, &mut lanes, &mut Vec::new());
    }
    for (message_id, _) in claimed.into_values() {
        if let Err(e) = outbox::release(&ctx.db, &message_id).await {
            tracing::warn!(error = %e, "notifications: cannot give back a claimed message");
        }
    }
}

fn collect(
    done: Result<(tokio::task::Id, Sent), tokio::task::JoinError>,
    claimed: &mut HashMap<tokio::task::Id, (String, String)>,
    lanes: &mut Lanes,
    finished: &mut Vec<Sent>,
) {
    match done {
        Ok((id, sent)) => {
            claimed.remove(&id);
            lanes.finished(&sent.endpoint_id);
            finished.push(sent);
        }
        // Cancelled (shutdown) or panicked: its claim stays in `claimed`, to be given back,
        // or runs out.
        Err(e) if e.is_panic() => {
            tracing::error!("notifications: a send panicked");
            if let Some((_, endpoint)) = claimed.remove(&e.id()) {
                lanes.finished(&endpoint);
            }
        }
        Err(_) => {}
    }
}

/// Where an endpoint's messages go, and the secrets that sign them.
type Target = (Url, Vec<Zeroizing<Vec<u8>>>);

type Claimed = (Due, Url, Vec<Zeroizing<Vec<u8>>>);

/// One round in one transaction (one fsync): records the sends that finished, with their
/// endpoints' health, and claims up to `free` due messages; then reads each claimed message's
/// URL and signing secrets (once per endpoint). If the transaction fails, nothing of it
/// happened: the finished sends are sent again when their claims run out. Also says whether
/// another writer held the turn when the round asked for it (`None`: no transaction).
async fn round(
    ctx: &NotifyContext,
    config: &NotifyConfig,
    lanes: &mut Lanes,
    finished: Vec<Sent>,
    free: usize,
    lease: i64,
) -> (Vec<Claimed>, Option<bool>) {
    if finished.is_empty() && free == 0 {
        return (Vec::new(), None);
    }
    let recorded = finished.len();
    let mut contended = None;
    let due = async {
        let (mut tx, waited) = crate::db::begin_write_contended(&ctx.db).await?;
        contended = Some(waited);
        record_in(&mut tx, ctx, config, &finished).await?;
        let due = match free {
            0 => Vec::new(),
            _ => {
                // As many as can be sent now: an order event waits in the events table, where
                // it is written already, until there is room to send its messages, rather than
                // being written again as a message that waits.
                let room = i64::try_from(free).unwrap_or(i64::MAX);
                outbox::make_order_messages(&mut tx, None, Some(room)).await?;
                claim_in_turn(&mut tx, ctx, config, lanes, free, lease).await?
            }
        };
        tx.commit().await?;
        Ok::<_, sqlx::Error>(due)
    }
    .await;
    let due = match due {
        Ok(due) => targets(ctx, due).await,
        Err(e) => {
            tracing::warn!(error = %e, recorded, "notifications: a delivery round failed");
            // The round's attempts are recorded one by one instead, so one that the database
            // refuses cannot undo the others (they would be sent again, past their schedule).
            if !finished.is_empty() {
                record_apart(ctx, config, finished).await;
            }
            Vec::new()
        }
    };
    (due, contended)
}

/// Claims each endpoint's due messages, up to its room and `free` in all, a different endpoint
/// first each round.
async fn claim_in_turn(
    tx: &mut sqlx::AnyConnection,
    ctx: &NotifyContext,
    config: &NotifyConfig,
    lanes: &mut Lanes,
    mut free: usize,
    lease: i64,
) -> sqlx::Result<Vec<Due>> {
    let now = ctx.clock.unix();
    let mut due = Vec::new();
    for limits in lanes.in_turn(endpoints::deliverable(tx).await?) {
        let room = lanes.room(&limits, now, config.concurrency).min(free);
        if room == 0 {
            continue;
        }
        let claimed = outbox::claim_due(tx, &limits.id, now, room, lease).await?;
        free -= claimed.len();
        due.extend(claimed);
        if free == 0 {
            break;
        }
    }
    Ok(due)
}

/// Records each send in a transaction of its own; one the database still refuses is recorded
/// without the answer's text, and if even that fails its claim runs out (sent again).
async fn record_apart(ctx: &NotifyContext, config: &NotifyConfig, finished: Vec<Sent>) {
    for mut sent in finished {
        if record_one(ctx, config, &sent).await.is_ok() {
            continue;
        }
        if let Some(attempt) = &mut sent.attempt {
            attempt.answer = None;
        }
        if let Err(e) = record_one(ctx, config, &sent).await {
            tracing::warn!(error = %e, message = %sent.message_id, "notifications: cannot record an attempt");
        }
    }
}

async fn record_one(ctx: &NotifyContext, config: &NotifyConfig, sent: &Sent) -> sqlx::Result<()> {
    let mut tx = crate::db::begin_write(&ctx.db).await?;
    record_in(&mut tx, ctx, config, std::slice::from_ref(sent)).await?;
    tx.commit().await
}

/// Each claimed message with its endpoint's URL and secrets (read once per endpoint). A message
/// whose endpoint cannot be read is left claimed: due again when its lease runs out.
async fn targets(ctx: &NotifyContext, due: Vec<Due>) -> Vec<Claimed> {
    let now = ctx.clock.unix();
    let mut targets: HashMap<String, Option<Target>> = HashMap::new();
    let mut claimed = Vec::with_capacity(due.len());
    for message in due {
        if !targets.contains_key(&message.endpoint_id) {
            let target = target(ctx, &message.endpoint_id, now).await;
            if let Err(e) = &target {
                tracing::warn!(error = %e, endpoint = %message.endpoint_id, "notifications: cannot read an endpoint");
            }
            targets.insert(message.endpoint_id.clone(), target.ok());
        }
        if let Some(Some((url, secrets))) = targets.get(&message.endpoint_id) {
            let (url, secrets) = (url.clone(), secrets.clone());
            claimed.push((message, url, secrets));
        }
    }
    claimed
}

async fn target(ctx: &NotifyContext, endpoint_id: &str, now: i64) -> anyhow::Result<Target> {
    let endpoint = endpoints::find(&ctx.db, endpoint_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the endpoint is gone"))?;
    let url = Url::parse(&endpoint.url)?;
    let secrets = endpoints::signing_secrets(&ctx.db, &ctx.keyring, endpoint_id, now).await?;
    anyhow::ensure!(!secrets.is_empty(), "the endpoint has no signing secret");
    Ok((url, secrets))
}

/// Sends one message, signed with every current secret, when its endpoint's gate lets it, and
/// says what came of it.
async fn send(
    sender: Sender,
    gate: Arc<Gate>,
    message: Due,
    url: Url,
    secrets: Vec<Zeroizing<Vec<u8>>>,
) -> Sent {
    let mut sent = Sent {
        message_id: message.id.clone(),
        endpoint_id: message.endpoint_id.clone(),
        attempts: message.attempts,
        attempt: None,
        delivered: false,
        paused_until: None,
    };
    if !gate.turn(&*sender.clock).await {
        return sent;
    }
    let at = sender.clock.unix();
    let started = Instant::now();
    let signature = signing::signature_header(&secrets, &message.id, at, message.body.as_bytes());
    drop(secrets);
    let (status_code, outcome, answer) = match post(
        &sender.outbound,
        sender.timeout,
        &message,
        url,
        at,
        &signature,
    )
    .await
    {
        Ok(answered) => {
            let now = sender.clock.now();
            sent.paused_until = retry_after::requested(answered.status, &answered.headers, now)
                .and_then(|wait| retry_after::paused_until(now, wait, sender.longest_pause));
            if let Some(until) = sent.paused_until {
                // The sends waiting at the gate stop now, before the round records it.
                gate.pause_until(until);
            }
            let status = answered.status;
            (Some(status.as_u16()), describe(status), Some(answered.text))
        }
        Err(outcome) => (None, outcome, None),
    };
    sent.delivered = status_code.is_some_and(|s| (200..300).contains(&s));
    sent.attempt = Some(Attempt {
        at,
        status_code,
        latency_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
        outcome,
        answer,
    });
    sent
}

/// An answer, as far as it is read: its status, the headers (for `Retry-After`) and the first
/// bytes, on one line.
struct Answered {
    status: reqwest::StatusCode,
    headers: reqwest::header::HeaderMap,
    text: String,
}

/// The request itself; the answer's status and first bytes, or why none came.
async fn post(
    outbound: &Outbound,
    timeout: Duration,
    message: &Due,
    url: Url,
    timestamp: i64,
    signature: &str,
) -> Result<Answered, String> {
    let request = outbound
        .request(Method::POST, url)
        .map_err(|refusal| format!("refused: {refusal}"))?
        .timeout(timeout)
        .header("webhook-id", &message.id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .header(CONTENT_TYPE, "application/json")
        .body(message.body.clone());
    let failed = |e: reqwest::Error| {
        if let Some(refusal) = Outbound::refusal(&e) {
            format!("refused: {refusal}")
        } else if e.is_timeout() {
            format!("no answer within {} s", timeout.as_secs())
        } else if e.is_connect() {
            "could not connect".to_owned()
        } else {
            "the request failed".to_owned()
        }
    };
    let mut response = request.send().await.map_err(failed)?;
    let status = response.status();
    let headers = response.headers().clone();
    // The first bytes only, for the console; the rest is not read.
    let mut kept = Vec::new();
    while kept.len() < ANSWER_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => kept.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    kept.truncate(ANSWER_BYTES);
    let text = String::from_utf8_lossy(&kept);
    // On one line and without control characters: the receiver chose these bytes, and a NUL
    // would be refused by PostgreSQL.
    Ok(Answered {
        status,
        headers,
        text: one_line(&text, 200),
    })
}

fn describe(status: reqwest::StatusCode) -> String {
    let reason = status.canonical_reason().unwrap_or("");
    if status.is_redirection() {
        format!("{} {reason} (redirects are not followed)", status.as_u16())
    } else {
        format!("{} {reason}", status.as_u16())
            .trim_end()
            .to_owned()
    }
}

/// Records the last sends (at shutdown), in one transaction.
async fn record(ctx: &NotifyContext, config: &NotifyConfig, finished: Vec<Sent>) {
    if finished.is_empty() {
        return;
    }
    let result = async {
        let mut tx = crate::db::begin_write(&ctx.db).await?;
        record_in(&mut tx, ctx, config, &finished).await?;
        tx.commit().await
    }
    .await;
    if let Err(e) = result {
        // Not recorded: the leases run out and the messages are sent again.
        tracing::warn!(error = %e, messages = finished.len(), "notifications: cannot record attempts");
    }
}

/// Records finished sends and what follows from each (delivered, retry at, failed), and their
/// endpoints' health, in the caller's transaction.
async fn record_in(
    tx: &mut sqlx::AnyConnection,
    ctx: &NotifyContext,
    config: &NotifyConfig,
    finished: &[Sent],
) -> sqlx::Result<()> {
    let mut healthy: Vec<&str> = Vec::new();
    let mut failing: Vec<(&str, i64)> = Vec::new();
    let mut recorded = Vec::with_capacity(finished.len());
    let mut given_back = Vec::new();
    for sent in finished {
        let Some(attempt) = &sent.attempt else {
            given_back.push(sent.message_id.as_str());
            continue;
        };
        let after = if sent.delivered {
            After::Delivered
        } else {
            match config.schedule.jittered_secs_after(sent.attempts) {
                // The schedule resumes after the pause the endpoint asked for.
                Some(wait) => {
                    After::RetryAt((attempt.at + wait).max(sent.paused_until.unwrap_or(0)))
                }
                None => After::Failed,
            }
        };
        recorded.push((sent.message_id.as_str(), attempt, after));
        crate::measure::notification(sent.delivered);
        if let Some(until) = sent.paused_until {
            endpoints::pause(tx, &sent.endpoint_id, until).await?;
        }
        if sent.delivered {
            healthy.push(&sent.endpoint_id);
        } else {
            failing.push((&sent.endpoint_id, attempt.at));
        }
    }
    outbox::release_in(tx, &given_back).await?;
    outbox::record_attempts(tx, &recorded).await?;
    for (endpoint, at) in failing {
        if healthy.contains(&endpoint) {
            continue;
        }
        if endpoints::record_failure(tx, endpoint, at, config.failure_window_secs).await? {
            tracing::warn!(
                endpoint,
                "notifications: endpoint disabled after failing for days"
            );
        }
    }
    let now = ctx.clock.unix();
    healthy.sort_unstable();
    healthy.dedup();
    for endpoint in healthy {
        endpoints::record_success(tx, endpoint, now).await?;
    }
    Ok(())
}
