//! Serving HTTP so that slow and idle clients cannot hold the service: what `axum::serve` does,
//! plus the limits it lacks ([`ServerLimits`], from `STORELINK_HEADER_TIMEOUT`,
//! `STORELINK_BODY_TIMEOUT`, `STORELINK_IDLE_TIMEOUT` and `STORELINK_MAX_CONNECTIONS`):
//!
//! - **Headers** must arrive within the header timeout, counted from the connection's start or
//!   the previous answer (hyper's `header_read_timeout`); a client dripping a header a byte at a
//!   time is cut off.
//! - **A body** must arrive in full within the body timeout, counted from its headers: a request
//!   that declares a body and never sends it, or sends a byte every half second, fails to read
//!   and its connection is closed.
//! - **Idle** connections (no request in progress, no traffic) are closed after the idle timeout.
//! - **At most `max_connections`** are open at once, lowered to fit the process's open-files
//!   limit (which is first raised to its hard limit where that helps). When they are all taken,
//!   the oldest connection with no request in progress (an idle one, or one still waiting for
//!   its headers) is closed to make room for the new one; when every connection is busy with a
//!   request, new ones wait in the listen queue until one ends.
//!
//! Shutdown stops accepting, lets connections finish the requests in flight (closing idle ones),
//! and gives up on stragglers after [`SHUTDOWN_GRACE`].

use std::{
    collections::HashMap,
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::ConnectInfo,
    http::Request,
};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore, oneshot, watch},
    task::JoinSet,
};

use crate::config::ServerLimits;

/// How long shutdown waits for requests in flight before it drops what is left.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// File descriptors kept back from the connection cap for the database, outbound calls, logs.
const RESERVED_FDS: u64 = 64;
/// The cap never goes below this, whatever the open-files limit says.
const MIN_CONNECTIONS: usize = 16;

/// The connection cap that fits this process: `wanted`, lowered to the open-files limit less
/// what storelink needs besides connections. Raises the soft limit towards the hard one first.
pub(crate) fn effective_max_connections(wanted: usize) -> usize {
    match raise_open_files_limit(wanted as u64 + RESERVED_FDS) {
        Some(limit) => {
            let fits = limit.saturating_sub(RESERVED_FDS) as usize;
            wanted.min(fits).max(MIN_CONNECTIONS)
        }
        None => wanted,
    }
}

/// Raises the soft open-files limit to `wanted` (within the hard limit); returns the soft limit
/// in force, if it can be read.
#[cfg(unix)]
fn raise_open_files_limit(wanted: u64) -> Option<u64> {
    use rlimit::Resource;
    let (cur, max) = Resource::NOFILE.get().ok()?;
    if cur < wanted && cur < max {
        let raised = wanted.min(max);
        if Resource::NOFILE.set(raised, max).is_ok() {
            return Some(raised);
        }
    }
    Some(cur)
}

#[cfg(not(unix))]
fn raise_open_files_limit(_wanted: u64) -> Option<u64> {
    None
}

/// What the accept loop knows of each open connection.
struct Entry {
    opened: Instant,
    /// Requests in progress on it.
    busy: Arc<AtomicUsize>,
    /// Closes it at once.
    evict: Option<oneshot::Sender<()>>,
}

/// The open connections.
#[derive(Default)]
struct Registry {
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Entry>>,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Entry>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn add(&self, busy: Arc<AtomicUsize>, evict: oneshot::Sender<()>) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(
            id,
            Entry {
                opened: Instant::now(),
                busy,
                evict: Some(evict),
            },
        );
        id
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Closes the oldest connection with no request in progress; false if there is none.
    fn evict_oldest_idle(&self) -> bool {
        let mut open = self.lock();
        let victim = open
            .iter_mut()
            .filter(|(_, e)| e.evict.is_some() && e.busy.load(Ordering::Acquire) == 0)
            .min_by_key(|(_, e)| e.opened)
            .map(|(id, e)| (*id, e.evict.take()));
        match victim {
            Some((id, Some(evict))) => {
                tracing::debug!(
                    connection = id,
                    "connection limit reached: closing the oldest idle connection"
                );
                let _ = evict.send(());
                true
            }
            _ => false,
        }
    }
}

/// Serves each listener's router until `shutdown` completes. Every listener's connections are
/// held to the same `limits` and share one connection cap (and its file descriptors), so a
/// second listener (`STORELINK_METRICS_BIND`) cannot be used to starve the first, nor escape
/// the timeouts.
pub(crate) async fn serve_all(
    sites: Vec<(TcpListener, Router)>,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    if sites.is_empty() {
        return Ok(());
    }
    let max = effective_max_connections(limits.max_connections);
    if max < limits.max_connections {
        tracing::warn!(
            wanted = limits.max_connections,
            max,
            "STORELINK_MAX_CONNECTIONS lowered to fit the open-files limit"
        );
    }
    let permits = Arc::new(Semaphore::new(max));
    let registry = Arc::new(Registry::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    // No HTTP/2 keep-alive pings: their traffic would keep an idle connection from ever
    // looking idle.
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);

    loop {
        let (site, (stream, peer)) = tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            (site, accepted) = accept_any(&sites) => match accepted {
                Ok(accepted) => (site, accepted),
                Err(e) => {
                    // Out of file descriptors or a connection reset before it was taken:
                    // breathe, and take the next.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let permit = match permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                registry.evict_oldest_idle();
                tokio::select! {
                    () = &mut shutdown => break,
                    permit = permits.clone().acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => break,
                    },
                }
            }
        };
        let _ = stream.set_nodelay(true);
        connections.spawn(connection(
            stream,
            peer,
            sites[site].1.clone(),
            builder.clone(),
            limits.clone(),
            registry.clone(),
            stop_rx.clone(),
            permit,
        ));
    }

    drop(sites);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            left = connections.len(),
            "connections still open after the shutdown grace period; closing them"
        );
        connections.abort_all();
    }
    Ok(())
}

/// The next connection on any of `sites`' listeners, and which listener took it.
async fn accept_any(
    sites: &[(TcpListener, Router)],
) -> (usize, io::Result<(TcpStream, SocketAddr)>) {
    let accepts = sites
        .iter()
        .enumerate()
        .map(|(i, (listener, _))| Box::pin(async move { (i, listener.accept().await) }));
    futures_util::future::select_all(accepts).await.0
}

/// One connection, until it ends, is evicted, goes idle, or the server stops.
#[allow(clippy::too_many_arguments)]
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    builder: Arc<auto::Builder<TokioExecutor>>,
    limits: ServerLimits,
    registry: Arc<Registry>,
    mut stop: watch::Receiver<bool>,
    permit: OwnedSemaphorePermit,
) {
    let busy = Arc::new(AtomicUsize::new(0));
    let (evict_tx, mut evicted) = oneshot::channel();
    let id = registry.add(busy.clone(), evict_tx);
    let activity = Activity::new();
    let io = TokioIo::new(Tracked {
        inner: stream,
        activity: activity.clone(),
    });
    let service = {
        let busy = busy.clone();
        let body_timeout = limits.body_timeout;
        hyper::service::service_fn(move |request: Request<Incoming>| {
            let mut router = router.clone();
            let in_progress = InProgress::new(busy.clone());
            async move {
                let _in_progress = in_progress;
                let mut request = request.map(|body| Body::new(Deadline::new(body, body_timeout)));
                request.extensions_mut().insert(ConnectInfo(peer));
                tower::Service::call(&mut router, request).await
            }
        })
    };
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut tick = tokio::time::interval(check_every(limits.idle_timeout));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut closing: Option<Instant> = None;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                }
                break;
            }
            _ = &mut evicted => break,
            changed = stop.changed(), if closing.is_none() => {
                if changed.is_err() || *stop.borrow() {
                    conn.as_mut().graceful_shutdown();
                    closing = Some(Instant::now());
                }
            }
            _ = tick.tick() => {
                let idle = busy.load(Ordering::Acquire) == 0
                    && activity.quiet_for() >= limits.idle_timeout;
                match closing {
                    None if idle => {
                        tracing::debug!(%peer, "closing an idle connection");
                        conn.as_mut().graceful_shutdown();
                        closing = Some(Instant::now());
                    }
                    // A connection that does not close when asked is dropped once idle again.
                    Some(since) if idle && since.elapsed() >= limits.idle_timeout => break,
                    _ => {}
                }
            }
        }
    }
    registry.remove(id);
    drop(permit);
}

/// How often a connection looks at whether it has gone idle.
fn check_every(idle: Duration) -> Duration {
    (idle / 4).clamp(Duration::from_millis(50), Duration::from_secs(1))
}

/// Counts a request in progress for as long as it lives.
struct InProgress(Arc<AtomicUsize>);

impl InProgress {
    fn new(busy: Arc<AtomicUsize>) -> Self {
        busy.fetch_add(1, Ordering::AcqRel);
        Self(busy)
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// When a connection last moved a byte either way.
#[derive(Clone)]
struct Activity {
    base: Instant,
    last_ms: Arc<AtomicU64>,
}

impl Activity {
    fn new() -> Self {
        Self {
            base: Instant::now(),
            last_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    fn touch(&self) {
        let now = self.base.elapsed().as_millis() as u64;
        self.last_ms.store(now, Ordering::Relaxed);
    }

    fn quiet_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.base.elapsed().saturating_sub(last)
    }
}

/// A socket that records its activity.
struct Tracked {
    inner: TcpStream,
    activity: Activity,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The body did not arrive within the body timeout.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub(crate) struct BodyTimeout;

/// A request body that must arrive in full by a deadline set when its headers arrived.
struct Deadline<B> {
    inner: B,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl<B> Deadline<B> {
    fn new(inner: B, timeout: Duration) -> Self {
        Self {
            inner,
            sleep: Box::pin(tokio::time::sleep(timeout)),
        }
    }
}

impl<B> http_body::Body for Deadline<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(Into::into))),
            Poll::Pending => match self.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout)))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;

    #[tokio::test]
    async fn a_body_that_does_not_arrive_in_time_fails() {
        // A byte every 50 ms, 40 of them: two seconds in all.
        let drip = futures::stream::unfold(0, |n| async move {
            if n == 40 {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            Some((
                Ok::<_, io::Error>(Frame::data(Bytes::from_static(b"x"))),
                n + 1,
            ))
        });
        let slow = Deadline::new(
            http_body_util::StreamBody::new(Box::pin(drip)),
            Duration::from_millis(200),
        );
        let started = Instant::now();
        let read = slow.collect().await;
        assert!(read.is_err(), "a dripping body is cut off at the deadline");
        assert!(started.elapsed() < Duration::from_secs(1));

        let whole = Deadline::new(
            http_body_util::Full::new(Bytes::from_static(b"all of it")),
            Duration::from_millis(200),
        );
        assert_eq!(
            whole.collect().await.unwrap().to_bytes(),
            Bytes::from_static(b"all of it")
        );
    }

    #[test]
    fn the_cap_fits_the_open_files_limit() {
        let max = effective_max_connections(1024);
        assert!(max >= MIN_CONNECTIONS);
        assert!(max <= 1024);
    }

    #[test]
    fn the_oldest_idle_connection_is_evicted_first() {
        let registry = Registry::default();
        let busy_one = Arc::new(AtomicUsize::new(1));
        let (tx_busy, mut rx_busy) = oneshot::channel();
        registry.add(busy_one, tx_busy);
        let (tx_old, mut rx_old) = oneshot::channel();
        registry.add(Arc::new(AtomicUsize::new(0)), tx_old);
        let (tx_new, mut rx_new) = oneshot::channel();
        registry.add(Arc::new(AtomicUsize::new(0)), tx_new);
        assert!(registry.evict_oldest_idle());
        assert!(rx_old.try_recv().is_ok(), "the oldest idle one goes");
        assert!(rx_busy.try_recv().is_err(), "a busy one stays");
        assert!(rx_new.try_recv().is_err());
        assert!(registry.evict_oldest_idle());
        assert!(rx_new.try_recv().is_ok());
        assert!(!registry.evict_oldest_idle(), "only busy ones are left");
    }
}
