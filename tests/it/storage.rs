//! What reaches the disk: credentials only sealed, under a key the app must hold.

use std::sync::Arc;

use secrecy::ExposeSecret as _;
use storelink::{
    app::Application,
    clock::SystemClock,
    config::Settings,
    crypto::{MasterKey, Sealed},
    db::credentials::{self, Kind},
};

use crate::helpers::*;

const TOKEN: &str = "plaintext-access-token-5c1d2e";

#[tokio::test]
async fn access_token_is_absent_in_plaintext_from_the_database_files() {
    let app = spawn_app().await;
    app.install(&browser(), "s1", "a.example.com", TOKEN).await;

    // Every file SQLite may have written (the database, its WAL and shared memory), or every
    // column PostgreSQL keeps.
    let stored = app.at_rest().await;
    for (place, bytes) in &stored {
        assert!(
            !contains(bytes, TOKEN.as_bytes()),
            "{place} holds the token"
        );
        assert!(
            !contains(bytes, CLIENT_SECRET.as_bytes()),
            "{place} holds the client secret"
        );
    }
    assert!(stored.iter().map(|(_, bytes)| bytes.len()).sum::<usize>() > 0);

    // ... and yet it is there, sealed, and opens with the app's key and the install's id.
    let id: String = sqlx::query_scalar("SELECT id FROM installs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let stored = credentials::load(&app.db, &id, Kind::AccessToken)
        .await
        .unwrap()
        .expect("a sealed access token");
    assert_eq!(stored.sealed.key_id, app.state.keyring.current().id());
    let opened = app
        .state
        .keyring
        .open_string(
            &stored.sealed,
            &credentials::associated_data(&id, Kind::AccessToken),
        )
        .unwrap();
    assert_eq!(opened.expose_secret(), TOKEN);
    // Bound to its row: the same ciphertext does not open as another install's.
    assert!(
        app.state
            .keyring
            .open(
                &stored.sealed,
                &credentials::associated_data("other", Kind::AccessToken)
            )
            .is_err()
    );
}

#[tokio::test]
async fn start_up_with_another_master_key_is_refused() {
    let app = spawn_app().await;
    app.install(&browser(), "s1", "a.example.com", TOKEN).await;
    let url = app.settings.database_url.clone();

    let mut settings = Settings::sandbox_defaults(url);
    settings.sandbox = false;
    settings.master_key = Some(MasterKey::generate_base64());
    let err = Application::build(settings, Arc::new(SystemClock))
        .await
        .err()
        .expect("start-up refused");
    let message = format!("{err:#}");
    assert!(message.contains("STORELINK_MASTER_KEY"), "{message}");
    assert!(message.contains("key id"), "{message}");
}

#[tokio::test]
async fn malformed_master_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings =
        Settings::sandbox_defaults(format!("sqlite://{}", dir.path().join("x.db").display()));
    settings.sandbox = false;
    settings.master_key = Some(secrecy::SecretString::from("dG9vIHNob3J0"));
    let err = Application::build(settings, Arc::new(SystemClock))
        .await
        .err()
        .expect("start-up refused");
    assert!(format!("{err:#}").starts_with("STORELINK_MASTER_KEY"));
}

#[tokio::test]
async fn sandbox_generates_a_development_key_once_beside_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("dev.db").display());
    let first = Application::build(
        Settings::sandbox_defaults(url.clone()),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    let first_id = first.state().keyring.current().id().to_owned();
    drop(first);
    let key_file = dir.path().join("dev.db.master-key");
    assert!(key_file.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "only the owner can read the key");
    }
    let second = Application::build(Settings::sandbox_defaults(url), Arc::new(SystemClock))
        .await
        .unwrap();
    assert_eq!(second.state().keyring.current().id(), first_id);
}

#[tokio::test]
async fn a_tampered_ciphertext_does_not_open() {
    let app = spawn_app().await;
    app.install(&browser(), "s1", "a.example.com", TOKEN).await;
    let (id, key_id, nonce, mut ciphertext): (String, String, Vec<u8>, Vec<u8>) =
        sqlx::query_as("SELECT install_id, key_id, nonce, ciphertext FROM credentials")
            .fetch_one(&app.db)
            .await
            .unwrap();
    ciphertext[3] ^= 0x40;
    let sealed = Sealed {
        key_id,
        nonce,
        ciphertext,
    };
    assert!(
        app.state
            .keyring
            .open(
                &sealed,
                &credentials::associated_data(&id, Kind::AccessToken)
            )
            .is_err()
    );
}

#[tokio::test]
async fn the_master_key_can_be_rotated() {
    // Setup: an install sealed under the app's first key, and a flow in progress.
    let app = spawn_app().await;
    app.install(&browser(), "s1", "a.example.com", TOKEN).await;
    app.start_install(&browser(), "b.example.com").await;
    let old_key = app
        .settings
        .master_key
        .clone()
        .expect("the test app has a key");
    let old_id = app.state.keyring.current().id().to_owned();
    let url = app.settings.database_url.clone();

    // A new key alone cannot start: the stored credentials were sealed under the old one.
    let new_key = MasterKey::generate_base64();
    let mut settings = Settings::sandbox_defaults(url.clone());
    settings.sandbox = false;
    settings.master_key = Some(new_key.clone());
    assert!(
        Application::build(settings.clone(), Arc::new(SystemClock))
            .await
            .is_err()
    );

    // With the old key as a previous key it starts, and everything still opens.
    let mut rotating = settings.clone();
    rotating.previous_master_keys = vec![old_key.clone()];
    let during = Application::build(rotating, Arc::new(SystemClock))
        .await
        .unwrap();
    let id: String = sqlx::query_scalar("SELECT id FROM installs")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let stored = credentials::load(&app.db, &id, Kind::AccessToken)
        .await
        .unwrap()
        .unwrap();
    let aad = credentials::associated_data(&id, Kind::AccessToken);
    assert_eq!(
        during
            .state()
            .keyring
            .open_string(&stored.sealed, &aad)
            .unwrap()
            .expose_secret(),
        TOKEN
    );
    drop(during);

    // Exec: `storelink rotate-keys`, the real command.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_storelink"))
        .env_clear()
        .current_dir(app.dir.path())
        .env("STORELINK_DATABASE_URL", &url)
        .env("STORELINK_SANDBOX", "off")
        .env("STORELINK_MASTER_KEY", new_key.expose_secret())
        .env("STORELINK_PREVIOUS_MASTER_KEYS", old_key.expose_secret())
        .arg("rotate-keys")
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("2 value(s) re-sealed"));

    // Check: everything is under the new key, still opens, and the new key alone starts.
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT key_id FROM credentials
         UNION ALL SELECT verifier_key_id FROM oauth_states WHERE used_at IS NULL",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(ids.len(), 2);
    assert!(ids.iter().all(|id| *id != old_id), "{ids:?}");
    let after = Application::build(settings, Arc::new(SystemClock))
        .await
        .unwrap();
    let stored = credentials::load(&app.db, &id, Kind::AccessToken)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        after
            .state()
            .keyring
            .open_string(&stored.sealed, &aad)
            .unwrap()
            .expose_secret(),
        TOKEN
    );
    assert_eq!(stored.sealed.key_id, after.state().keyring.current().id());
}

#[tokio::test]
async fn a_malformed_previous_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings =
        Settings::sandbox_defaults(format!("sqlite://{}", dir.path().join("x.db").display()));
    settings.sandbox = false;
    settings.master_key = Some(MasterKey::generate_base64());
    settings.previous_master_keys = vec![secrecy::SecretString::from("nope")];
    let err = Application::build(settings, Arc::new(SystemClock))
        .await
        .err()
        .expect("start-up refused");
    assert!(format!("{err:#}").starts_with("STORELINK_PREVIOUS_MASTER_KEYS: key 1"));
}
