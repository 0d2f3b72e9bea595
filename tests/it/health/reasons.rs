//! Why an install needs attention, told apart: a current token refused on a check
//! (`credentials_rejected`, which heals when a later check works), a refresh token refused
//! (`refresh_rejected`), a refresh whose answer was lost then refused (`rotation_lost`), and the
//! client credentials refused (`client_rejected`). Each is said once, with its reason, in the
//! install object, the audit log and the notification.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use serde_json::json;
use storelink::platforms::kit::api_call::FailureKind;
use wiremock::{Request, Respond, ResponseTemplate};

use super::*;
use crate::{
    api::problem,
    bol::{RETAILER, TokenIssuer},
    connections::created,
};

/// Install `id`'s status and reason, as the API shows them.
async fn status_and_reason(app: &TestApp, id: &str) -> (String, Value) {
    let object = app.install_object(id).await;
    (
        object["status"].as_str().unwrap().to_owned(),
        object["reason"].clone(),
    )
}

#[tokio::test]
async fn a_token_refused_on_a_check_needs_attention_once_and_heals_when_it_works_again() {
    let n = spawn_health(None, Duration::from_secs(5)).await;
    let app = &n.app;
    let id = n.maropost("S1").await;
    app.maropost_api_answers(ResponseTemplate::new(401)).await;

    let failure = app.check(&id).await.unwrap_err();
    assert_eq!(failure.kind, FailureKind::Rejected);
    assert_eq!(
        status_and_reason(app, &id).await,
        ("needs_attention".to_owned(), json!("credentials_rejected"))
    );
    let got = n.wait_for(2).await;
    assert_eq!(got[1].event_type(), "install.needs_attention");
    assert_eq!(got[1].json()["data"]["reason"], "credentials_rejected");
    assert_eq!(got[1].json()["data"]["status"], "needs_attention");

    // The vendor gets no token meanwhile, but the credentials are kept for the checks.
    let key = app.api_key("backend").await;
    let refused = app
        .api_post(&key, &format!("/api/v1/installs/{id}/access-token"))
        .await;
    problem(refused, 409).await;
    assert_eq!(app.credential_kinds(&id).await, ["access_token"]);

    // Refused again: said once, not once per check.
    app.check(&id).await.unwrap_err();
    n.still(2).await;
    assert_eq!(app.audited(&id, "needs_attention").await, 1);
    let health = app.health(&id).await;
    assert_eq!(health.consecutive_failures, 2);
    assert!(
        health.last_error.as_deref().unwrap().contains("401"),
        "{health:?}"
    );

    // The merchant puts the add-on back: the next check brings the same install back.
    app.maropost_api_answers(orders(1)).await;
    app.check(&id).await.unwrap();
    let got = n.wait_for(3).await;
    assert_eq!(got[2].event_type(), "install.recovered");
    assert_eq!(got[2].json()["data"]["status"], "active");
    assert_eq!(got[2].json()["data"]["reason"], Value::Null);
    assert_eq!(
        status_and_reason(app, &id).await,
        ("active".to_owned(), Value::Null)
    );
    assert_eq!(app.audited(&id, "recovered").await, 1);
    n.still(3).await;
}

#[tokio::test]
async fn a_refresh_token_refused_is_refresh_rejected() {
    let n = spawn_health(None, Duration::from_secs(5)).await;
    let app = &n.app;
    let id = app
        .connect_bol(&browser(), TokenIssuer::new(app, 600))
        .await;
    let before = n.wait_for(1).await.len();
    app.bol_token_endpoint(ResponseTemplate::new(400).set_body_json(json!({
        "error": "invalid_grant", "error_description": "Refresh token is revoked"
    })))
    .await;
    app.advance(600);

    let failure = app.check(&id).await.unwrap_err();
    assert_eq!(failure.kind, FailureKind::NeedsAttention);
    assert_eq!(
        status_and_reason(app, &id).await,
        ("needs_attention".to_owned(), json!("refresh_rejected"))
    );
    let got = n.wait_for(before + 1).await;
    assert_eq!(got[before].event_type(), "install.needs_attention");
    assert_eq!(got[before].json()["data"]["reason"], "refresh_rejected");
    assert!(
        app.credential_kinds(&id).await.is_empty(),
        "refused tokens are erased"
    );
    let audited = app.audit_details(&id, "needs_attention").await;
    assert_eq!(audited.len(), 1);
    assert!(audited[0].contains("refresh_rejected"), "{audited:?}");

    // It does not heal: the checker leaves it alone, and a check says so without a new event.
    app.check(&id).await.unwrap_err();
    n.still(before + 1).await;
}

/// A token endpoint whose first refresh answer never arrives (it comes after the client gave
/// up), and which refuses every later refresh: it had rotated the refresh token.
struct LostThenRefused {
    clock: storelink::clock::ManualClock,
    seen: Arc<AtomicUsize>,
}

impl Respond for LostThenRefused {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        match self.seen.fetch_add(1, Ordering::SeqCst) {
            0 => {
                let issuer = TokenIssuer::new_on(self.clock.clone(), 600);
                issuer.respond(_request).set_delay(Duration::from_secs(3))
            }
            _ => ResponseTemplate::new(400).set_body_json(json!({
                "error": "invalid_grant", "error_description": "Invalid refresh token"
            })),
        }
    }
}

#[tokio::test]
async fn a_refresh_whose_answer_was_lost_then_refused_is_rotation_lost() {
    let n = spawn_health(None, Duration::from_secs(1)).await;
    let app = &n.app;
    let id = app
        .connect_bol(&browser(), TokenIssuer::new(app, 600))
        .await;
    let before = n.wait_for(1).await.len();
    let seen = Arc::new(AtomicUsize::new(0));
    app.bol_token_endpoint(LostThenRefused {
        clock: app.clock.clone(),
        seen: seen.clone(),
    })
    .await;
    app.advance(600);

    // The first refresh times out (bol.com rotated the token, storelink never heard); whether
    // the refusal of the next comes in this check or the next, it is told apart.
    let mut checks = 0;
    while app.install_object(&id).await["status"] == "active" {
        app.check(&id).await.unwrap_err();
        checks += 1;
        assert!(checks <= 3, "still active after {checks} checks");
    }
    assert!(seen.load(Ordering::SeqCst) >= 2);
    assert_eq!(
        status_and_reason(app, &id).await,
        ("needs_attention".to_owned(), json!("rotation_lost"))
    );
    let got = n.wait_for(before + 1).await;
    assert_eq!(got[before].json()["data"]["reason"], "rotation_lost");
    n.still(before + 1).await;

    // Reconnecting brings the same install back, active and without a reason.
    let again = app
        .connect_bol(&browser(), TokenIssuer::new(app, 600))
        .await;
    assert_eq!(again, id);
    assert_eq!(
        status_and_reason(app, &id).await,
        ("active".to_owned(), Value::Null)
    );
    assert_eq!(app.install_id(RETAILER).await, id);
}

/// A stand-in OrderCloud token endpoint that issues client-credentials tokens until
/// `refuse_after` have been issued, then refuses the client.
struct Marketplace {
    issued: Arc<AtomicUsize>,
    refuse_after: usize,
}

impl Respond for Marketplace {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        let n = self.issued.fetch_add(1, Ordering::SeqCst);
        if n >= self.refuse_after {
            return ResponseTemplate::new(400).set_body_json(
                json!({"error": "invalid_client", "error_description": "Client not found"}),
            );
        }
        ResponseTemplate::new(200).set_body_json(
            json!({"access_token": format!("oc-at-{n}"), "expires_in": 600, "token_type": "bearer"}),
        )
    }
}

#[tokio::test]
async fn client_credentials_refused_are_client_rejected_and_the_console_offers_the_form() {
    let n = spawn_health(None, Duration::from_secs(5)).await;
    let app = &n.app;
    Mock::given(method("POST"))
        .and(path("/ordercloud/oauth/token"))
        .respond_with(Marketplace {
            issued: Arc::new(AtomicUsize::new(0)),
            refuse_after: 1,
        })
        .mount(&app.maropost)
        .await;
    let key = app.api_key("backend").await;
    let install = created(
        app.connect(
            &key,
            &json!({"platform": "ordercloud", "client_id": "oc-integration",
                    "client_secret": "oc-integration-secret", "grant_type": "client_credentials",
                    "name": "Marketplace"}),
        )
        .await,
    )
    .await;
    let id = install["id"].as_str().unwrap().to_owned();
    let before = n.wait_for(1).await.len();
    app.advance(600);

    let failure = app.check(&id).await.unwrap_err();
    assert_eq!(failure.kind, FailureKind::NeedsAttention);
    assert_eq!(
        status_and_reason(app, &id).await,
        ("needs_attention".to_owned(), json!("client_rejected"))
    );
    let got = n.wait_for(before + 1).await;
    assert_eq!(got[before].json()["data"]["reason"], "client_rejected");

    // The console says what happened and offers the form for new credentials, prefilled with
    // the client id (never the secret).
    let operator = app.operator().await;
    let page = operator.get(&format!("/console/installs/{id}")).await;
    assert!(
        page.contains("Needs attention: the platform refused the client credentials"),
        "{page}"
    );
    assert!(
        page.contains(
            r#"href="/console/connections/ordercloud/new?name=Marketplace&#38;client_id=oc-integration""#
        ),
        "{page}"
    );
    assert!(!page.contains("oc-integration-secret"));
    assert!(
        !page.contains("reconnect-url"),
        "no merchant link for an operator's connection"
    );
}
