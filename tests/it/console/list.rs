//! The stores list: paging without gaps or repeats, filters and search, where each page stands,
//! how many matched (a search's count capped), and the kept counts behind them.

use std::collections::HashSet;

use storelink::domain::InstallStatus;

use super::*;

fn listed_ids(body: &str) -> Vec<String> {
    body.split(r#"<a href="/console/installs/"#)
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_list_pages_across_boundaries_without_gaps_or_repeats() {
    let app = spawn_app().await;
    seed(&app, 120).await;
    let operator = app.operator().await;

    let mut seen = Vec::new();
    let mut path = "/console".to_owned();
    let mut pages = 0;
    loop {
        let body = operator.get(&path).await;
        let ids = listed_ids(&body);
        pages += 1;
        if pages == 1 {
            assert_eq!(ids.len(), 50);
            assert!(body.contains("<strong>120</strong> all"));
            assert!(body.contains("<strong>40</strong> revoked"));
            assert!(body.contains("<strong>80</strong> active"));
        }
        seen.extend(ids);
        match next_link(&body) {
            Some(next) => path = next,
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 120);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 120, "no repeats");
    // Newest first.
    let first = operator.get("/console").await;
    assert!(first.find("shop-119").unwrap() < first.find("shop-116").unwrap());
}

#[tokio::test]
async fn the_list_filters_and_searches() {
    let app = spawn_app().await;
    seed(&app, 120).await;
    let operator = app.operator().await;

    let count = |body: &str| listed_ids(body).len();
    let revoked = operator.get("/console?status=revoked").await;
    assert_eq!(count(&revoked), 40);
    assert!(!revoked.contains("badge status-active"));
    let bol = operator.get("/console?provider=bol").await;
    assert_eq!(count(&bol), 24);
    let bol_revoked = operator.get("/console?provider=bol&status=revoked").await;
    assert_eq!(count(&bol_revoked), 8); // multiples of 15 below 120
    let search = operator.get("/console?q=shop-07").await;
    assert_eq!(count(&search), 10, "shop-070 .. shop-079");
    let by_name = operator.get("/console?q=NUMBER+042").await;
    assert_eq!(count(&by_name), 1, "by name, any case");
    let short = operator.get("/console?q=9").await;
    assert!(count(&short) > 0, "short searches work too");
    let nothing = operator.get("/console?q=%22%29+OR+1%3D1+--").await;
    assert_eq!(count(&nothing), 0, "search text is not query syntax");
    let combined = operator
        .get("/console?q=shop-1&status=active&provider=maropost")
        .await;
    assert!(listed_ids(&combined).len() < 50);
    // Filters survive paging.
    let page = operator.get("/console?status=active").await;
    let next = next_link(&page).expect("80 active: two pages");
    assert!(next.contains("status=active"));
    let second = operator.get(&next).await;
    assert_eq!(count(&second), 30);
    // A malformed cursor is a 400, not a 500.
    assert_eq!(
        operator
            .get_response("/console?after=garbage")
            .await
            .status(),
        400
    );
}

#[tokio::test]
async fn the_list_says_where_each_page_stands_and_goes_back() {
    let app = spawn_app().await;
    seed(&app, 120).await;
    let operator = app.operator().await;
    let first = operator.get("/console").await;
    assert!(first.contains("1\u{2013}50 of 120"), "{first}");
    assert!(previous_link(&first).is_none());
    let second = operator.get(&next_link(&first).unwrap()).await;
    assert!(second.contains("51\u{2013}100 of 120"));
    let third = operator.get(&next_link(&second).unwrap()).await;
    assert!(third.contains("101\u{2013}120 of 120"));
    assert!(next_link(&third).is_none());
    let back = operator.get(&previous_link(&third).unwrap()).await;
    assert_eq!(listed_ids(&back), listed_ids(&second));
    let back = operator.get(&previous_link(&second).unwrap()).await;
    assert_eq!(listed_ids(&back), listed_ids(&first));
    // Filtered, the count is of what matched.
    let revoked = operator.get("/console?status=revoked").await;
    assert!(revoked.contains("1\u{2013}40 of 40"));
}

#[tokio::test]
async fn a_filtered_list_says_how_many_matched_and_offers_to_clear_the_filters() {
    let app = spawn_app().await;
    seed(&app, 120).await;
    let operator = app.operator().await;
    let all = operator.get("/console").await;
    assert!(all.contains(r#"<a href="/console" aria-current="true"><strong>120</strong> all"#));
    assert!(!all.contains("match these filters"));
    let revoked = operator.get("/console?status=revoked").await;
    assert!(revoked.contains("40 stores match these filters."));
    assert!(revoked.contains(r#"<a href="/console?status=revoked" aria-current="true">"#));
    assert!(!revoked.contains(r#"<a href="/console" aria-current="true"><strong>"#));
    let none = operator.get("/console?q=no-such-shop").await;
    assert!(
        none.contains("No store matches &ldquo;no-such-shop&rdquo;."),
        "{none}"
    );
    assert!(none.contains(r#"<a class="button secondary" href="/console">Clear filters</a>"#));
}

#[tokio::test]
async fn a_search_stops_counting_at_a_thousand_and_says_so() {
    let app = spawn_app().await;
    let mut tx = storelink::db::begin_write(&app.db).await.unwrap();
    for i in 0..1_050 {
        sqlx::query(
            "INSERT INTO installs (id, provider, account_id, store_domain, store_name, status,
                 initiated_by, installed_at, last_installed_at, updated_at)
             VALUES ($1, 'maropost', $2, $3, 'Capped', 'active', 'storelink', $4, $4, $4)",
        )
        .bind(format!("{i:032x}"))
        .bind(format!("cap-{i}"))
        .bind(format!("cap-{i}.example.com"))
        .bind(1_700_000_000_i64 + i)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let operator = app.operator().await;
    let searched = operator.get("/console?q=cap-").await;
    assert!(searched.contains("1,000+"), "a capped count says so");
    let exact = operator.get("/console?status=active").await;
    assert!(exact.contains("1,050"), "a filter's count is exact");
    assert!(!exact.contains("1,050+"));
}

#[tokio::test]
async fn the_kept_counts_follow_installs_as_they_are_added_revoked_restored_and_deleted() {
    let app = spawn_app().await;
    // What the console and /metrics show, against a count of the rows themselves.
    let agree = || async {
        let kept: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT provider, status, n FROM install_counts WHERE n > 0 ORDER BY provider, status",
        )
        .fetch_all(&app.db)
        .await
        .unwrap();
        let counted: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT provider, status, COUNT(*) FROM installs
             GROUP BY provider, status ORDER BY provider, status",
        )
        .fetch_all(&app.db)
        .await
        .unwrap();
        assert_eq!(kept, counted);
        kept
    };
    assert!(agree().await.is_empty());
    for n in 1..=3 {
        let domain = format!("count{n}.example.com");
        app.install(&browser(), &format!("s{n}"), &domain, "tok")
            .await;
    }
    assert_eq!(agree().await, [("maropost".into(), "active".into(), 3)]);

    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM installs ORDER BY account_id")
        .fetch_all(&app.db)
        .await
        .unwrap();
    db::installs::revoke(&app.db, &ids[0], "operator:x", 1)
        .await
        .unwrap();
    db::installs::revoke(&app.db, &ids[1], "operator:x", 1)
        .await
        .unwrap();
    agree().await;
    // Installing a revoked store again makes it active again.
    app.install(&browser(), "s1", "count1.example.com", "tok")
        .await;
    assert_eq!(
        agree().await,
        [
            ("maropost".into(), "active".into(), 2),
            ("maropost".into(), "revoked".into(), 1)
        ]
    );
    // storelink never deletes an install; a database administrator might.
    for statement in [
        "DELETE FROM audit_log WHERE install_id = $1",
        "DELETE FROM installs WHERE id = $1",
    ] {
        sqlx::query(statement)
            .bind(&ids[1])
            .execute(&app.db)
            .await
            .unwrap();
    }
    assert_eq!(agree().await, [("maropost".into(), "active".into(), 2)]);
    let by_status = db::installs::count_by_status(&app.db).await.unwrap();
    assert_eq!(by_status, [(InstallStatus::Active, 2)]);
}
