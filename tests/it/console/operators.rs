//! Operators: none on a fresh install, `storelink operator add` storing only an argon2id hash
//! (and `list`, `remove`), a removed operator losing access, a weaker hash upgraded at login.

use std::process::Stdio;

use secrecy::SecretString;
use storelink::password;
use tokio::io::AsyncWriteExt as _;

use super::*;

/// Runs `storelink operator ...` against `dir/cli.db`, feeding `stdin`.
async fn operator_cli(dir: &std::path::Path, args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_storelink"))
        .env_clear()
        .env("STORELINK_DATABASE_URL", "sqlite://cli.db")
        .current_dir(dir)
        .arg("operator")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    child.wait_with_output().await.unwrap()
}

#[tokio::test]
async fn a_fresh_install_has_no_operator() {
    let app = spawn_app().await;
    assert_eq!(app.count("SELECT COUNT(*) FROM operators").await, 0);
    let browser = browser();
    for (email, password) in [
        ("admin", "admin"),
        ("admin@example.com", "password"),
        ("", ""),
    ] {
        let response = app.login_attempt(&browser, email, password).await;
        assert_eq!(response.status(), 401, "{email}");
    }
}

#[tokio::test]
async fn operator_add_stores_only_an_argon2id_hash() {
    let dir = tempfile::tempdir().unwrap();
    let out = operator_cli(
        dir.path(),
        &["add", "Ops@Example.com", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let db =
        sqlx::SqlitePool::connect(&format!("sqlite://{}", dir.path().join("cli.db").display()))
            .await
            .unwrap();
    let (email, hash): (String, String) =
        sqlx::query_as("SELECT email, password_hash FROM operators")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(email, "ops@example.com");
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert_eq!(
        password::verify(&SecretString::from(PASSWORD), Some(&hash)),
        password::Verified::Yes,
        "the trailing newline is not part of the password"
    );
    db.close().await;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(
            !bytes
                .windows(PASSWORD.len())
                .any(|w| w == PASSWORD.as_bytes())
        );
    }

    // A short password is refused with a clear message; a duplicate too.
    let out = operator_cli(
        dir.path(),
        &["add", "b@example.com", "--password-stdin"],
        "short\n",
    )
    .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 12 characters"));
    let out = operator_cli(
        dir.path(),
        &["add", "ops@example.com", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    )
    .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));

    // list and remove.
    let out = operator_cli(dir.path(), &["list"], "").await;
    assert!(String::from_utf8_lossy(&out.stdout).contains("ops@example.com"));
    let out = operator_cli(dir.path(), &["remove", "ops@example.com"], "").await;
    assert!(out.status.success());
    let out = operator_cli(dir.path(), &["list"], "").await;
    assert!(!String::from_utf8_lossy(&out.stdout).contains("ops@example.com"));
}

#[tokio::test]
async fn a_removed_operator_loses_access() {
    let app = spawn_app().await;
    let operator = app.operator().await;
    assert_eq!(operator.get_response("/console").await.status(), 200);
    db::operators::remove(&app.db, EMAIL).await.unwrap();
    let response = operator.get_response("/console").await;
    assert_redirects_to_login(&response);
}

#[tokio::test]
async fn a_weaker_hash_is_upgraded_at_login() {
    use argon2::{
        Algorithm, Argon2, Params, PasswordHasher as _, Version, password_hash::SaltString,
    };
    let app = spawn_app().await;
    let weak = Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(4096, 1, 1, None).unwrap(),
    )
    .hash_password(
        PASSWORD.as_bytes(),
        &SaltString::generate(&mut argon2::password_hash::rand_core::OsRng),
    )
    .unwrap()
    .to_string();
    db::operators::add(&app.db, EMAIL, &weak, 0).await.unwrap();
    let response = app.login_attempt(&browser(), EMAIL, PASSWORD).await;
    assert_eq!(response.status(), 303);
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM operators")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
}
