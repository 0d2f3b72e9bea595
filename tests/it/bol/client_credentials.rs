//! Connections with a retailer's own client id and secret: added by an operator, the secret
//! sealed and never shown again, tokens from the client-credentials grant reused until 30 s
//! before they expire.

use secrecy::ExposeSecret as _;
use storelink::platforms::kit::api_call::TokenUnavailable;

use super::*;

const OWN_ID: &str = "retailer-own-client";
const OWN_SECRET: &str = "retailer-own-secret-9b7c2e";

/// A stand-in answering the client-credentials grant with a fresh token of `expires_in` s.
struct CredentialsIssuer {
    clock: ManualClock,
    expires_in: i64,
}

impl Respond for CredentialsIssuer {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if header(request, "authorization") != basic(OWN_ID, OWN_SECRET) {
            return ResponseTemplate::new(401).set_body_json(json!({
                "error": "invalid_client", "error_description": "Bad client credentials"
            }));
        }
        let now = self.clock.unix();
        ResponseTemplate::new(200).set_body_json(json!({
            "access_token": jwt(json!({"sub": OWN_ID, "exp": now + self.expires_in + 100, "iat": now, "n": rand_suffix()})),
            "token_type": "Bearer", "expires_in": self.expires_in, "scope": "RETAILER"
        }))
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::AtomicU64;
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

/// Submits the add-connection form; returns the response.
async fn add(
    operator: &mut ConsoleSession,
    name: &str,
    id: &str,
    secret: &str,
) -> reqwest::Response {
    operator.form_page("/console/connections/bol/new").await;
    operator
        .post_form(
            "/console/connections/bol",
            &[("name", name), ("client_id", id), ("client_secret", secret)],
        )
        .await
}

pub(crate) async fn added(app: &TestApp, expires_in: i64) -> (ConsoleSession, String) {
    app.bol_token_endpoint(CredentialsIssuer {
        clock: app.clock.clone(),
        expires_in,
    })
    .await;
    let mut operator = app.operator().await;
    let response = add(&mut operator, "Tulip Traders (own)", OWN_ID, OWN_SECRET).await;
    assert_eq!(response.status(), 303);
    let id = app.install_id(&format!("client:{OWN_ID}")).await;
    assert_eq!(location(&response), format!("/console/installs/{id}"));
    (operator, id)
}

#[tokio::test]
async fn an_operator_adds_a_connection_and_the_secret_is_never_shown_again() {
    let app = spawn_app().await;
    let (operator, id) = added(&app, 299).await;

    // The credentials were checked with one client-credentials request, Basic auth only.
    let requests = app.bol_token_requests().await;
    assert_eq!(requests.len(), 1);
    assert_eq!(
        header(&requests[0], "authorization"),
        basic(OWN_ID, OWN_SECRET)
    );
    assert_eq!(header(&requests[0], "accept"), "application/json");
    assert_eq!(requests[0].url.query(), None);
    let body = form(&requests[0]);
    assert_eq!(body["grant_type"], "client_credentials");
    assert!(!String::from_utf8_lossy(&requests[0].body).contains(OWN_SECRET));

    // Stored: the kind, the client id, the secret sealed, the token and its expiry.
    assert_eq!(
        app.install_field::<String>(&id, "auth_kind").await,
        "client_credentials"
    );
    assert_eq!(app.install_field::<String>(&id, "client_id").await, OWN_ID);
    assert_eq!(
        app.install_field::<String>(&id, "store_name").await,
        "Tulip Traders (own)"
    );
    assert_eq!(
        app.install_field::<i64>(&id, "name_set_by_operator").await,
        1,
        "the name typed on the form is the operator's"
    );
    assert_eq!(
        app.install_field::<i64>(&id, "token_expires_at").await,
        app.clock.unix() + 299
    );
    assert_eq!(
        app.credential_kinds(&id).await,
        ["access_token", "client_secret"]
    );
    let ciphertexts: Vec<Vec<u8>> = sqlx::query_scalar("SELECT ciphertext FROM credentials")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert!(
        ciphertexts
            .iter()
            .all(|c| !String::from_utf8_lossy(c).contains(OWN_SECRET))
    );
    let audited: Vec<String> = sqlx::query_scalar(
        "SELECT actor FROM audit_log WHERE install_id = $1 AND action = 'install'",
    )
    .bind(&id)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(audited, ["operator:ops@example.com"]);

    // The page says it was added, and never shows the secret.
    let page = operator.get(&format!("/console/installs/{id}")).await;
    assert!(page.contains("will not be shown again"), "{page}");
    assert!(
        page.contains("the retailer&#39;s own API credentials")
            || page.contains("the retailer&#x27;s own API credentials"),
        "{page}"
    );
    assert!(page.contains(OWN_ID));
    assert!(!page.contains(OWN_SECRET));
    let list = operator.get("/console").await;
    assert!(list.contains("Tulip Traders (own)"));
    assert!(!list.contains(OWN_SECRET));
}

#[tokio::test]
async fn refused_credentials_store_nothing_and_are_not_echoed() {
    let app = spawn_app().await;
    app.bol_token_endpoint(CredentialsIssuer {
        clock: app.clock.clone(),
        expires_in: 299,
    })
    .await;
    let mut operator = app.operator().await;
    let response = add(&mut operator, "Mine", OWN_ID, "wrong-secret-123").await;
    assert_eq!(response.status(), 502);
    let page = response.text().await.unwrap();
    assert!(page.contains("invalid_client"), "{page}");
    assert!(
        page.contains("bol.com rejected this client id and secret: check them in"),
        "in plain words, with the next step: {page}"
    );
    assert!(page.contains(OWN_ID), "the client id is kept");
    assert!(
        !page.contains("wrong-secret-123"),
        "the secret is not echoed"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM installs").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM credentials").await, 0);
}

#[tokio::test]
async fn the_form_needs_its_csrf_token_and_valid_fields() {
    let app = spawn_app().await;
    let mut operator = app.operator().await;
    let response = operator
        .post_form_bare(
            "/console/connections/bol",
            &[
                ("csrf_token", "forged"),
                ("name", "x"),
                ("client_id", OWN_ID),
                ("client_secret", OWN_SECRET),
            ],
        )
        .await;
    assert_eq!(response.status(), 403);
    let response = add(&mut operator, "Mine", "has spaces", OWN_SECRET).await;
    assert_eq!(response.status(), 400);
    assert!(app.bol_token_requests().await.is_empty());
    assert_eq!(app.count("SELECT COUNT(*) FROM installs").await, 0);
    let anonymous = browser()
        .get(app.url("/console/connections/bol/new"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 303, "behind login");
}

#[tokio::test]
async fn client_credentials_tokens_are_reused_not_requested_per_call() {
    let app = spawn_app().await;
    let (_, id) = added(&app, 299).await;

    let calls = (0..100).map(|_| crate::bol::bol_token(&app.state, &id));
    let tokens: Vec<String> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|t| t.unwrap().expose_secret().to_owned())
        .collect();
    assert!(tokens.iter().all(|t| *t == tokens[0]));
    assert_eq!(
        app.bol_token_requests().await.len(),
        1,
        "100 calls, one token request"
    );

    // Reused until 30 s before expires_in runs out, then renewed once.
    app.advance(299 - 31);
    crate::bol::bol_token(&app.state, &id).await.unwrap();
    assert_eq!(app.bol_token_requests().await.len(), 1);
    app.advance(1);
    let renewed = crate::bol::bol_token(&app.state, &id).await.unwrap();
    assert_ne!(renewed.expose_secret(), tokens[0]);
    let requests = app.bol_token_requests().await;
    assert_eq!(requests.len(), 2);
    assert_eq!(form(&requests[1])["grant_type"], "client_credentials");
    assert_eq!(
        header(&requests[1], "authorization"),
        basic(OWN_ID, OWN_SECRET)
    );
}

#[tokio::test]
async fn credentials_refused_later_mark_the_connection_as_needing_attention() {
    let app = spawn_app().await;
    let (operator, id) = added(&app, 299).await;
    app.bol_token_endpoint(ResponseTemplate::new(401).set_body_json(json!({
        "error": "invalid_client", "error_description": "Client credentials were removed"
    })))
    .await;
    app.advance(300);
    let result = crate::bol::bol_token(&app.state, &id).await;
    assert_eq!(result.err(), Some(TokenUnavailable::NeedsReauthorization));
    assert_eq!(
        app.install_field::<String>(&id, "status").await,
        "needs_attention"
    );
    let page = operator.get(&format!("/console/installs/{id}")).await;
    assert!(page.contains("Enter new credentials"), "{page}");
}

#[tokio::test]
async fn revoking_a_client_credentials_connection_erases_its_secret() {
    let app = spawn_app().await;
    let (mut operator, id) = added(&app, 299).await;
    let revoke = format!("/console/installs/{id}/revoke");
    operator.form_page(&revoke).await;
    let response = operator.post_form(&revoke, &[]).await;
    assert_eq!(response.status(), 303);
    assert!(app.credential_kinds(&id).await.is_empty());
    app.advance(3600);
    let result = crate::bol::bol_token(&app.state, &id).await;
    assert_eq!(result.err(), Some(TokenUnavailable::Revoked));
    assert_eq!(
        app.bol_token_requests().await.len(),
        1,
        "only the first, at adding"
    );
}
