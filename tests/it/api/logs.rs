//! Tokens and keys never reach the logs: the real binary, logging at debug level, serves a
//! sandbox store's token and proxies a call, and its log holds neither the token nor the key.

use super::*;

#[tokio::test]
async fn tokens_and_keys_never_reach_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_storelink");
    let env = [
        ("STORELINK_BIND", "127.0.0.1:0"),
        ("STORELINK_SANDBOX", "on"),
        ("RUST_LOG", "debug"),
    ];
    let created = tokio::process::Command::new(bin)
        .env_clear()
        .envs(env)
        .current_dir(dir.path())
        .args(["api-key", "create", "logged"])
        .output()
        .await
        .unwrap();
    let key = String::from_utf8(created.stdout).unwrap().trim().to_owned();
    let mut running = start_binary(dir.path(), &env[1..]).await;
    let (port, mut log, mut lines) = (
        running.port,
        std::mem::take(&mut running.log),
        running.lines,
    );
    let collector = tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            log.push_str(&line);
            log.push('\n');
        }
        log
    });
    let base = url::Url::parse(&format!("http://localhost:{port}/")).unwrap();

    // A merchant connects a sandbox store.
    let merchant = browser();
    let start = merchant
        .get(
            base.join("/install/maropost?store_domain=logs.example.com")
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let authorize = url::Url::parse(&location(&start)).unwrap();
    let mut form: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
    form.push(("decision".into(), "approve".into()));
    let approved = merchant
        .post(base.join("/sandbox/maropost/oauth/v2/auth").unwrap())
        .form(&form)
        .send()
        .await
        .unwrap();
    let callback = merchant.get(location(&approved)).send().await.unwrap();
    assert_eq!(callback.status(), 303);

    // The backend reads the token and calls the store through the proxy.
    let api = backend();
    let list: Value = api
        .get(base.join("/api/v1/installs").unwrap())
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = list["data"][0]["id"].as_str().unwrap().to_owned();
    let token: Value = api
        .post(
            base.join(&format!("/api/v1/installs/{id}/access-token"))
                .unwrap(),
        )
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access_token = token["access_token"].as_str().unwrap().to_owned();
    let proxied = api
        .post(base.join(&format!("/api/v1/installs/{id}/proxy")).unwrap())
        .bearer_auth(&key)
        .header("NETOAPI_ACTION", "GetOrder")
        .json(&serde_json::json!({"Filter": {"OrderStatus": ["New"]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(proxied.status(), 200);
    let bad = api
        .get(base.join("/api/v1/installs").unwrap())
        .bearer_auth(format!("{key}x"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);

    running.child.kill().await.unwrap();
    let log = collector.await.unwrap();
    assert!(
        log.contains("/api/v1/installs"),
        "requests are logged: {log}"
    );
    assert!(!log.contains(&access_token), "the token is not in the log");
    assert!(!log.contains(&key[4..]), "the key is not in the log");
}
