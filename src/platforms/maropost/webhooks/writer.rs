//! Group commit for received events.
//!
//! Every event must be on disk (committed, `synchronous=FULL`) before its `200`, and a commit
//! costs an fsync. One commit per request caps storelink at a few thousand events per second, so
//! requests hand their event to one writer task instead, and wait:
//!
//! 1. A handler sends its event over a bounded channel, with a oneshot for the answer.
//! 2. The writer takes the first event waiting, plus every other one already queued (up to
//!    [`WriterConfig::max_batch`]), and in one transaction (`BEGIN IMMEDIATE`): checks, with one
//!    query, that each event's install is still not revoked and still has the webhook key the
//!    request was checked against (else that event is [`Written::Stale`] and not stored), then
//!    inserts the others (`ON CONFLICT (install_id, event_id) DO NOTHING`, so a repeat is a
//!    no-op), 64 rows per statement, and commits ([`events::insert_if_current`]).
//! 3. Only after the commit returns does it answer each event: stored or repeat. While it
//!    commits, the next requests queue up and form the next batch, so the batch size follows the
//!    load and one fsync is shared by everything that arrived meanwhile.
//!
//! If the batch fails, nothing of it was committed. Unless the database is plainly unavailable
//! (busy past the busy timeout, no connection), each event is then retried in a transaction of
//! its own, so one event the database refuses cannot take the others down with it; whatever
//! still fails is answered with an error (and the route answers `503`, so the platform retries).
//!
//! [`EventWriter::shutdown`] stops taking events, writes the ones already queued, answers them
//! and waits for the task to end.
//!
//! The writer runs on a thread and a Tokio runtime of its own, with a database connection of its
//! own opened there. Every event waits for it, so it must not wait for anything else: on the
//! server's runtime each answer from the database (five or so per batch) woke it behind every
//! request task already queued, and under load that queue, not the database, set the pace
//! (benches/README.md, "The webhook writer's own thread").

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use sqlx::{AnyConnection, Connection as _};
use tokio::{
    sync::{mpsc, oneshot, watch},
    task::JoinHandle,
};

use crate::db::{
    Db,
    events::{self, NewEvent},
};

/// How the writer batches.
#[derive(Debug, Clone, Copy)]
pub struct WriterConfig {
    /// Events that may wait for the writer; past this, senders wait for room.
    pub queue: usize,
    /// Most events committed in one transaction.
    pub max_batch: usize,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self {
            queue: 8192,
            max_batch: 1024,
        }
    }
}

/// What became of a written event, once committed: stored, a repeat, or stale (the install was
/// revoked, or its webhook key replaced, after the request was checked: check again).
pub use crate::db::events::Offered as Written;

/// Which sealed webhook key a request was checked against (its random nonce, unique to each
/// sealing): the writer stores the event only if that is still the install's key.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyVersion(Vec<u8>);

impl KeyVersion {
    /// The version of this sealed key.
    pub fn of(sealed: &crate::crypto::Sealed) -> Self {
        Self(sealed.nonce.clone())
    }
}

impl std::fmt::Debug for KeyVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyVersion({})", crate::crypto::hex(&self.0))
    }
}

/// Why an event was not stored. Either way nothing about it was acknowledged.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    /// The writer is stopping or has stopped.
    #[error("the event writer has stopped")]
    Stopped,
    /// The database refused the transaction.
    #[error("database error: {0}")]
    Database(String),
}

struct Job {
    event: NewEvent,
    key: KeyVersion,
    reply: oneshot::Sender<Result<Written, WriteError>>,
}

/// The handle requests use to store events; cheap to clone.
#[derive(Clone)]
pub struct EventWriter {
    jobs: mpsc::Sender<Job>,
    stop: Arc<watch::Sender<bool>>,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl std::fmt::Debug for EventWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventWriter")
            .field("queued", &(self.jobs.max_capacity() - self.jobs.capacity()))
            .finish()
    }
}

impl EventWriter {
    /// Starts the writer on a thread of its own (one of the current Tokio runtime's blocking
    /// threads), running a runtime of its own.
    pub fn start(db: Db, config: WriterConfig) -> Self {
        let (jobs, queue) = mpsc::channel(config.queue.max(1));
        let (stop, stopped) = watch::channel(false);
        let max_batch = config.max_batch.max(1);
        let server = tokio::runtime::Handle::current();
        let task = tokio::task::spawn_blocking(move || {
            let writing = run(db, queue, stopped, max_batch);
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(own) => own.block_on(writing),
                Err(e) => {
                    // Still on a thread of its own; the server's runtime serves its connection.
                    tracing::warn!(error = %e, "the event writer has no runtime of its own");
                    server.block_on(writing)
                }
            }
        });
        Self {
            jobs,
            stop: Arc::new(stop),
            task: Arc::new(Mutex::new(Some(task))),
        }
    }

    /// Stores `event` durably, provided its install is not revoked and `key` is still its
    /// webhook key; returns once it is committed (or known to be a repeat, or stale), or with an
    /// error when it could not be.
    ///
    /// If the caller stops waiting (its client went away), the event may still be stored: that
    /// is harmless, since a retry of it is recognised as a repeat.
    pub async fn write(&self, event: NewEvent, key: KeyVersion) -> Result<Written, WriteError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { event, key, reply })
            .await
            .map_err(|_| WriteError::Stopped)?;
        answer.await.unwrap_or(Err(WriteError::Stopped))
    }

    /// Stops taking events, writes and answers those already queued, and waits for the writer
    /// to end. Later [`write`](Self::write)s fail with [`WriteError::Stopped`].
    pub async fn shutdown(&self) {
        self.stop.send_replace(true);
        let task = self
            .task
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(task) = task
            && let Err(e) = task.await
        {
            tracing::error!(error = %e, "the event writer ended abnormally");
        }
    }
}

async fn run(
    db: Db,
    mut queue: mpsc::Receiver<Job>,
    mut stopped: watch::Receiver<bool>,
    max_batch: usize,
) {
    let mut closing = false;
    // The writer keeps a connection to itself: taking one from the pool per batch would cost a
    // round trip each time (the pool's check), and the pool's would be served by the server's
    // runtime. It is opened on this runtime when first needed, and closed when the writer stops.
    let mut connection = Connection::default();
    loop {
        let first = tokio::select! {
            biased;
            job = queue.recv() => match job {
                Some(job) => job,
                // Closed and drained (or every sender gone): done.
                None => break,
            },
            _ = stopped.wait_for(|stop| *stop), if !closing => {
                // No new events from now on; the ones queued are still written.
                closing = true;
                queue.close();
                continue;
            }
        };
        let mut batch = Vec::with_capacity(max_batch.min(64));
        batch.push(first);
        while batch.len() < max_batch {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        write_batch(&db, &mut connection, batch).await;
    }
    connection.close().await;
    tracing::debug!("the event writer has stopped");
}

/// Commits `batch` and answers every event in it.
async fn write_batch(db: &Db, connection: &mut Connection, batch: Vec<Job>) {
    let started = Instant::now();
    let jobs: Vec<&Job> = batch.iter().collect();
    match connection.commit(db, &jobs).await {
        Ok(written) => {
            log_commit(batch.len(), started.elapsed());
            crate::measure::webhook_batch(batch.len(), started.elapsed().as_secs_f64());
            for (job, written) in batch.into_iter().zip(written) {
                let _ = job.reply.send(Ok(written));
            }
        }
        Err(e) if batch.len() > 1 && !is_unavailable(&e) => {
            tracing::warn!(
                error = %e,
                events = batch.len(),
                "a batch of events failed; retrying each on its own"
            );
            for job in batch {
                let result = connection
                    .commit(db, &[&job])
                    .await
                    .map(|written| written.first().copied().unwrap_or(Written::Repeat))
                    .map_err(|e| {
                        tracing::error!(error = %e, "an event could not be stored");
                        WriteError::Database(e.to_string())
                    });
                let _ = job.reply.send(result);
            }
        }
        Err(e) => {
            tracing::error!(error = %e, events = batch.len(), "events could not be stored");
            let error = WriteError::Database(e.to_string());
            for job in batch {
                let _ = job.reply.send(Err(error.clone()));
            }
        }
    }
}

/// The writer's own connection ([`Db::connect_own`]), opened when first needed and again after
/// one broke.
#[derive(Default)]
struct Connection(Option<AnyConnection>);

impl Connection {
    async fn commit(&mut self, db: &Db, jobs: &[&Job]) -> sqlx::Result<Vec<Written>> {
        // This process's writers take turns (see `db::begin_write`).
        let _turn = crate::db::write_turn(db).await;
        let connection = match &mut self.0 {
            Some(connection) => connection,
            None => self.0.insert(open(db).await?),
        };
        let result = commit(connection, jobs).await;
        if let Err(e) = &result
            && crate::db::breaks_connection(e)
        {
            // Anything else (a refused statement, a lock that timed out) left the connection
            // usable, its transaction rolled back.
            self.close().await;
        }
        result
    }

    /// Closes the connection, if open (politely: the server then knows the session ended).
    async fn close(&mut self) {
        if let Some(connection) = self.0.take() {
            let _ = tokio::time::timeout(Duration::from_secs(1), connection.close()).await;
        }
    }
}

/// Opens the writer's connection.
async fn open(db: &Db) -> sqlx::Result<AnyConnection> {
    let mut connection = db.connect_own().await?;
    if crate::db::Backend::of(&connection) == crate::db::Backend::Postgres {
        // storelink's sessions plan every statement for its parameters (for the installs
        // search), and that includes the foreign key check PostgreSQL makes for each event
        // inserted: planned again for every row, it took about half of a batch's time. The
        // writer runs only its key check and its inserts, never a search, so its plans are
        // kept.
        sqlx::query("SET plan_cache_mode = auto")
            .execute(&mut connection)
            .await?;
    }
    Ok(connection)
}

/// Checks and inserts the events of `jobs` in one transaction and commits it.
async fn commit(connection: &mut AnyConnection, jobs: &[&Job]) -> sqlx::Result<Vec<Written>> {
    // Hold the database's write lock from the check to the commit (IMMEDIATE on SQLite, the
    // advisory lock on PostgreSQL), so no revoke or new key can commit in between, whichever
    // instance makes it.
    let backend = crate::db::Backend::of(connection);
    let mut tx = connection.begin_with(backend.begin_write()).await?;
    let offered: Vec<(&NewEvent, &[u8])> = jobs
        .iter()
        .map(|job| (&job.event, job.key.0.as_slice()))
        .collect();
    let written = events::insert_if_current(&mut tx, &offered).await?;
    // Nothing more to write for notifications: the events table is the outbox of order events
    // (`outbox::make_order_messages`). An event that commits here is announced by the delivery
    // worker, one that rolls back never existed.
    tx.commit().await?;
    Ok(written)
}

/// Whether `error` says the database cannot take writes at all right now (so retrying each
/// event on its own would only make every request wait out the busy timeout again).
fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(e) => {
            let code = e.code().and_then(|c| c.parse::<i32>().ok()).unwrap_or(0);
            // SQLITE_BUSY (5), SQLITE_LOCKED (6): another writer held on past the busy timeout.
            matches!(code & 0xff, 5 | 6)
        }
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => true,
        _ => false,
    }
}

fn log_commit(events: usize, took: Duration) {
    tracing::debug!(
        events,
        took_us = took.as_micros() as u64,
        "events committed"
    );
}

#[cfg(test)]
mod tests {
    use futures::future::join_all;

    use super::*;

    /// A database with install `i1`, whose webhook key has version [`KEY`].
    async fn database() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("w.db").display());
        let db = crate::db::connect(&url).await.unwrap();
        crate::db::migrate(&db).await.unwrap();
        for statement in [
            "INSERT INTO installs (id, provider, account_id, initiated_by, installed_at,
                 last_installed_at, updated_at)
             VALUES ('i1', 'maropost', 's1', 'storelink', 0, 0, 0)",
            "INSERT INTO credentials (install_id, kind, key_id, nonce, ciphertext, sealed_at)
             VALUES ('i1', 'webhook_key', 'k', x'01', x'00', 0)",
        ] {
            sqlx::query(statement).execute(&db).await.unwrap();
        }
        (dir, db)
    }

    fn key(nonce: u8) -> KeyVersion {
        KeyVersion(vec![nonce])
    }

    const KEY: u8 = 1;

    fn event(install_id: &str, event_id: &str) -> NewEvent {
        NewEvent {
            install_id: install_id.into(),
            event_id: event_id.into(),
            event_type: "Order".into(),
            sent_time: None,
            order_id: Some("N1".into()),
            order_status: Some(crate::domain::OrderStatus::Pick),
            received_at: 1,
            raw_body: "<Event/>".into(),
        }
    }

    async fn rows(db: &Db) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM events")
            .fetch_one(db)
            .await
            .unwrap()
    }

    /// Commits `events` as one batch, as the writer task would, and returns the answers.
    async fn one_batch(
        db: &Db,
        events: Vec<(NewEvent, KeyVersion)>,
    ) -> Vec<Result<Written, WriteError>> {
        let (batch, answers): (Vec<Job>, Vec<_>) = events
            .into_iter()
            .map(|(event, key)| {
                let (reply, answer) = oneshot::channel();
                (Job { event, key, reply }, answer)
            })
            .unzip();
        write_batch(db, &mut Connection::default(), batch).await;
        join_all(answers)
            .await
            .into_iter()
            .map(|a| a.unwrap_or(Err(WriteError::Stopped)))
            .collect()
    }

    #[tokio::test]
    async fn concurrent_events_are_stored_once_each() {
        let (_dir, db) = database().await;
        let writer = EventWriter::start(db.clone(), WriterConfig::default());
        let results = join_all((0..200).map(|i| {
            let writer = writer.clone();
            async move {
                writer
                    .write(event("i1", &(i % 50).to_string()), key(KEY))
                    .await
            }
        }))
        .await;
        let stored = results
            .iter()
            .filter(|r| matches!(r, Ok(Written::Stored)))
            .count();
        assert_eq!(stored, 50);
        assert!(results.iter().all(Result::is_ok));
        assert_eq!(rows(&db).await, 50);
        writer.shutdown().await;
    }

    #[tokio::test]
    async fn repeats_within_one_batch_are_stored_once() {
        let (_dir, db) = database().await;
        let results = one_batch(
            &db,
            vec![
                (event("i1", "1"), key(KEY)),
                (event("i1", "1"), key(KEY)),
                (event("i1", "2"), key(KEY)),
            ],
        )
        .await;
        assert!(matches!(results[0], Ok(Written::Stored)));
        assert!(matches!(results[1], Ok(Written::Repeat)));
        assert!(matches!(results[2], Ok(Written::Stored)));
        assert_eq!(rows(&db).await, 2);
    }

    #[tokio::test]
    async fn one_refused_event_does_not_sink_its_batch() {
        let (_dir, db) = database().await;
        sqlx::query(
            "CREATE TRIGGER refuse_two BEFORE INSERT ON events WHEN NEW.event_id = '2'
             BEGIN SELECT RAISE(ABORT, 'refused'); END",
        )
        .execute(&db)
        .await
        .unwrap();
        let results = one_batch(
            &db,
            vec![
                (event("i1", "1"), key(KEY)),
                (event("i1", "2"), key(KEY)),
                (event("i1", "3"), key(KEY)),
            ],
        )
        .await;
        assert!(matches!(results[0], Ok(Written::Stored)));
        assert!(matches!(results[1], Err(WriteError::Database(_))));
        assert!(matches!(results[2], Ok(Written::Stored)));
        assert_eq!(rows(&db).await, 2);
    }

    #[tokio::test]
    async fn events_checked_against_a_replaced_key_or_a_revoked_install_are_not_stored() {
        let (_dir, db) = database().await;
        let results = one_batch(
            &db,
            vec![
                (event("i1", "1"), key(2)),
                (event("i1", "2"), key(KEY)),
                (event("missing", "3"), key(KEY)),
            ],
        )
        .await;
        assert!(matches!(results[0], Ok(Written::Stale)));
        assert!(matches!(results[1], Ok(Written::Stored)));
        assert!(matches!(results[2], Ok(Written::Stale)));

        sqlx::query("UPDATE installs SET status = 'revoked'")
            .execute(&db)
            .await
            .unwrap();
        let results = one_batch(&db, vec![(event("i1", "4"), key(KEY))]).await;
        assert!(matches!(results[0], Ok(Written::Stale)));
        assert_eq!(rows(&db).await, 1);
    }

    #[tokio::test]
    async fn shutdown_writes_what_is_queued_then_refuses() {
        let (_dir, db) = database().await;
        let writer = EventWriter::start(db.clone(), WriterConfig::default());
        let pending: Vec<_> = (0..20)
            .map(|i| {
                let writer = writer.clone();
                tokio::spawn(
                    async move { writer.write(event("i1", &i.to_string()), key(KEY)).await },
                )
            })
            .collect();
        tokio::task::yield_now().await;
        writer.shutdown().await;
        let mut stored = 0;
        for handle in pending {
            match handle.await.unwrap() {
                Ok(Written::Stored) => stored += 1,
                Ok(other) => panic!("unexpected {other:?}"),
                Err(WriteError::Stopped) => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(
            rows(&db).await,
            stored,
            "every event answered Stored is there, no other"
        );
        assert!(matches!(
            writer.write(event("i1", "late"), key(KEY)).await,
            Err(WriteError::Stopped)
        ));
    }
}
