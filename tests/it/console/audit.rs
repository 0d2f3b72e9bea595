//! The audit log: its pages, its filters and where each page stands.

use super::*;

#[tokio::test]
async fn the_audit_log_pages_and_filters() {
    let app = spawn_app().await;
    seed(&app, 60).await;
    let operator = app.operator().await;
    let first = operator.get("/console/audit").await;
    let next = next_link(&first).expect("61 entries: two pages");
    let second = operator.get(&next).await;
    assert!(second.contains("action") || second.contains("install"));
    let logins = operator.get("/console/audit?action=login").await;
    assert!(logins.contains("<td>ops@example.com</td><td>Logged in</td>"));
    assert!(!logins.contains("<td>Installed</td>"));
    assert_eq!(
        operator
            .get_response("/console/audit?before=x")
            .await
            .status(),
        400
    );
}

#[tokio::test]
async fn the_audit_log_says_where_each_page_stands_and_goes_back() {
    let app = spawn_app().await;
    seed(&app, 60).await;
    let operator = app.operator().await;
    let total = app.count("SELECT COUNT(*) FROM audit_log").await;
    assert!(total > 50 && total <= 100, "{total} entries: two pages");
    let first = operator.get("/console/audit").await;
    assert!(
        first.contains(&format!("1\u{2013}50 of {total}")),
        "{first}"
    );
    assert!(previous_link(&first).is_none());
    let second = operator.get(&next_link(&first).unwrap()).await;
    assert!(second.contains(&format!("51\u{2013}{total} of {total}")));
    let back = operator.get(&previous_link(&second).unwrap()).await;
    assert!(back.contains(&format!("1\u{2013}50 of {total}")));
    // Store names, not install ids; actions in words.
    assert!(first.contains(">Shop number 059</a>"));
    assert!(first.contains("<td>Merchant</td><td>Installed</td>"));
}
