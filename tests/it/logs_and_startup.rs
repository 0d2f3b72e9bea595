//! The real binary: what it logs during a whole install, and what stops it from starting.

use std::{
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::io::{AsyncBufReadExt as _, BufReader};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path},
};

use crate::helpers::*;

const BIN: &str = env!("CARGO_BIN_EXE_storelink");
const ACCESS_TOKEN: &str = "log-test-access-token-93be1f";
const CODE: &str = "log-test-code-4471aa";

/// The binary with an empty environment but for `vars`, in its own directory (so no `.env`
/// from the developer's checkout is read).
fn storelink(dir: &std::path::Path, vars: &[(&str, String)]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(BIN);
    command
        .env_clear()
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in vars {
        command.env(k, v);
    }
    command
}

#[tokio::test]
async fn secrets_never_reach_the_logs() {
    // Setup: a stand-in Maropost and the real binary, logging at debug level.
    let maropost = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_answer(
            "s1",
            "logs.example.com",
            ACCESS_TOKEN,
        )))
        .mount(&maropost)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let master_key = storelink::crypto::MasterKey::generate_base64();
    let master_key = secrecy::ExposeSecret::expose_secret(&master_key).to_owned();
    let mut child = storelink(
        dir.path(),
        &[
            ("STORELINK_BIND", "127.0.0.1:0".into()),
            ("STORELINK_DATABASE_URL", "sqlite://logs.db".into()),
            ("STORELINK_MASTER_KEY", master_key.clone()),
            ("MAROPOST_CLIENT_ID", CLIENT_ID.into()),
            ("MAROPOST_CLIENT_SECRET", CLIENT_SECRET.into()),
            (
                "MAROPOST_AUTHORIZE_URL",
                format!("{}{AUTHORIZE_PATH}", maropost.uri()),
            ),
            (
                "MAROPOST_TOKEN_URL",
                format!("{}{TOKEN_PATH}", maropost.uri()),
            ),
            ("RUST_LOG", "debug".into()),
        ],
    )
    .spawn()
    .unwrap();

    let log = Arc::new(Mutex::new(String::new()));
    let (port_tx, port_rx) = tokio::sync::oneshot::channel();
    let stderr = child.stderr.take().unwrap();
    let collector = {
        let log = log.clone();
        tokio::spawn(async move {
            let mut port_tx = Some(port_tx);
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(rest) = line.split("address=127.0.0.1:").nth(1) {
                    let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    if let (Some(tx), Ok(port)) = (port_tx.take(), port.parse::<u16>()) {
                        let _ = tx.send(port);
                    }
                }
                log.lock().unwrap().push_str(&line);
                log.lock().unwrap().push('\n');
            }
        })
    };
    let port = tokio::time::timeout(Duration::from_secs(30), port_rx)
        .await
        .expect("the binary starts listening")
        .unwrap();

    // Exec: a whole install, plus a failing one, through the binary.
    let base = url::Url::parse(&format!("http://localhost:{port}/")).unwrap();
    let browser = browser();
    let start = browser
        .get(
            base.join("/install/maropost?store_domain=logs.example.com")
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let authorize: std::collections::HashMap<String, String> = url::Url::parse(&location(&start))
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let state = authorize["state"].clone();
    let callback = browser
        .get(base.join("/oauth/maropost/callback").unwrap())
        .query(&[("code", CODE), ("state", &state)])
        .send()
        .await
        .unwrap();
    assert_eq!(callback.status(), 303);
    let replay = browser
        .get(base.join("/oauth/maropost/callback").unwrap())
        .query(&[("code", CODE), ("state", &state)])
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 400);

    // Graceful shutdown on SIGTERM.
    let pid = child.id().expect("running") as i32;
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("stops after SIGTERM")
        .unwrap();
    assert!(exit.success(), "clean exit after SIGTERM: {exit:?}");
    collector.await.unwrap();

    // Check
    let log = log.lock().unwrap().clone();
    assert!(
        log.contains("maropost install stored"),
        "the install is logged:\n{log}"
    );
    assert!(
        log.contains("/oauth/maropost/callback"),
        "requests are logged by path"
    );
    for secret in [
        ACCESS_TOKEN,
        CLIENT_SECRET,
        CODE,
        state.as_str(),
        master_key.as_str(),
    ] {
        assert!(
            !log.contains(secret),
            "the log contains a secret ({secret:.12}...):\n{log}"
        );
    }
}

#[tokio::test]
async fn start_up_is_refused_without_a_master_key_outside_sandbox_mode() {
    let dir = tempfile::tempdir().unwrap();
    let output = storelink(
        dir.path(),
        &[
            ("STORELINK_BIND", "127.0.0.1:0".into()),
            ("MAROPOST_CLIENT_ID", CLIENT_ID.into()),
            ("MAROPOST_CLIENT_SECRET", CLIENT_SECRET.into()),
        ],
    )
    .output()
    .await
    .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one clear line: {stderr}");
    assert!(lines[0].contains("STORELINK_MASTER_KEY"), "{stderr}");
    assert!(
        !dir.path().join("storelink.db").exists(),
        "nothing was created"
    );
}

#[tokio::test]
async fn bad_settings_stop_start_up_with_one_line_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    for (var, value) in [
        ("STORELINK_BIND", "not-an-address"),
        ("STORELINK_SANDBOX", "perhaps"),
        ("STORELINK_PUBLIC_URL", "ftp://x.example.com"),
        ("STORELINK_MASTER_KEY", "bm90IDMyIGJ5dGVz"),
    ] {
        let output = storelink(dir.path(), &[(var, value.into())])
            .output()
            .await
            .unwrap();
        assert!(!output.status.success(), "{var}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{var}: {stderr}");
        assert!(lines[0].contains(var), "{var}: {stderr}");
        assert!(
            !lines[0].contains(value) || var != "STORELINK_MASTER_KEY",
            "no secret echoed"
        );
    }
}

#[tokio::test]
async fn keygen_prints_a_usable_key_and_migrate_creates_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let output = storelink(dir.path(), &[])
        .arg("keygen")
        .output()
        .await
        .unwrap();
    assert!(output.status.success());
    let key = String::from_utf8(output.stdout).unwrap();
    assert!(
        storelink::crypto::MasterKey::from_base64(&secrecy::SecretString::from(key.trim())).is_ok()
    );

    let output = storelink(
        dir.path(),
        &[("STORELINK_DATABASE_URL", "sqlite://m.db".into())],
    )
    .arg("migrate")
    .output()
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", dir.path().join("m.db").display()))
        .await
        .unwrap();
    let tables: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('installs', 'credentials', 'audit_log', 'oauth_states')",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(tables, 4);
}

#[tokio::test]
async fn the_working_directorys_dot_env_is_read_and_only_that_one() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), "STORELINK_SANDBOX=perhaps\n").unwrap();
    let output = storelink(dir.path(), &[])
        .arg("migrate")
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("STORELINK_SANDBOX"));

    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let output = storelink(&sub, &[]).arg("migrate").output().await.unwrap();
    assert!(
        output.status.success(),
        "a parent folder's .env is not read: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn version_names_the_git_commit_it_was_built_from() {
    let dir = tempfile::tempdir().unwrap();
    let output = storelink(dir.path(), &[])
        .arg("--version")
        .output()
        .await
        .unwrap();
    assert!(output.status.success());
    let commit = storelink::version::COMMIT;
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("storelink 0.1.0 (commit {commit})\n")
    );
    // Built from this checkout: the commit checked out (build.rs runs again when HEAD moves).
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output();
    match head {
        Ok(head) if head.status.success() => {
            let head = String::from_utf8_lossy(&head.stdout).trim().to_owned();
            // A commit made after the test binary was built moves HEAD on: the build's commit
            // is then one HEAD descends from.
            let built_earlier = std::process::Command::new("git")
                .args(["merge-base", "--is-ancestor", commit, "HEAD"])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .is_ok_and(|s| s.success());
            assert!(commit == head || built_earlier, "{commit} is not {head}");
        }
        _ => assert_eq!(commit, "unknown"),
    }
}
