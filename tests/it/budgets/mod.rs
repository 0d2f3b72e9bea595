//! Rate budgets: the proxy answers `429` itself over budget (a problem naming the budget, a
//! `Retry-After` after which the call goes), `Prefer: wait=N` waits for a turn instead, a
//! platform's "slow down" stops every caller until it ends, token requests draw on a budget of
//! their own, and the store's page and the metrics show it. On PostgreSQL the same with two
//! instances on one database sharing each budget ([`shared`]).

mod shared;

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use storelink::{app::Application, config::Settings};
use url::Url;
use wiremock::{Mock, Request, Respond, ResponseTemplate, matchers::method};

use crate::{api::backend, bol::TokenIssuer, helpers::*};

const METRICS_TOKEN: &str = "metrics-token-0123456789";

/// A stand-in bol.com Retailer API endpoint limited like bol.com's: a token bucket of `rate`
/// requests a second (as many at once), answering `429` with `Retry-After` when it is empty.
/// It notes when each request came and how it was answered.
#[derive(Clone)]
struct LimitedEndpoint {
    rate: f64,
    bucket: Arc<Mutex<(f64, Instant)>>,
    seen: Arc<Mutex<Vec<(Instant, u16)>>>,
}

impl LimitedEndpoint {
    fn new(rate: f64) -> Self {
        Self {
            rate,
            bucket: Arc::new(Mutex::new((rate, Instant::now()))),
            seen: Arc::default(),
        }
    }

    fn seen(&self) -> Vec<(Instant, u16)> {
        self.seen.lock().unwrap().clone()
    }

    fn count(&self, status: u16) -> usize {
        self.seen().iter().filter(|(_, s)| *s == status).count()
    }
}

/// Mounts a [`LimitedEndpoint`] of `rate` for every `GET` on `app`'s stand-in.
async fn limited(app: &TestApp, rate: f64) -> LimitedEndpoint {
    let endpoint = LimitedEndpoint::new(rate);
    Mock::given(method("GET"))
        .respond_with(endpoint.clone())
        .mount(&app.maropost)
        .await;
    endpoint
}

/// Mounts, for every `GET` on `app`'s stand-in, an API that answers `429` with `Retry-After:
/// 3` once, then `200`; the moments of the requests it got.
async fn slows_down_once(app: &TestApp) -> Arc<Mutex<Vec<Instant>>> {
    let seen: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let noted = seen.clone();
    let first = Arc::new(std::sync::atomic::AtomicBool::new(true));
    Mock::given(method("GET"))
        .respond_with(move |_: &Request| {
            noted.lock().unwrap().push(Instant::now());
            if first.swap(false, std::sync::atomic::Ordering::SeqCst) {
                ResponseTemplate::new(429).insert_header("retry-after", "3")
            } else {
                ResponseTemplate::new(200).set_body_json(serde_json::json!({"orders": []}))
            }
        })
        .mount(&app.maropost)
        .await;
    seen
}

impl Respond for LimitedEndpoint {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let now = Instant::now();
        let status = {
            let mut bucket = self.bucket.lock().unwrap();
            let refill = now.duration_since(bucket.1).as_secs_f64() * self.rate;
            bucket.0 = (bucket.0 + refill).min(self.rate);
            bucket.1 = now;
            if bucket.0 >= 1.0 {
                bucket.0 -= 1.0;
                200
            } else {
                429
            }
        };
        self.seen.lock().unwrap().push((now, status));
        match status {
            200 => ResponseTemplate::new(200).set_body_json(serde_json::json!({"orders": []})),
            _ => ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .set_body_json(serde_json::json!({"title": "Too Many Requests", "status": 429})),
        }
    }
}

/// An app whose bol.com API budget is `rate` (`BOL_API_RATE_LIMIT`), with a metrics token.
async fn app_with_rate(rate: &'static str) -> TestApp {
    spawn_with(Options {
        configure: Some(Box::new(move |s: &mut Settings| {
            s.env.set("BOL_API_RATE_LIMIT", rate);
            s.metrics.token = Some(secrecy::SecretString::from(METRICS_TOKEN));
        })),
        ..Options::default()
    })
    .await
}

/// A bol.com install and a key for the vendor's backend.
async fn bol_install(app: &TestApp) -> (String, String) {
    let id = app
        .connect_bol(&browser(), TokenIssuer::new(app, 3600))
        .await;
    (id, app.api_key("backend").await)
}

/// A second instance of `app` on its database (PostgreSQL), serving at the returned URL.
async fn second_instance(app: &TestApp) -> Url {
    let second = Application::build(app.settings.clone(), Arc::new(app.clock.clone()))
        .await
        .expect("the second instance builds");
    let base = Url::parse(&format!("http://localhost:{}/", second.port())).unwrap();
    tokio::spawn(second.run_until(std::future::pending()));
    base
}

/// `GET {base}/api/v1/installs/{id}/proxy/{path}` with `key`, and `Prefer: wait=N` if asked.
async fn proxied(
    client: &reqwest::Client,
    base: &Url,
    id: &str,
    path: &str,
    key: &str,
    wait: Option<u64>,
) -> reqwest::Response {
    let mut request = client
        .get(
            base.join(&format!("api/v1/installs/{id}/proxy/{path}"))
                .unwrap(),
        )
        .bearer_auth(key);
    if let Some(secs) = wait {
        request = request.header("prefer", format!("wait={secs}"));
    }
    request.send().await.unwrap()
}

/// Whether `answer` is storelink's own "over budget" refusal (not the platform's 429).
fn is_ours(answer: &reqwest::Response) -> bool {
    answer.status() == 429
        && answer
            .headers()
            .get("content-type")
            .is_some_and(|v| v == "application/problem+json")
}

fn retry_after(answer: &reqwest::Response) -> u64 {
    answer.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn over_budget_the_proxy_answers_429_itself_and_the_caller_that_waits_is_let_through() {
    let app = app_with_rate("1/s").await;
    let (id, key) = bol_install(&app).await;
    let orders = limited(&app, 100.0).await;

    // Four callers at once, each on a connection of its own: the first goes, the second waits
    // its moment (under a second away), the other two are refused, told 1 and 2 s.
    let callers: Vec<reqwest::Client> = (0..4).map(|_| backend()).collect();
    let calls = callers
        .iter()
        .map(|client| proxied(client, &app.base, &id, "orders", &key, None));
    let answers = futures::future::join_all(calls).await;
    let refused_at = Instant::now();
    assert_eq!(answers.iter().filter(|a| a.status() == 200).count(), 2);
    let mut told: Vec<(usize, u64)> = answers
        .iter()
        .enumerate()
        .filter(|(_, a)| is_ours(a))
        .map(|(n, a)| (n, retry_after(a)))
        .collect();
    told.sort_by_key(|(_, wait)| *wait);
    assert_eq!(told.iter().map(|(_, w)| *w).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(
        orders.seen().len(),
        2,
        "nothing was sent for the refused calls"
    );
    let refused = answers.into_iter().find(is_ours).unwrap();
    let problem = crate::api::problem(refused, 429).await;
    assert_eq!(problem["type"], "urn:storelink:problem:rate-limited");
    assert_eq!(problem["budget"], "bol.com API (orders)");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("bol.com API (orders)"),
        "{problem}"
    );

    // Another endpoint group has a budget of its own.
    let shipments = proxied(&backend(), &app.base, &id, "shipments", &key, None).await;
    assert_eq!(shipments.status(), 200);

    // Each refused caller, coming back as long after as Retry-After said, goes.
    for (n, wait) in told {
        let back = refused_at + Duration::from_secs(wait);
        tokio::time::sleep_until(back.into()).await;
        let again = proxied(&callers[n], &app.base, &id, "orders", &key, None).await;
        assert_eq!(again.status(), 200, "caller {n}, told {wait} s");
    }
    assert_eq!(orders.count(200), 5);
}

#[tokio::test]
async fn prefer_wait_waits_for_turns_in_order_and_says_so() {
    let app = app_with_rate("4/s").await;
    let (id, key) = bol_install(&app).await;
    let orders = limited(&app, 4.0).await;
    let client = backend();

    let started = Instant::now();
    let calls = (0..12).map(|_| proxied(&client, &app.base, &id, "orders", &key, Some(10)));
    let answers = futures::future::join_all(calls).await;
    for answer in &answers {
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.headers()["preference-applied"], "wait=10");
    }
    assert!(
        started.elapsed() >= Duration::from_millis(2_500),
        "spaced at 4/s"
    );
    assert_eq!(orders.count(429), 0, "the platform never had to refuse");
    let seen = orders.seen();
    for pair in seen.windows(2) {
        assert!(
            pair[1].0 - pair[0].0 >= Duration::from_millis(200),
            "no two calls closer than the budget allows (250 ms, less scheduling)"
        );
    }

    // A wait longer than the cap is capped, and said so.
    let capped = proxied(&client, &app.base, &id, "orders", &key, Some(3600)).await;
    assert_eq!(capped.status(), 200);
    assert_eq!(capped.headers()["preference-applied"], "wait=30");

    // A wait too short for the queue: refused, and the preference was still applied.
    let calls = (0..8).map(|_| proxied(&client, &app.base, &id, "orders", &key, Some(1)));
    let answers = futures::future::join_all(calls).await;
    let refused: Vec<_> = answers.iter().filter(|a| is_ours(a)).collect();
    assert!(
        !refused.is_empty(),
        "8 calls at 4/s cannot all go within 1 s"
    );
    assert!(
        refused
            .iter()
            .all(|a| a.headers()["preference-applied"] == "wait=1")
    );
}

#[tokio::test]
async fn a_platforms_429_stops_every_caller_until_retry_after_ends() {
    // No ceiling of ours: only what bol.com says.
    let app = app_with_rate("0").await;
    let (id, key) = bol_install(&app).await;
    let seen = slows_down_once(&app).await;
    let client = backend();

    // The caller that met it gets the platform's answer, with its Retry-After.
    let met = proxied(&client, &app.base, &id, "orders", &key, None).await;
    let stopped_at = Instant::now();
    assert_eq!(met.status(), 429);
    assert!(!is_ours(&met), "the platform's own answer");
    assert_eq!(met.headers()["retry-after"], "3");

    // Every other caller is held by storelink until then; nothing reaches bol.com.
    let mut ours = 0;
    // (Within the last second a caller would wait for the end instead.)
    while stopped_at.elapsed() < Duration::from_millis(1_800) {
        let answer = proxied(&client, &app.base, &id, "orders", &key, None).await;
        assert!(is_ours(&answer), "{}", answer.status());
        assert!(retry_after(&answer) <= 3);
        ours += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ours > 5);
    // A caller that may wait gets through when the pause ends.
    let waited = proxied(&client, &app.base, &id, "orders", &key, Some(10)).await;
    assert_eq!(waited.status(), 200);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert!(
        seen[1] - seen[0] >= Duration::from_millis(2_900),
        "{:?}",
        seen[1] - seen[0]
    );

    // The store's page says when bol.com last said to slow down.
    let page = app
        .operator()
        .await
        .get(&format!("/console/installs/{id}"))
        .await;
    assert!(page.contains("Rate limits"), "{page}");
    assert!(page.contains("none of ours"), "{page}");
    assert!(page.contains("(HTTP 429)"), "{page}");

    // And the metrics count who said "too many": bol.com once, storelink for the rest.
    let metrics = client
        .get(app.url("/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"storelink_rate_limited_total{platform="bol",by="platform"}"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"storelink_rate_limited_total{platform="bol",by="storelink"}"#));
    assert!(metrics.contains(
        r#"storelink_platform_calls_total{platform="bol",group="orders",outcome="waited"}"#
    ));
}

#[tokio::test]
async fn the_store_page_shows_the_ceiling_per_endpoint_group() {
    let app = app_with_rate("5/s").await;
    let (id, _) = bol_install(&app).await;
    let page = app
        .operator()
        .await
        .get(&format!("/console/installs/{id}"))
        .await;
    assert!(page.contains("5/s per endpoint group"), "{page}");
    assert!(
        page.contains("has not told storelink to slow down"),
        "{page}"
    );
}

#[tokio::test]
async fn a_token_endpoints_429_holds_token_requests_until_it_ends() {
    let app = spawn_app().await;
    let (_, id) = crate::bol::client_credentials::added(&app, 60).await;
    assert_eq!(app.bol_token_requests().await.len(), 1);
    // bol.com's login service says to slow down once.
    app.maropost.reset().await;
    let refused_at = Instant::now();
    Mock::given(method("POST"))
        .and(wiremock::matchers::path(BOL_TOKEN_PATH))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "2"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&app.maropost)
        .await;
    Mock::given(method("POST"))
        .and(wiremock::matchers::path(BOL_TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": "renewed", "token_type": "Bearer", "expires_in": 299
        })))
        .with_priority(2)
        .mount(&app.maropost)
        .await;
    app.advance(61);
    // The renewal meets the 429, and its retry waits out the 2 s before asking again.
    let renewed = crate::bol::bol_token(&app.state, &id).await;
    assert!(renewed.is_ok(), "{renewed:?}");
    let requests = app.bol_token_requests().await;
    assert_eq!(
        requests.len(),
        2,
        "the 429, then one request after the pause"
    );
    assert!(refused_at.elapsed() >= Duration::from_millis(1_900));
}
