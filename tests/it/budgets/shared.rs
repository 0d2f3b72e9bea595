//! Two instances on one PostgreSQL database share every budget: twenty callers through both
//! keep bol.com's Retailer API inside its limit and use it fully, a platform's "slow down" met
//! through one instance holds the other's callers too, and fifty first uses of one
//! client-credentials connection through both make one token request. On SQLite these pass
//! without doing anything (one process writes a SQLite file).

use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::database::on_postgres;

/// How long the callers run.
const RUN: Duration = Duration::from_secs(20);
/// The stand-in's limit and `BOL_API_RATE_LIMIT`.
const RATE: f64 = 5.0;

#[tokio::test]
async fn twenty_callers_through_two_instances_stay_inside_the_limit_and_use_it() {
    if !on_postgres() {
        return;
    }
    let app = app_with_rate("5/s").await;
    let second = second_instance(&app).await;
    let (id, key) = bol_install(&app).await;
    let orders = limited(&app, RATE).await;
    let bases = [app.base.clone(), second];
    let retried = Arc::new(AtomicUsize::new(0));
    let retried_refused = Arc::new(AtomicUsize::new(0));
    let ours = Arc::new(AtomicUsize::new(0));

    let started = Instant::now();
    let callers = (0..20).map(|n| {
        let base = bases[n % 2].clone();
        let (id, key) = (id.clone(), key.clone());
        let (retried, retried_refused, ours) =
            (retried.clone(), retried_refused.clone(), ours.clone());
        tokio::spawn(async move {
            let client = backend();
            let mut after_wait = false;
            while started.elapsed() < RUN {
                let answer = proxied(&client, &base, &id, "orders", &key, None).await;
                if after_wait {
                    retried.fetch_add(1, Ordering::SeqCst);
                    if is_ours(&answer) {
                        retried_refused.fetch_add(1, Ordering::SeqCst);
                    }
                }
                after_wait = false;
                match answer.status().as_u16() {
                    200 => {}
                    429 if is_ours(&answer) => {
                        ours.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_secs(retry_after(&answer))).await;
                        after_wait = true;
                    }
                    // The platform's own 429: back off as it says.
                    _ => tokio::time::sleep(Duration::from_secs(1)).await,
                }
            }
        })
    });
    for caller in futures::future::join_all(callers).await {
        caller.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    // Within the run (callers told to wait may come back after it).
    let accepted = orders
        .seen()
        .iter()
        .filter(|(at, status)| *status == 200 && *at <= started + RUN)
        .count();
    let refused = orders.count(429);
    let retried = retried.load(Ordering::SeqCst);
    let retried_refused = retried_refused.load(Ordering::SeqCst);
    eprintln!(
        "{accepted} calls accepted by the stand-in in the {} s run, {refused} refused in \
         {elapsed:.1} s; \
         storelink refused {} itself; {retried_refused} of {retried} calls made after \
         Retry-After were refused again",
        RUN.as_secs(),
        ours.load(Ordering::SeqCst)
    );
    assert!(refused <= 2, "the platform refused {refused} calls");
    let used = accepted as f64 / (RATE * RUN.as_secs_f64());
    assert!(used >= 0.9, "the limit was used at {:.0} %", used * 100.0);
    assert!(retried > 20, "callers were told to wait ({retried})");
    // A caller that waits as told goes: its turn is kept for it (for the key and connection
    // it came on) until half a second past its Retry-After. One that comes back later than
    // that, on this loaded machine, or on a new connection, is a caller like any other.
    assert!(
        retried_refused * 50 <= retried,
        "{retried_refused} of {retried} refused again after waiting"
    );
}

#[tokio::test]
async fn twenty_callers_that_prefer_to_wait_through_two_instances_all_get_through() {
    if !on_postgres() {
        return;
    }
    let app = app_with_rate("5/s").await;
    let second = second_instance(&app).await;
    let (id, key) = bol_install(&app).await;
    let orders = limited(&app, RATE).await;
    let bases = [app.base.clone(), second];
    let client = backend();
    let calls = (0..20).map(|n| proxied(&client, &bases[n % 2], &id, "orders", &key, Some(10)));
    for answer in futures::future::join_all(calls).await {
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.headers()["preference-applied"], "wait=10");
    }
    assert_eq!(orders.count(429), 0);
    assert_eq!(orders.count(200), 20);
}

#[tokio::test]
async fn a_429_met_through_one_instance_holds_the_others_callers() {
    if !on_postgres() {
        return;
    }
    // No ceiling of ours: only what bol.com says.
    let app = app_with_rate("0").await;
    let second = second_instance(&app).await;
    let (id, key) = bol_install(&app).await;
    let seen = slows_down_once(&app).await;
    let client = backend();
    let met = proxied(&client, &app.base, &id, "orders", &key, None).await;
    let stopped_at = Instant::now();
    assert_eq!(met.status(), 429);
    assert!(!is_ours(&met));

    // Through both instances, for the 3 s: storelink answers, bol.com hears nothing.
    let bases = [app.base.clone(), second];
    let mut n = 0;
    // (Within the last second a caller would wait for the end instead.)
    while stopped_at.elapsed() < Duration::from_millis(1_800) {
        let answer = proxied(&client, &bases[n % 2], &id, "orders", &key, None).await;
        assert!(is_ours(&answer), "instance {}: {}", n % 2, answer.status());
        n += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let waited = proxied(&client, &bases[1], &id, "orders", &key, Some(10)).await;
    assert_eq!(waited.status(), 200);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "one 429, then one call after the pause");
    assert!(seen[1] - seen[0] >= Duration::from_millis(2_900));
}

#[tokio::test]
async fn fifty_first_uses_of_a_client_credentials_connection_through_two_instances_make_one_token_request()
 {
    if !on_postgres() {
        return;
    }
    let app = spawn_app().await;
    let second = second_instance(&app).await;
    let (_, id) = crate::bol::client_credentials::added(&app, 299).await;
    assert_eq!(
        app.bol_token_requests().await.len(),
        1,
        "the connection's check"
    );
    let key = app.api_key("backend").await;
    // The token runs out: the next use of each instance needs a new one.
    app.advance(300);
    let bases = [app.base.clone(), second];
    let client = backend();
    let calls = (0..50).map(|n| {
        client
            .post(
                bases[n % 2]
                    .join(&format!("api/v1/installs/{id}/access-token"))
                    .unwrap(),
            )
            .bearer_auth(&key)
            .send()
    });
    let mut tokens = Vec::new();
    for answer in futures::future::join_all(calls).await {
        let answer = answer.unwrap();
        assert_eq!(answer.status(), 200);
        let body: serde_json::Value = answer.json().await.unwrap();
        tokens.push(body["access_token"].as_str().unwrap().to_owned());
    }
    assert!(tokens.iter().all(|t| *t == tokens[0]), "one token for all");
    assert_eq!(
        app.bol_token_requests().await.len(),
        2,
        "fifty first uses, one token request"
    );
}
