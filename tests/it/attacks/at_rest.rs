//! Item 3: the database was world-readable (`storelink.db`, `-wal`, `-shm` mode 644 under
//! umask 022) and held live session ids: reading one gave a logged-in console.

use crate::helpers::*;

#[cfg(unix)]
#[tokio::test]
async fn at_rest_database_files_are_created_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let app = spawn_with(Options {
        sqlite_only: true,
        ..Options::default()
    })
    .await;
    // Something written, so the WAL and shared-memory files exist.
    app.install(&browser(), "s1", "files.example.com", "tok")
        .await;
    for name in ["storelink.db", "storelink.db-wal", "storelink.db-shm"] {
        let path = app.dir.path().join(name);
        let mode = std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{name} has mode {mode:o}");
    }
}

#[tokio::test]
async fn at_rest_a_session_id_read_from_the_database_does_not_log_in() {
    let app = spawn_app().await;
    let operator = app.operator().await;
    assert_eq!(
        operator.get_response("/console").await.status(),
        200,
        "the operator's own cookie works"
    );

    // Whoever copies the database reads every stored session id...
    let stored: Vec<String> = sqlx::query_scalar("SELECT id FROM sessions")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert!(!stored.is_empty());
    for id in stored {
        // ...and presents each as a cookie.
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("cookie", format!("storelink_session={id}").parse().unwrap());
        let thief = reqwest::Client::builder()
            .default_headers(headers)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let response = thief.get(app.url("/console")).send().await.unwrap();
        assert_eq!(response.status(), 303, "a stored id is no session");
        assert!(location(&response).starts_with("/console/login"));
    }
    // The login page still works for everyone.
    let _ = app.login_csrf(&browser()).await;
}
