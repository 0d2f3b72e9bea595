//! The token lifecycle against the stand-in bol.com: reuse while fresh, one refresh for many
//! callers (in one process and across two), rotation, invalid_grant, transient failures, and
//! revocation.

use std::{sync::Arc, time::Duration};

use secrecy::ExposeSecret as _;
use storelink::{
    app::Application,
    db::credentials::{self, Kind},
    platforms::kit::api_call::TokenUnavailable,
};
use wiremock::ResponseTemplate;

use super::*;

/// A connected retailer whose token lives `lifetime` seconds; the issuer's counter.
async fn connected(app: &TestApp, lifetime: i64) -> (String, Arc<AtomicUsize>) {
    let issuer = TokenIssuer::new(app, lifetime);
    let issued = issuer.issued.clone();
    let id = app.connect_bol(&browser(), issuer).await;
    (id, issued)
}

/// The refresh requests the stand-in received (the code exchange excluded).
async fn refreshes(app: &TestApp) -> Vec<HashMap<String, String>> {
    app.bol_token_requests()
        .await
        .iter()
        .map(form)
        .filter(|f| f["grant_type"] == "refresh_token")
        .collect()
}

async fn token(app: &TestApp, id: &str) -> Result<String, TokenUnavailable> {
    crate::bol::bol_token(&app.state, id)
        .await
        .map(|t| t.expose_secret().to_owned())
}

#[tokio::test]
async fn a_token_is_used_while_more_than_a_minute_of_it_remains() {
    let app = spawn_app().await;
    let (id, issued) = connected(&app, 600).await;
    let first = token(&app, &id).await.unwrap();
    app.advance(600 - 61);
    assert_eq!(token(&app, &id).await.unwrap(), first, "61 s left: reused");
    assert!(refreshes(&app).await.is_empty());

    app.advance(1);
    let renewed = token(&app, &id).await.unwrap();
    assert_ne!(renewed, first, "60 s left: refreshed");
    assert_eq!(refreshes(&app).await.len(), 1);
    assert_eq!(issued.load(Ordering::SeqCst), 2);
    assert_eq!(
        app.install_field::<i64>(&id, "token_expires_at").await,
        app.clock.unix() + 600
    );
}

#[tokio::test]
async fn fifty_concurrent_users_of_an_expired_token_cause_one_refresh() {
    let app = spawn_app().await;
    let (id, _) = connected(&app, 120).await;
    let mut slow = TokenIssuer::new(&app, 120);
    slow.delay = Duration::from_millis(300);
    app.bol_token_endpoint(slow).await;
    app.advance(121);

    let calls = (0..50).map(|_| token(&app, &id));
    let tokens: Vec<String> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();

    let refreshes = refreshes(&app).await;
    assert_eq!(refreshes.len(), 1, "exactly one refresh");
    assert!(
        tokens.iter().all(|t| *t == tokens[0]),
        "all got the new token"
    );
    let request = &app.bol_token_requests().await[0];
    assert_eq!(
        header(request, "authorization"),
        basic(BOL_CLIENT_ID, BOL_CLIENT_SECRET)
    );
    assert_eq!(request.url.query(), None);
    assert_eq!(refreshes[0]["refresh_token"], "rt-1");
}

#[tokio::test]
async fn two_processes_sharing_the_database_refresh_once() {
    let app = spawn_app().await;
    let (id, _) = connected(&app, 120).await;
    let mut slow = TokenIssuer::new(&app, 120);
    slow.delay = Duration::from_millis(200);
    app.bol_token_endpoint(slow).await;
    // A second storelink on the same database (and key), with its own per-process locks.
    let second = Application::build(app.settings.clone(), Arc::new(app.clock.clone()))
        .await
        .unwrap()
        .state();

    // Several rounds, so the processes meet at different points of each other's refresh.
    for round in 1..=4 {
        app.advance(61);
        let here = (0..25).map(|_| token(&app, &id));
        let there = (0..25).map(|_| {
            let state = second.clone();
            let id = id.clone();
            async move {
                crate::bol::bol_token(&state, &id)
                    .await
                    .map(|t| t.expose_secret().to_owned())
            }
        });
        let (here, there) = tokio::join!(
            futures::future::join_all(here),
            futures::future::join_all(there)
        );
        let all: Vec<String> = here.into_iter().chain(there).map(Result::unwrap).collect();
        assert_eq!(
            refreshes(&app).await.len(),
            round,
            "one refresh per round for both processes"
        );
        assert!(all.iter().all(|t| *t == all[0]));
    }
}

#[tokio::test]
async fn a_rotated_refresh_token_is_kept_and_the_old_one_never_sent_again() {
    let app = spawn_app().await;
    let (id, _) = connected(&app, 120).await;
    for _ in 0..3 {
        app.advance(61);
        token(&app, &id).await.unwrap();
    }
    let sent: Vec<String> = refreshes(&app)
        .await
        .into_iter()
        .map(|f| f["refresh_token"].clone())
        .collect();
    assert_eq!(sent, ["rt-1", "rt-2", "rt-3"], "each the latest one issued");
    let stored = credentials::open(&app.db, &app.state.keyring, &id, Kind::RefreshToken)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.expose_secret(), "rt-4");
}

#[tokio::test]
async fn a_refresh_without_a_new_refresh_token_keeps_the_old_one() {
    let app = spawn_app().await;
    let (id, _) = connected(&app, 120).await;
    let mut no_rotation = TokenIssuer::new(&app, 120);
    no_rotation.rotate = false;
    app.bol_token_endpoint(no_rotation).await;
    for _ in 0..2 {
        app.advance(61);
        token(&app, &id).await.unwrap();
    }
    let sent: Vec<String> = refreshes(&app)
        .await
        .into_iter()
        .map(|f| f["refresh_token"].clone())
        .collect();
    assert_eq!(sent, ["rt-1", "rt-1"]);
}

#[tokio::test]
async fn invalid_grant_marks_the_install_as_needing_reauthorization() {
    let app = spawn_app().await;
    let (id, _) = connected(&app, 120).await;
    app.bol_token_endpoint(ResponseTemplate::new(400).set_body_json(json!({
        "error": "invalid_grant", "error_description": "Refresh token is revoked"
    })))
    .await;
    app.advance(61);

    assert_eq!(
        token(&app, &id).await,
        Err(TokenUnavailable::NeedsReauthorization)
    );
    assert_eq!(
        app.install_field::<String>(&id, "status").await,
        "needs_attention"
    );
    assert!(
        app.credential_kinds(&id).await.is_empty(),
        "dead tokens erased"
    );
    let audited = app.audit_details(&id, "needs_attention").await;
    assert_eq!(audited.len(), 1);
    assert!(audited[0].contains("invalid_grant"), "{audited:?}");

    // No further refresh is attempted.
    assert_eq!(
        token(&app, &id).await,
        Err(TokenUnavailable::NeedsReauthorization)
    );
    assert_eq!(refreshes(&app).await.len(), 1);

    // The console says so and offers to start the flow again; connecting again restores it.
    let operator = app.operator().await;
    let page = operator.get(&format!("/console/installs/{id}")).await;
    assert!(
        page.contains("Needs attention: the platform refused the refresh token"),
        "{page}"
    );
    assert!(page.contains(r#"action="/install/bol""#) && page.contains("Reconnect bol.com"));
    let again = app
        .connect_bol(&operator.client, TokenIssuer::new(&app, 120))
        .await;
    assert_eq!(again, id);
    assert_eq!(app.install_field::<String>(&id, "status").await, "active");
    token(&app, &id).await.unwrap();
}

#[tokio::test]
async fn without_a_refresh_token_an_expiring_install_needs_reauthorization() {
    let app = spawn_app().await;
    // A code-flow answer without a refresh token is now refused (issue 14, item 10); an install
    // stored without one before that (or whose refresh token is gone) is made here by hand.
    let id = app
        .connect_bol(&browser(), TokenIssuer::new(&app, 120))
        .await;
    sqlx::query("DELETE FROM credentials WHERE install_id = $1 AND kind = 'refresh_token'")
        .bind(&id)
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(app.credential_kinds(&id).await, ["access_token"]);
    app.advance(61);
    assert_eq!(
        token(&app, &id).await,
        Err(TokenUnavailable::NeedsReauthorization)
    );
    assert!(refreshes(&app).await.is_empty(), "nothing to refresh with");
    assert_eq!(
        app.install_field::<String>(&id, "status").await,
        "needs_attention"
    );
}

#[tokio::test]
async fn a_server_error_on_refresh_is_retried_and_leaves_the_install_active() {
    let app = spawn_app().await;
    let (id, _) = connected(&app, 120).await;
    app.bol_token_endpoint(ResponseTemplate::new(503).set_body_string("maintenance"))
        .await;
    app.advance(61);

    let result = token(&app, &id).await;
    assert!(
        matches!(&result, Err(TokenUnavailable::Refresh(m)) if m.contains("503")),
        "{result:?}"
    );
    assert_eq!(refreshes(&app).await.len(), 3, "retried with backoff");
    assert_eq!(app.install_field::<String>(&id, "status").await, "active");
    assert_eq!(
        app.credential_kinds(&id).await,
        ["access_token", "refresh_token"]
    );

    // Once bol.com is back, the next use refreshes with the same refresh token.
    app.bol_token_endpoint(TokenIssuer::new(&app, 120)).await;
    token(&app, &id).await.unwrap();
    assert_eq!(refreshes(&app).await[0]["refresh_token"], "rt-1");
}

#[tokio::test]
async fn callers_queued_behind_a_failed_refresh_share_its_failure() {
    let app = spawn_app().await;
    let (id, _) = connected(&app, 120).await;
    app.bol_token_endpoint(ResponseTemplate::new(502).set_delay(Duration::from_millis(100)))
        .await;
    app.advance(61);
    let results = futures::future::join_all((0..20).map(|_| token(&app, &id))).await;
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Err(TokenUnavailable::Refresh(_))))
    );
    assert_eq!(
        refreshes(&app).await.len(),
        3,
        "one refresh's attempts, not twenty"
    );
}

#[tokio::test]
async fn revoking_erases_both_tokens_and_stops_all_refreshes() {
    let app = spawn_app().await;
    let (id, _) = connected(&app, 120).await;
    let mut operator = app.operator().await;
    let revoke = format!("/console/installs/{id}/revoke");
    operator.form_page(&revoke).await;
    let response = operator.post_form(&revoke, &[]).await;
    assert_eq!(response.status(), 303);
    assert!(app.credential_kinds(&id).await.is_empty());

    app.advance(600);
    assert_eq!(token(&app, &id).await, Err(TokenUnavailable::Revoked));
    assert!(refreshes(&app).await.is_empty(), "no refresh is attempted");
    // The revoked store's page no longer offers a test; a test posted anyway still fails
    // without a refresh.
    let page = operator.form_page(&format!("/console/installs/{id}")).await;
    assert!(!page.contains("Test connection"), "{page}");
    let response = operator
        .post_form(&format!("/console/installs/{id}/test"), &[])
        .await;
    assert_eq!(response.status(), 303);
    let page = operator.get(&format!("/console/installs/{id}")).await;
    assert!(page.contains("Connection test failed"), "{page}");
    assert!(refreshes(&app).await.is_empty());
}

#[tokio::test]
async fn a_revoke_during_a_refresh_keeps_nothing() {
    let app = spawn_app().await;
    let (id, _) = connected(&app, 120).await;
    let mut slow = TokenIssuer::new(&app, 120);
    slow.delay = Duration::from_millis(500);
    app.bol_token_endpoint(slow).await;
    app.advance(61);

    let refreshing = {
        let state = app.state.clone();
        let id = id.clone();
        tokio::spawn(async move { crate::bol::bol_token(&state, &id).await })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    let now = app.clock.unix();
    storelink::db::installs::revoke(&app.db, &id, "operator:test", now)
        .await
        .unwrap();
    let result = refreshing.await.unwrap();
    assert_eq!(result.err(), Some(TokenUnavailable::Revoked));
    assert!(
        app.credential_kinds(&id).await.is_empty(),
        "the new tokens were discarded"
    );
    assert_eq!(app.install_field::<String>(&id, "status").await, "revoked");
}
