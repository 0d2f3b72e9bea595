//! A store's page and revoking it: CSRF-protected, the credentials erased, audited, idempotent;
//! a new install reactivating a revoked store; unknown install ids `404`.

use super::*;

#[tokio::test]
async fn revoke_without_csrf_is_refused() {
    let app = spawn_app().await;
    let id = installed_id(&app).await;
    let operator = app.operator().await;
    for form in [vec![], vec![("csrf_token", "forged")]] {
        let response = operator
            .post_form_bare(&format!("/console/installs/{id}/revoke"), &form)
            .await;
        assert_eq!(response.status(), 403);
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM installs WHERE status = 'active'")
            .await,
        1
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM credentials").await, 1);
}

#[tokio::test]
async fn revoke_erases_the_credentials_is_audited_and_is_idempotent() {
    let app = spawn_app().await;
    let id = installed_id(&app).await;
    let mut operator = app.operator().await;

    // The detail page shows the credential's state, never the secret.
    let detail = operator.get(&format!("/console/installs/{id}")).await;
    assert!(detail.contains("revoke.example.com"));
    assert!(detail.contains("access token") && detail.contains("present"));
    assert!(detail.contains("Ryan Murtagh"));
    assert!(detail.contains("Brisbane"));
    assert!(!detail.contains("secret-token-for-revoke"));

    // The confirmation step explains what revoking does and does not do.
    let revoke = format!("/console/installs/{id}/revoke");
    let confirm = operator.form_page(&revoke).await;
    assert!(confirm.contains("still has to remove the add-on"));

    let response = operator.post_form(&revoke, &[]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), format!("/console/installs/{id}"));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM credentials").await,
        0,
        "ciphertext erased"
    );
    let (status, updated_at): (String, i64) =
        sqlx::query_as("SELECT status, updated_at FROM installs")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(status, "revoked");
    let (actor, action): (String, String) =
        sqlx::query_as("SELECT actor, action FROM audit_log WHERE action = 'revoke'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(
        (actor.as_str(), action.as_str()),
        ("operator:ops@example.com", "revoke")
    );
    let detail = operator.get(&format!("/console/installs/{id}")).await;
    assert!(detail.contains("is revoked"));
    assert!(detail.contains("None stored"));

    // Again: nothing changes, and the page says so.
    app.clock.advance(time::Duration::minutes(1));
    let response = operator.post_form(&revoke, &[]).await;
    assert_eq!(response.status(), 303);
    let detail = operator.get(&format!("/console/installs/{id}")).await;
    assert!(detail.contains("already revoked; nothing changed"));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'revoke'")
            .await,
        1
    );
    let after: i64 = sqlx::query_scalar("SELECT updated_at FROM installs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(after, updated_at);

    // The audit page names the operator.
    let audit = operator
        .get(&format!("/console/audit?install={id}&action=revoke"))
        .await;
    assert!(audit.contains("<td>ops@example.com</td><td>Revoked</td>"));
}

#[tokio::test]
async fn a_new_install_reactivates_a_revoked_store() {
    let app = spawn_app().await;
    let id = installed_id(&app).await;
    storelink::db::installs::revoke(&app.db, &id, "operator:x", 1)
        .await
        .unwrap();
    app.install(&browser(), "store-r", "revoke.example.com", "a-new-token")
        .await;
    let (status, same_id): (String, String) = sqlx::query_as("SELECT status, id FROM installs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!((status.as_str(), same_id.as_str()), ("active", id.as_str()));
    assert_eq!(app.count("SELECT COUNT(*) FROM credentials").await, 1);
    let detail: String =
        sqlx::query_scalar("SELECT detail FROM audit_log WHERE action = 'reinstall'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(detail.contains("status was revoked"));
}

#[tokio::test]
async fn unknown_install_ids_are_404() {
    let app = spawn_app().await;
    let operator = app.operator().await;
    for path in [
        "/console/installs/0123456789abcdef0123456789abcdef",
        "/console/installs/not-hex",
        "/console/installs/..%2f..%2fetc",
    ] {
        assert_eq!(operator.get_response(path).await.status(), 404, "{path}");
    }
}
