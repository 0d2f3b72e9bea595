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

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn access_token_is_absent_in_plaintext_from_the_database_files() {
    let app = spawn_app().await;
    app.install(&browser(), "s1", "a.example.com", TOKEN).await;

    // Every file SQLite may have written: the database, its WAL and shared memory.
    let mut checked = 0;
    for entry in std::fs::read_dir(app.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        checked += bytes.len();
        assert!(
            !contains(&bytes, TOKEN.as_bytes()),
            "{} holds the token",
            path.display()
        );
        assert!(
            !contains(&bytes, CLIENT_SECRET.as_bytes()),
            "{} holds the client secret",
            path.display()
        );
    }
    assert!(checked > 0);

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
    let url = format!("sqlite://{}", app.dir.path().join("storelink.db").display());

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
