//! Migrating a database that holds data: the rebuild of `installs` (20261126000001) keeps every
//! row, every credential and event that refers to one, and the search index, and nothing is
//! deleted by a cascade on the way.

use storelink::db;

/// The first migration that rebuilds `installs`.
const REBUILD: i64 = 20261126000001;

#[tokio::test]
async fn rebuilding_installs_keeps_what_refers_to_them() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("old.db").display());
    let pool = db::connect(&url).await.unwrap();

    // The schema as it was before the rebuild, with data in it.
    let all = sqlx::migrate!("./migrations/sqlite");
    let mut before = sqlx::migrate!("./migrations/sqlite");
    before.migrations = all
        .migrations
        .iter()
        .filter(|m| m.version < REBUILD)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    before.run(&*pool).await.unwrap();
    for (id, account, domain, name) in [
        ("i-one", "s1", "alpha-shop.example.com", "Alpha Outdoor"),
        ("i-two", "s2", "beta.example.com", "Beta Bikes"),
    ] {
        sqlx::query(
            "INSERT INTO installs (id, provider, account_id, store_domain, store_name,
                 initiated_by, installed_at, last_installed_at, updated_at, auth_kind, client_id)
             VALUES ($1, 'maropost', $2, $3, $4, 'storelink', 1, 1, 1, 'code', NULL)",
        )
        .bind(id)
        .bind(account)
        .bind(domain)
        .bind(name)
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO credentials (install_id, kind, key_id, nonce, ciphertext, sealed_at)
             VALUES ($1, 'access_token', 'k', x'00', x'01', 1)",
        )
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    }
    sqlx::query(
        "INSERT INTO events (install_id, event_id, event_type, sent_time, order_id,
             order_status, received_at, raw_body)
         VALUES ('i-two', '34', 'Order', '2024-01-03 01:11:12', 'N1', 'Pick', 1, '<Event/>')",
    )
    .execute(&pool)
    .await
    .unwrap();

    // Now every migration, as start-up runs them.
    db::migrate(&pool).await.unwrap();

    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(count("SELECT COUNT(*) FROM installs").await, 2);
    assert_eq!(
        count("SELECT COUNT(*) FROM credentials").await,
        2,
        "no cascade"
    );
    assert_eq!(count("SELECT COUNT(*) FROM events").await, 1, "no cascade");
    assert_eq!(
        count("SELECT COUNT(*) FROM pragma_foreign_key_check").await,
        0
    );
    assert_eq!(
        count("SELECT foreign_keys FROM pragma_foreign_keys").await,
        1,
        "back on"
    );
    // The search index still finds each store by a part of its name or domain.
    let found: Vec<String> = sqlx::query_scalar(
        "SELECT i.id FROM installs i JOIN installs_search s ON s.rowid = i.rowid
         WHERE installs_search MATCH 'outdoor' ORDER BY i.id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(found, ["i-one"]);
    // The new kinds are allowed, others still are not.
    sqlx::query(
        "UPDATE installs SET auth_kind = 'api_key', username = 'warehouse' WHERE id = 'i-one'",
    )
    .execute(&pool)
    .await
    .unwrap();
    assert!(
        sqlx::query("UPDATE installs SET auth_kind = 'magic' WHERE id = 'i-one'")
            .execute(&pool)
            .await
            .is_err()
    );
    // Deleting an install still takes its credentials with it.
    sqlx::query("DELETE FROM installs WHERE id = 'i-one'")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(count("SELECT COUNT(*) FROM credentials").await, 1);
}
