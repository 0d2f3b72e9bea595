//! Item 1: parallel guesses bypassed the login lockout (all 119 wrong passwords of a burst were
//! checked, then the right one logged in) and exhausted memory (each argon2 check holds 19 MiB,
//! with no cap: 21 MB to 2.8 GB).

use std::collections::HashMap;

use super::binary;
use crate::{
    helpers::*,
    operator::{EMAIL, PASSWORD, add_operator, login_attempt, login_csrf},
};
/// Failures allowed per account before it locks (`Subject::account`).
const ACCOUNT_LIMIT: usize = 10;
/// Failures allowed per client address before it locks (`Subject::client`).
const CLIENT_LIMIT: usize = 50;

/// Fires one login per `(email, password)` at once, each from its own browser whose CSRF token
/// was fetched first; returns how many answers had each status.
async fn burst(base: &url::Url, attempts: &[(String, String)]) -> HashMap<u16, usize> {
    let mut prepared = Vec::new();
    for (email, password) in attempts {
        let browser = browser();
        let csrf = login_csrf(base, &browser).await;
        prepared.push((browser, csrf, email, password));
    }
    let answers = futures::future::join_all(prepared.iter().map(|(b, csrf, email, password)| {
        b.post(base.join("/console/login").unwrap())
            .form(&[
                ("email", email.as_str()),
                ("password", password.as_str()),
                ("csrf_token", csrf.as_str()),
            ])
            .send()
    }))
    .await;
    let mut counts = HashMap::new();
    for answer in answers {
        *counts.entry(answer.unwrap().status().as_u16()).or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn login_burst_checks_at_most_the_accounts_limit() {
    let app = spawn_app().await;
    add_operator(&app, EMAIL, PASSWORD).await;
    let _ = app.login_csrf(&browser()).await;

    // 119 wrong passwords at once. (The right one is not in the burst: a success rightly starts
    // the account afresh, and where it lands in a burst depends on the scheduler.)
    let attempts: Vec<(String, String)> = (0..119)
        .map(|i| (EMAIL.to_owned(), format!("wrong password {i}")))
        .collect();
    let counts = burst(&app.base, &attempts).await;
    let mut checked = counts.get(&401).copied().unwrap_or(0);
    assert!(
        checked <= ACCOUNT_LIMIT,
        "{checked} passwords were checked, the limit is {ACCOUNT_LIMIT}: {counts:?}"
    );
    // Everything else was refused unchecked: locked (429) or no free check slot (503, which
    // gives its reservation back; under load it may be most of them).
    let refused = counts.get(&429).copied().unwrap_or(0) + counts.get(&503).copied().unwrap_or(0);
    assert_eq!(checked + refused, 119, "{counts:?}");

    // One at a time now: the failures the burst did not use up are all that is left, then the
    // account locks, and stays locked even for the right password.
    let browser = browser();
    let attempt = |password: String| {
        let browser = browser.clone();
        let app = &app;
        async move {
            login_attempt(&app.base, &browser, EMAIL, &password)
                .await
                .status()
                .as_u16()
        }
    };
    for i in 0.. {
        match attempt(format!("another wrong password {i}")).await {
            401 => checked += 1,
            429 => break,
            other => panic!("a single wrong guess was answered {other}"),
        }
        assert!(
            checked <= ACCOUNT_LIMIT,
            "{checked} passwords were checked, the limit is {ACCOUNT_LIMIT}: {counts:?}"
        );
    }
    assert_eq!(checked, ACCOUNT_LIMIT, "{counts:?}");
    assert_eq!(attempt(PASSWORD.to_owned()).await, 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_burst_keeps_the_real_binarys_memory_bounded() {
    // The real binary, so its memory is its own.
    let dir = tempfile::tempdir().unwrap();
    binary::add_operator(dir.path(), EMAIL, PASSWORD).await;
    let (child, port) = binary::serve(dir.path(), &[], None).await;
    let pid = child.id().unwrap();
    let base = url::Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
    let before = binary::peak_rss(pid);

    // 120 guesses at 120 accounts from one address: only the address's limit applies, so
    // without a cap on password checks 50 argon2 checks (19 MiB each) would run at once.
    let attempts: Vec<(String, String)> = (0..120)
        .map(|i| {
            (
                format!("guess{i}@example.com"),
                "wrong password!!".to_owned(),
            )
        })
        .collect();
    let counts = burst(&base, &attempts).await;
    let peak = binary::peak_rss(pid);
    eprintln!(
        "peak RSS before {} MiB, after the burst {} MiB; answers {counts:?}",
        before >> 20,
        peak >> 20
    );
    let checked = counts.get(&401).copied().unwrap_or(0);
    assert!(checked <= CLIENT_LIMIT, "{counts:?}");
    assert!(
        peak < 200 * 1024 * 1024,
        "peak RSS {} MiB after 120 parallel logins",
        peak >> 20
    );
    drop(child);
}
