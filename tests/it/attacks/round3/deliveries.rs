//! Item 3: a receiver's answer is kept only as text both databases accept, and one attempt the
//! database refuses cannot undo the others of its round (on both backends).

use std::time::Duration;

use wiremock::{Mock, ResponseTemplate, matchers::path};

use crate::notify::spawn_notified;

#[tokio::test]
async fn a_nul_byte_in_a_receivers_answer_stops_no_delivery() {
    let n = spawn_notified().await;
    Mock::given(path("/nul"))
        .respond_with(
            ResponseTemplate::new(200).set_body_bytes(b"ok\0\0thanks\r\n\x1b[31m".to_vec()),
        )
        .mount(&n.receiver)
        .await;
    Mock::given(path("/plain"))
        .respond_with(ResponseTemplate::new(200).set_body_string("fine"))
        .mount(&n.receiver)
        .await;
    n.endpoint("/nul", "").await;
    n.endpoint("/plain", "").await;
    n.install("s-nul").await;

    // Both messages of the round are recorded as delivered (on PostgreSQL the NUL used to roll
    // the whole round back, and both were sent again forever).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while n.messages("delivered").await < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "pending: {}, delivered: {}",
            n.messages("pending").await,
            n.messages("delivered").await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let answers: Vec<Option<String>> =
        sqlx::query_scalar("SELECT answer FROM notify_attempts ORDER BY id")
            .fetch_all(&n.app.db)
            .await
            .unwrap();
    assert_eq!(answers.len(), 2, "{answers:?}");
    assert!(
        answers.contains(&Some("ok thanks [31m".to_owned())),
        "{answers:?}"
    );
    assert!(answers.contains(&Some("fine".to_owned())), "{answers:?}");
    // Nothing is sent twice once recorded: the claims were given up, not left to run out.
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(n.got().await.len(), 2);
}
