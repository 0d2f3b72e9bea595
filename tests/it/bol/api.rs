//! API calls and "Test connection": bol.com's 401 and 429 handling, and the console's test for
//! both platforms, passing and failing.

use std::time::{Duration, Instant};

use storelink::platforms::{bol, kit::api_call::ApiError};
use wiremock::matchers::header as has_header;

use super::*;

const ORDERS_PATH: &str = "/bol/retailer/orders";

fn orders_answer() -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("content-type", "application/vnd.retailer.v10+json")
        .set_body_json(json!({"orders": [{"orderId": "A1"}, {"orderId": "A2"}]}))
}

fn problem(status: u16, title: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "type": "https://api.bol.com/problems", "title": title, "status": status
    }))
}

/// Mounts `first` for the first `times` orders requests, then `then`.
async fn orders_answer_with(
    app: &TestApp,
    first: ResponseTemplate,
    times: u64,
    then: ResponseTemplate,
) {
    Mock::given(method("GET"))
        .and(path(ORDERS_PATH))
        .respond_with(first)
        .up_to_n_times(times)
        .with_priority(1)
        .mount(&app.maropost)
        .await;
    Mock::given(method("GET"))
        .and(path(ORDERS_PATH))
        .respond_with(then)
        .with_priority(2)
        .mount(&app.maropost)
        .await;
}

async fn connected(app: &TestApp) -> String {
    app.connect_bol(&browser(), TokenIssuer::new(app, 600))
        .await
}

async fn stored(app: &TestApp, id: &str) -> storelink::db::installs::Install {
    storelink::db::installs::find(&app.state.db, id)
        .await
        .unwrap()
        .unwrap()
}

fn bearer(request: &Request) -> String {
    header(request, "authorization")
}

#[tokio::test]
async fn a_401_refreshes_once_and_retries_once() {
    let app = spawn_app().await;
    let id = connected(&app).await;
    orders_answer_with(&app, problem(401, "Expired JWT"), 1, orders_answer()).await;

    let answer = bol::retailer::orders(
        &app.state.platforms.bol().context(&app.state.calls()),
        &stored(&app, &id).await,
    )
    .await
    .unwrap();
    assert_eq!(answer["orders"].as_array().unwrap().len(), 2);

    let calls = app.requests_to(ORDERS_PATH).await;
    assert_eq!(calls.len(), 2);
    assert_ne!(
        bearer(&calls[0]),
        bearer(&calls[1]),
        "retried with the new token"
    );
    assert!(bearer(&calls[1]).starts_with("Bearer "));
    assert_eq!(
        header(&calls[0], "accept"),
        "application/vnd.retailer.v10+json"
    );
    let grants: Vec<String> = app
        .bol_token_requests()
        .await
        .iter()
        .map(|r| form(r)["grant_type"].clone())
        .collect();
    assert_eq!(grants, ["authorization_code", "refresh_token"]);
}

#[tokio::test]
async fn a_second_401_is_reported_not_retried_again() {
    let app = spawn_app().await;
    let id = connected(&app).await;
    orders_answer_with(&app, problem(401, "Expired JWT"), 10, orders_answer()).await;

    let error = bol::retailer::orders(
        &app.state.platforms.bol().context(&app.state.calls()),
        &stored(&app, &id).await,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&error, ApiError::Status { status: 401, detail: Some(d) } if d == "Expired JWT"),
        "{error:?}"
    );
    assert_eq!(app.requests_to(ORDERS_PATH).await.len(), 2);
    assert_eq!(
        app.bol_token_requests().await.len(),
        2,
        "the exchange and one refresh"
    );
}

#[tokio::test]
async fn a_429_waits_as_long_as_retry_after_says() {
    let app = spawn_app().await;
    let id = connected(&app).await;
    orders_answer_with(
        &app,
        problem(429, "Too Many Requests").insert_header("retry-after", "1"),
        1,
        orders_answer(),
    )
    .await;

    let started = Instant::now();
    bol::retailer::orders(
        &app.state.platforms.bol().context(&app.state.calls()),
        &stored(&app, &id).await,
    )
    .await
    .unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited Retry-After"
    );
    assert_eq!(app.requests_to(ORDERS_PATH).await.len(), 2);
    assert_eq!(
        app.bol_token_requests().await.len(),
        1,
        "a 429 is no reason to refresh"
    );
}

#[tokio::test]
async fn a_long_retry_after_is_reported_instead_of_waited() {
    let app = spawn_app().await;
    let id = connected(&app).await;
    orders_answer_with(
        &app,
        problem(429, "Too Many Requests").insert_header("retry-after", "3600"),
        10,
        orders_answer(),
    )
    .await;
    let started = Instant::now();
    let error = bol::retailer::orders(
        &app.state.platforms.bol().context(&app.state.calls()),
        &stored(&app, &id).await,
    )
    .await
    .unwrap_err();
    assert!(matches!(error, ApiError::RateLimited { retry_after: 3600 }));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(app.requests_to(ORDERS_PATH).await.len(), 1);
}

#[tokio::test]
async fn test_connection_for_bol_passes_and_fails_by_name() {
    let app = spawn_app().await;
    let id = connected(&app).await;
    let mut operator = app.operator().await;
    orders_answer_with(&app, problem(403, "Forbidden"), 1, orders_answer()).await;

    let page = operator.test_connection(&id).await;
    assert!(
        page.contains("Connection test failed: bol.com: the API answered HTTP 403: Forbidden"),
        "{page}"
    );
    let page = operator.test_connection(&id).await;
    assert!(
        page.contains("Connection test passed: bol.com answered GET /orders (2 order(s)"),
        "{page}"
    );
    assert!(page.contains("expires in"), "the token's expiry is shown");

    let audited = app.audit_details(&id, "test_connection").await;
    assert_eq!(audited.len(), 2);
    assert!(audited[0].starts_with("failed: bol.com: the API answered HTTP 403"));
    assert!(audited[1].starts_with("passed: "));
    let actors: Vec<String> =
        sqlx::query_scalar("SELECT actor FROM audit_log WHERE action = 'test_connection'")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert!(actors.iter().all(|a| a == "operator:ops@example.com"));
}

#[tokio::test]
async fn test_connection_needs_the_csrf_token() {
    let app = spawn_app().await;
    let id = connected(&app).await;
    let operator = app.operator().await;
    let response = operator
        .post_form_bare(
            &format!("/console/installs/{id}/test"),
            &[("csrf_token", "forged")],
        )
        .await;
    assert_eq!(response.status(), 403);
    assert!(app.requests_to(ORDERS_PATH).await.is_empty());
    assert!(app.audit_details(&id, "test_connection").await.is_empty());
}

#[tokio::test]
async fn test_connection_for_maropost_passes_and_fails_by_name() {
    let app = spawn_app().await;
    app.install(
        &browser(),
        "store-9",
        "surf.example.com",
        "maropost-token-xyz",
    )
    .await;
    let id: String = sqlx::query_scalar("SELECT id FROM installs WHERE provider = 'maropost'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let api = MAROPOST_API_PATH.replace("{store_domain}", "surf.example.com");
    Mock::given(method("POST"))
        .and(path(api.as_str()))
        .and(has_header("NETOAPI_ACTION", "GetOrder"))
        .and(has_header("X_ACCESS_KEY", CLIENT_ID))
        .and(has_header("X_SECRET_KEY", "maropost-token-xyz"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"Ack": "Success", "Order": [{"OrderID": "N1"}]})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&app.maropost)
        .await;
    Mock::given(method("POST"))
        .and(path(api.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "Ack": "Error",
            "Messages": [{"Error": {"Message": "Invalid API key", "SeverityLevel": "Error"}}]
        })))
        .with_priority(2)
        .mount(&app.maropost)
        .await;
    let mut operator = app.operator().await;

    let page = operator.test_connection(&id).await;
    assert!(
        page.contains(
            "Connection test passed: Maropost answered GetOrder with Ack Success (1 order(s)"
        ),
        "{page}"
    );
    let call = &app.requests_to(&api).await[0];
    let body: Value = serde_json::from_slice(&call.body).unwrap();
    assert_eq!(body["Filter"]["Limit"], "1");
    assert!(body["Filter"]["DatePlacedFrom"][0].is_string());
    assert_eq!(call.url.query(), None);

    let page = operator.test_connection(&id).await;
    assert!(
        page.contains(
            "Connection test failed: Maropost: the API refused the request: Invalid API key"
        ),
        "{page}"
    );
    assert!(!page.contains("maropost-token-xyz"));
    assert_eq!(app.audit_details(&id, "test_connection").await.len(), 2);
}
