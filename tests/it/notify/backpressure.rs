//! What the vendor's backend controls: `Retry-After` on a `429` or `503` pauses its endpoint
//! (seconds or an HTTP date, capped at the schedule's longest wait) and no other endpoint; a
//! rate limit holds in every second; a slow endpoint does not slow a fast one; recover sends
//! again exactly the failed messages since a time, once each, with their `webhook-id`.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use storelink::{
    db::{endpoints::Subscription, outbox},
    domain::{EndpointLimits, EventType},
    notify,
};
use wiremock::{
    Mock, Request, Respond, ResponseTemplate,
    matchers::{method, path},
};

use super::*;

/// Retries after 1 s, 1 s and 2 s: the longest wait, and so the longest pause, is 2 s.
const SHORT: &str = "1s,1s,2s";

async fn spawn_short() -> Notified {
    spawn_notified_with(|s| {
        s.notify.schedule = notify::RetrySchedule::parse(SHORT).unwrap();
    })
    .await
}

impl Notified {
    /// Adds an endpoint at `path` with `limits`; its id.
    async fn limited(&self, path: &str, limits: EndpointLimits) -> String {
        let url = format!("{}{path}", self.receiver.uri());
        notify::endpoints::add(
            &self.app.state.notify(),
            &url,
            &Subscription::All,
            limits,
            true,
            "operator:test@example.com",
        )
        .await
        .unwrap()
        .0
        .id
    }

    /// Queues a ping for endpoint `id`; the message's id.
    async fn ping(&self, id: &str) -> String {
        let id = outbox::enqueue_to(
            &self.app.db,
            id,
            EventType::Ping,
            &serde_json::json!({"n": 1}),
            self.app.clock.unix(),
        )
        .await
        .unwrap()
        .unwrap();
        self.app.state.notifier.wake();
        id
    }

    /// What arrived at `at` (a path).
    async fn got_at(&self, at: &str) -> Vec<String> {
        self.receiver
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.url.path() == at)
            .map(|r| {
                r.headers
                    .get("webhook-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    }

    async fn paused_until(&self, endpoint: &str) -> Option<i64> {
        sqlx::query_scalar("SELECT paused_until FROM notify_endpoints WHERE id = $1")
            .bind(endpoint)
            .fetch_one(&self.app.db)
            .await
            .unwrap()
    }
}

/// Answers the first request at `at` with `status` and `Retry-After: retry_after`, then 200;
/// 200 everywhere else.
async fn refuse_once(n: &Notified, at: &str, status: u16, retry_after: &str) {
    n.receiver.reset().await;
    Mock::given(method("POST"))
        .and(path(at))
        .respond_with(ResponseTemplate::new(status).insert_header("Retry-After", retry_after))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&n.receiver)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .with_priority(2)
        .mount(&n.receiver)
        .await;
}

#[tokio::test]
async fn a_429_with_retry_after_seconds_pauses_that_endpoint_only() {
    // Setup: a schedule whose first wait (1 s) is shorter than the pause asked for (3 s).
    let n = spawn_notified_with(|s| {
        s.notify.schedule = notify::RetrySchedule::parse("1s,10s").unwrap();
    })
    .await;
    refuse_once(&n, "/busy", 429, "3").await;
    let busy = n.limited("/busy", EndpointLimits::default()).await;
    let other = n.limited("/other", EndpointLimits::default()).await;

    // Exec: the first message is refused with Retry-After: 3.
    let first = n.ping(&busy).await;
    let attempts = n.wait_for_attempts(&first, 1).await;

    // Check: the attempt is recorded, the endpoint paused 3 s (rounded up).
    assert_eq!(attempts[0].0, Some(429));
    let now = n.app.clock.unix();
    let until = n.paused_until(&busy).await.unwrap();
    assert!((now + 3..=now + 4).contains(&until), "{until} vs {now}");
    // Neither that message nor another goes to it before then; the other endpoint is served.
    let second = n.ping(&busy).await;
    n.ping(&other).await;
    n.wait_for(2).await;
    n.app.advance(2);
    n.still(2).await;
    assert_eq!(n.got_at("/busy").await, std::slice::from_ref(&first));
    assert_eq!(n.got_at("/other").await.len(), 1);
    // After the pause both go: the first on its schedule (resumed after the pause).
    n.app.advance(until - n.app.clock.unix());
    n.wait_for(4).await;
    let mut busy_got = n.got_at("/busy").await;
    busy_got.sort();
    let mut expected = vec![first.clone(), first, second];
    expected.sort();
    assert_eq!(busy_got, expected);
}

#[tokio::test]
async fn a_503_with_an_http_date_pauses_until_that_date() {
    let n = spawn_short().await;
    let now = n.app.clock.now();
    let date = httpdate::fmt_http_date(std::time::SystemTime::from(now + Duration::from_secs(2)));
    refuse_once(&n, "/down", 503, &date).await;
    let down = n.limited("/down", EndpointLimits::default()).await;
    let message = n.ping(&down).await;
    assert_eq!(n.wait_for_attempts(&message, 1).await[0].0, Some(503));
    // The date is whole seconds: the pause ends at it, at most two seconds away.
    let until = n.paused_until(&down).await.unwrap();
    let start = now.unix_timestamp();
    assert!(
        (start + 1..=start + 2).contains(&until),
        "{until} vs {start}"
    );
    n.app.advance(until - n.app.clock.unix() - 1);
    n.still(1).await;
    n.app.advance(1);
    assert_eq!(n.wait_for_attempts(&message, 2).await[1].0, Some(200));
}

#[tokio::test]
async fn a_retry_after_longer_than_the_schedule_is_capped_at_its_longest_wait() {
    let n = spawn_short().await;
    refuse_once(&n, "/slowpoke", 429, "86400").await;
    let endpoint = n.limited("/slowpoke", EndpointLimits::default()).await;
    let message = n.ping(&endpoint).await;
    n.wait_for_attempts(&message, 1).await;
    let now = n.app.clock.unix();
    let until = n.paused_until(&endpoint).await.unwrap();
    // The longest wait of "1s,1s,2s" is 2 s (rounded up to the next whole second).
    assert!((now + 2..=now + 3).contains(&until), "{until} vs {now}");
    n.app.advance(3);
    assert_eq!(n.wait_for_attempts(&message, 2).await[1].0, Some(200));
}

/// Records when each notification arrived, and answers 200 (after `delay`).
#[derive(Clone, Default)]
struct Arrivals {
    at: Arc<Mutex<Vec<(Instant, String)>>>,
    delay: Duration,
}

impl Respond for Arrivals {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let id = request
            .headers
            .get("webhook-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        self.at.lock().unwrap().push((Instant::now(), id));
        ResponseTemplate::new(200).set_delay(self.delay)
    }
}

impl Arrivals {
    fn times(&self) -> Vec<(Instant, String)> {
        self.at.lock().unwrap().clone()
    }

    async fn wait_for(&self, n: usize, within: Duration) -> Vec<(Instant, String)> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.times();
            if got.len() >= n {
                return got;
            }
            assert!(Instant::now() < deadline, "{} of {n} arrived", got.len());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn a_rate_limited_endpoint_never_gets_more_than_its_rate_in_any_second() {
    // Setup: 200 messages queued for an endpoint limited to 5 a second.
    let n = spawn_notified().await;
    let arrivals = Arrivals::default();
    n.receiver.reset().await;
    Mock::given(method("POST"))
        .respond_with(arrivals.clone())
        .mount(&n.receiver)
        .await;
    let endpoint = n
        .limited("/limited", EndpointLimits::new(Some(5), 16).unwrap())
        .await;
    let mut queued = Vec::new();
    for _ in 0..200 {
        queued.push(n.ping(&endpoint).await);
    }

    // Exec: wait for all of them (5 a second: 40 s and a little).
    let got = arrivals.wait_for(200, Duration::from_secs(60)).await;

    // Check: every one arrived, once; no 1-second window holds more than 5.
    let mut ids: Vec<String> = got.iter().map(|(_, id)| id.clone()).collect();
    ids.sort();
    queued.sort();
    assert_eq!(ids, queued);
    let times: Vec<Instant> = got.iter().map(|(at, _)| *at).collect();
    for (i, at) in times.iter().enumerate().skip(5) {
        let gap = at.duration_since(times[i - 5]);
        assert!(
            gap >= Duration::from_secs(1),
            "arrivals {} and {i} are {gap:?} apart: 6 in one second",
            i - 5
        );
    }
}

#[tokio::test]
async fn a_slow_endpoint_does_not_slow_a_fast_one() {
    // Setup: an endpoint that answers after 5 s, with more queued for it than the worker has
    // slots; then messages for a fast one.
    let n = spawn_notified_with(|s| s.notify.timeout = Duration::from_secs(10)).await;
    let slow = Arrivals {
        delay: Duration::from_secs(5),
        ..Arrivals::default()
    };
    let fast = Arrivals::default();
    n.receiver.reset().await;
    Mock::given(method("POST"))
        .and(path("/slow"))
        .respond_with(slow.clone())
        .mount(&n.receiver)
        .await;
    Mock::given(method("POST"))
        .and(path("/fast"))
        .respond_with(fast.clone())
        .mount(&n.receiver)
        .await;
    let slow_id = n.limited("/slow", EndpointLimits::default()).await;
    let fast_id = n.limited("/fast", EndpointLimits::default()).await;
    for _ in 0..100 {
        n.ping(&slow_id).await;
    }
    slow.wait_for(1, Duration::from_secs(5)).await;

    // Exec: five messages for the fast endpoint while the slow one's are in flight.
    let start = Instant::now();
    for _ in 0..5 {
        n.ping(&fast_id).await;
    }

    // Check: they arrive at once, not after the slow answers; the slow one holds only its own
    // most-in-flight.
    fast.wait_for(5, Duration::from_secs(2)).await;
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert!(slow.times().len() <= 16, "{}", slow.times().len());
}

#[tokio::test]
async fn recover_sends_again_exactly_the_failed_messages_since_a_time_once_each() {
    // Setup: an endpoint failing everything; one message fails before T, two after, and one
    // after T is still pending (on its schedule).
    let n = spawn_notified_with(|s| {
        s.notify.schedule = notify::RetrySchedule::parse("1s").unwrap();
    })
    .await;
    answer(&n.receiver, 500).await;
    let endpoint = n.limited("/hooks", EndpointLimits::default()).await;
    let before = n.ping(&endpoint).await;
    n.wait_for_attempts(&before, 1).await;
    n.app.advance(2);
    n.wait_for_attempts(&before, 2).await;
    n.app.advance(60);
    let since = n.app.clock.unix();
    let failed: Vec<String> = vec![n.ping(&endpoint).await, n.ping(&endpoint).await];
    for id in &failed {
        n.wait_for_attempts(id, 1).await;
    }
    n.app.advance(2);
    for id in &failed {
        n.wait_for_attempts(id, 2).await;
    }
    let pending = n.ping(&endpoint).await;
    n.wait_for_attempts(&pending, 1).await;
    assert_eq!(n.messages("failed").await, 3);
    let sent_before = n.got().await.len();

    // Exec: the endpoint works again; recover since T.
    answer(&n.receiver, 200).await;
    let found = storelink::db::endpoints::find(&n.app.db, &endpoint)
        .await
        .unwrap()
        .unwrap();
    let recovered =
        notify::endpoints::recover(&n.app.state.notify(), &found, since, "operator:test")
            .await
            .unwrap();
    n.app.state.notifier.wake();

    // Check: the two failed after T are sent again, once each, with their webhook-id; the one
    // before T and the pending one are not (the pending one waits for its own schedule).
    assert_eq!(recovered, 2);
    let got = n.wait_for(2).await;
    let mut again: Vec<String> = got.iter().map(|g| g.id.clone()).collect();
    again.sort();
    let mut expected = failed.clone();
    expected.sort();
    assert_eq!(again, expected, "sent before: {sent_before}");
    // A second recover finds nothing failed: nothing is sent twice.
    let again = notify::endpoints::recover(&n.app.state.notify(), &found, since, "operator:test")
        .await
        .unwrap();
    assert_eq!(again, 0);
    n.still(2).await;
    assert_eq!(n.messages("failed").await, 1);
}
