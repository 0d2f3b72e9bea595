//! PostgreSQL, where `STORELINK_TEST_POSTGRES_URL` names a server (an administrator's URL, e.g.
//! `postgres://postgres@127.0.0.1:5432/postgres`; `scripts/test` sets it): the two sets of
//! migrations build the same schema, and storelink migrates, starts and answers `/readyz` on a
//! fresh database. Each test creates its own database and drops it after, so they run in
//! parallel and leave nothing behind. Without the variable they pass without doing anything.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use crate::database::FreshDatabase;
use storelink::{app::Application, clock::SystemClock, config::Settings, crypto::MasterKey, db};

/// What the comparison looks at, per table.
#[derive(Debug, Default, PartialEq, Eq)]
struct Table {
    /// Column name -> nullable.
    columns: BTreeMap<String, bool>,
    /// Each unique key (primary keys too) as its columns in order, and whether it is partial.
    uniques: BTreeSet<(String, bool)>,
    /// Each foreign key: columns, referenced table, referenced columns, cascades on delete.
    foreign_keys: BTreeSet<(String, String, String, bool)>,
    /// How many CHECK constraints it has.
    checks: usize,
}

type Schema = BTreeMap<String, Table>;

/// Tables that are not storelink's own data: sqlx's bookkeeping, SQLite's internals and the FTS5
/// search index (PostgreSQL indexes the columns instead, see the migration).
fn compared(table: &str) -> bool {
    table != "_sqlx_migrations"
        && !table.starts_with("sqlite_")
        && !table.starts_with("installs_search")
}

async fn sqlite_schema(pool: &db::Db) -> Schema {
    let tables: Vec<(String, String)> =
        sqlx::query_as("SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .fetch_all(pool)
            .await
            .unwrap();
    let mut schema = Schema::new();
    for (name, sql) in tables.into_iter().filter(|(name, _)| compared(name)) {
        let mut table = Table::default();
        let columns: Vec<(String, i64, i64)> =
            sqlx::query_as("SELECT name, \"notnull\", pk FROM pragma_table_info($1)")
                .bind(&name)
                .fetch_all(pool)
                .await
                .unwrap();
        // SQLite lets a primary key other than INTEGER hold NULL unless it says NOT NULL; no row
        // of storelink's ever does, and PostgreSQL's keys never may.
        let mut key: Vec<(i64, String)> = Vec::new();
        for (column, not_null, pk) in columns {
            table
                .columns
                .insert(column.clone(), not_null == 0 && pk == 0);
            if pk > 0 {
                key.push((pk, column));
            }
        }
        key.sort();
        if !key.is_empty() {
            let key: Vec<String> = key.into_iter().map(|(_, c)| c).collect();
            table.uniques.insert((key.join(","), false));
        }
        let indexes: Vec<(String, i64, i64)> =
            sqlx::query_as("SELECT name, \"unique\", partial FROM pragma_index_list($1)")
                .bind(&name)
                .fetch_all(pool)
                .await
                .unwrap();
        for (index, unique, partial) in indexes {
            if unique == 0 {
                continue;
            }
            let columns: Vec<String> =
                sqlx::query_scalar("SELECT name FROM pragma_index_info($1) ORDER BY seqno")
                    .bind(&index)
                    .fetch_all(pool)
                    .await
                    .unwrap();
            table.uniques.insert((columns.join(","), partial != 0));
        }
        let keys: Vec<(i64, String, String, String, String)> = sqlx::query_as(
            "SELECT id, \"from\", \"table\", \"to\", on_delete FROM pragma_foreign_key_list($1)
             ORDER BY id, seq",
        )
        .bind(&name)
        .fetch_all(pool)
        .await
        .unwrap();
        let mut by_id: BTreeMap<i64, (Vec<String>, String, Vec<String>, bool)> = BTreeMap::new();
        for (id, from, parent, to, on_delete) in keys {
            let key = by_id
                .entry(id)
                .or_insert_with(|| (Vec::new(), parent, Vec::new(), on_delete == "CASCADE"));
            key.0.push(from);
            key.2.push(to);
        }
        for (from, parent, to, cascade) in by_id.into_values() {
            table
                .foreign_keys
                .insert((from.join(","), parent, to.join(","), cascade));
        }
        table.checks = sql.to_uppercase().matches("CHECK (").count();
        schema.insert(name, table);
    }
    schema
}

async fn postgres_schema(pool: &db::Db) -> Schema {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut schema = Schema::new();
    for name in tables.into_iter().filter(|name| compared(name)) {
        let mut table = Table::default();
        let columns: Vec<(String, i64)> = sqlx::query_as(
            "SELECT column_name::text, CASE WHEN is_nullable = 'YES' THEN 1 ELSE 0 END
             FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1",
        )
        .bind(&name)
        .fetch_all(pool)
        .await
        .unwrap();
        for (column, nullable) in columns {
            table.columns.insert(column, nullable != 0);
        }
        let uniques: Vec<(String, i64)> = sqlx::query_as(
            "SELECT string_agg(a.attname::text, ',' ORDER BY k.ord),
                    MAX(CASE WHEN i.indpred IS NULL THEN 0 ELSE 1 END)
             FROM pg_index i
             JOIN pg_class t ON t.oid = i.indrelid
             CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k (attnum, ord)
             JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
             WHERE i.indisunique AND t.relname = $1 AND t.relnamespace = 'public'::regnamespace
             GROUP BY i.indexrelid",
        )
        .bind(&name)
        .fetch_all(pool)
        .await
        .unwrap();
        for (columns, partial) in uniques {
            table.uniques.insert((columns, partial != 0));
        }
        let keys: Vec<(String, String, String, String)> = sqlx::query_as(
            "SELECT string_agg(a.attname::text, ',' ORDER BY k.ord), p.relname::text,
                    string_agg(pa.attname::text, ',' ORDER BY k.ord), c.confdeltype::text
             FROM pg_constraint c
             JOIN pg_class t ON t.oid = c.conrelid
             JOIN pg_class p ON p.oid = c.confrelid
             CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k (attnum, pattnum, ord)
             JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
             JOIN pg_attribute pa ON pa.attrelid = p.oid AND pa.attnum = k.pattnum
             WHERE c.contype = 'f' AND t.relname = $1 AND t.relnamespace = 'public'::regnamespace
             GROUP BY c.oid, p.relname, c.confdeltype",
        )
        .bind(&name)
        .fetch_all(pool)
        .await
        .unwrap();
        for (from, parent, to, on_delete) in keys {
            table
                .foreign_keys
                .insert((from, parent, to, on_delete == "c"));
        }
        let checks: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
             WHERE c.contype = 'c' AND t.relname = $1 AND t.relnamespace = 'public'::regnamespace",
        )
        .bind(&name)
        .fetch_one(pool)
        .await
        .unwrap();
        table.checks = usize::try_from(checks).unwrap();
        schema.insert(name, table);
    }
    schema
}

#[tokio::test]
async fn both_sets_of_migrations_build_the_same_schema() {
    let Some(fresh) = FreshDatabase::create().await else {
        eprintln!("STORELINK_TEST_POSTGRES_URL is not set: skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sqlite = db::connect(&format!("sqlite://{}", dir.path().join("s.db").display()))
        .await
        .unwrap();
    db::migrate(&sqlite).await.unwrap();
    let postgres = db::connect(&fresh.url).await.unwrap();
    db::migrate(&postgres).await.unwrap();

    let (expected, actual) = (
        sqlite_schema(&sqlite).await,
        postgres_schema(&postgres).await,
    );
    assert!(expected.len() >= 13, "{:?}", expected.keys());
    assert_eq!(
        expected.keys().collect::<Vec<_>>(),
        actual.keys().collect::<Vec<_>>(),
        "the same tables"
    );
    for (name, table) in &expected {
        assert_eq!(Some(table), actual.get(name), "table {name}");
    }

    // Both sets end at the same version: a migration added to one has its twin in the other.
    let last = |m: sqlx::migrate::Migrator| m.migrations.iter().map(|m| m.version).max();
    assert_eq!(
        last(sqlx::migrate!("./migrations/sqlite")),
        last(sqlx::migrate!("./migrations/postgres"))
    );
    // Migrating again is a no-op.
    db::migrate(&postgres).await.unwrap();
    postgres.close().await;
}

#[tokio::test]
async fn storelink_starts_on_a_fresh_postgres_database_and_is_ready() {
    let Some(fresh) = FreshDatabase::create().await else {
        eprintln!("STORELINK_TEST_POSTGRES_URL is not set: skipped");
        return;
    };
    let mut settings = Settings::sandbox_defaults(fresh.url.clone());
    settings.master_key = Some(MasterKey::generate_base64());
    let app = Application::build(settings, Arc::new(SystemClock))
        .await
        .unwrap();
    let base = url::Url::parse(&format!("http://localhost:{}/", app.port())).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    for path in ["/readyz", "/healthz", "/console/login"] {
        let status = client
            .get(base.join(path).unwrap())
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200, "{path}");
    }
    stop.send(()).unwrap();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(15), served).await;
}

#[tokio::test]
async fn storelink_migrate_works_on_postgres() {
    let Some(fresh) = FreshDatabase::create().await else {
        eprintln!("STORELINK_TEST_POSTGRES_URL is not set: skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_storelink"))
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("STORELINK_DATABASE_URL", &fresh.url)
        .arg("migrate")
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let pool = db::connect(&fresh.url).await.unwrap();
    let tables: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'
         AND table_name IN ('installs', 'credentials', 'audit_log', 'oauth_states')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(tables, 4);
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        usize::try_from(applied).unwrap(),
        sqlx::migrate!("./migrations/postgres").migrations.len()
    );
    pool.close().await;
}

/// What the queries that differ by backend (`db::dialect`) and a few written for both answer on
/// a small data set: search (FTS5 or `pg_trgm`, case-insensitive, short terms too), names for a
/// set of ids, a page's standing in the audit log, and keeping a browser's newest flows.
async fn dialect_answers(pool: &db::Db) -> Vec<String> {
    db::migrate(pool).await.unwrap();
    for (seq, (id, domain, name)) in [
        ("i-one", "alpha-shop.example.com", "Alpha Outdoor"),
        ("i-two", "beta.example.com", "Beta Bikes"),
        ("i-three", "gamma.example.org", "Gamma 100% Wool"),
    ]
    .into_iter()
    .enumerate()
    {
        sqlx::query(
            "INSERT INTO installs (id, provider, account_id, store_domain, store_name,
                 initiated_by, installed_at, last_installed_at, updated_at)
             VALUES ($1, 'maropost', $1, $2, $3, 'storelink', 1, 1, $4)",
        )
        .bind(id)
        .bind(domain)
        .bind(name)
        .bind(i64::try_from(seq).unwrap())
        .execute(pool)
        .await
        .unwrap();
        sqlx::query("INSERT INTO audit_log (at, actor, action, install_id) VALUES (1, 'cli', 'install', $1)")
            .bind(id)
            .execute(pool)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO oauth_states (state_hash, provider, browser_hash, verifier_key_id,
                 verifier_nonce, verifier_ciphertext, created_at)
             VALUES ($1, 'maropost', 'b', 'k', $2, $2, $3)",
        )
        .bind(format!("s{seq}"))
        .bind(vec![0u8; 4])
        .bind(i64::try_from(seq).unwrap())
        .execute(pool)
        .await
        .unwrap();
    }
    let mut answers = Vec::new();
    for search in [
        "alpha",
        "ALPHA-SHOP",
        "example",
        "a",
        "100%",
        "%",
        "nothing like it",
    ] {
        let filter = db::installs::ListFilter {
            search: Some(search.into()),
            ..Default::default()
        };
        let found = db::installs::list(pool, &filter, None, 50).await.unwrap();
        let ids: Vec<String> = found.into_iter().map(|i| i.id).collect();
        let standing = db::installs::position(pool, &filter, None).await.unwrap();
        answers.push(format!("search {search:?}: {ids:?} {standing:?}"));
    }
    let names = db::installs::display_names(pool, &["i-two", "i-one", "none"])
        .await
        .unwrap();
    let names: BTreeSet<(String, String)> = names.into_iter().collect();
    answers.push(format!("names: {names:?}"));
    let standing = db::audit::position(pool, &db::audit::Filter::default(), Some(2))
        .await
        .unwrap();
    answers.push(format!("audit: {standing:?}"));
    let dropped = db::oauth_states::keep_newest_unused(pool, "b", "s0", 2)
        .await
        .unwrap();
    let kept: Vec<String> =
        sqlx::query_scalar("SELECT state_hash FROM oauth_states ORDER BY state_hash")
            .fetch_all(pool)
            .await
            .unwrap();
    answers.push(format!("flows: dropped {dropped}, kept {kept:?}"));
    answers
}

#[tokio::test]
async fn the_queries_that_differ_by_backend_answer_alike() {
    let Some(fresh) = FreshDatabase::create().await else {
        eprintln!("STORELINK_TEST_POSTGRES_URL is not set: skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sqlite = db::connect(&format!("sqlite://{}", dir.path().join("s.db").display()))
        .await
        .unwrap();
    let expected = dialect_answers(&sqlite).await;
    assert!(
        expected[0].contains("[\"i-one\"]") && expected[1].contains("[\"i-one\"]"),
        "{expected:#?}"
    );
    let postgres = db::connect(&fresh.url).await.unwrap();
    assert_eq!(expected, dialect_answers(&postgres).await);
    postgres.close().await;
}

/// The pools of two instances on `fresh`, migrated: under URLs that differ, so they do not share
/// this process's in-memory write turn; only the database can make them wait for each other.
async fn two_instances(fresh: &FreshDatabase) -> (db::Db, db::Db) {
    let a = db::connect(&fresh.url).await.unwrap();
    db::migrate(&a).await.unwrap();
    let b = db::connect(&format!("{}?application_name=b", fresh.url))
        .await
        .unwrap();
    (a, b)
}

#[tokio::test]
async fn writers_of_two_instances_take_turns() {
    let Some(fresh) = FreshDatabase::create().await else {
        return;
    };
    let (a, b) = two_instances(&fresh).await;

    // A writes and holds its transaction open...
    let mut first = db::begin_write(&a).await.unwrap();
    sqlx::query(
        "INSERT INTO login_throttle (subject, failures, last_failure_at) VALUES ('x', 1, 0)",
    )
    .execute(&mut *first)
    .await
    .unwrap();
    // ...so B's writer waits for it, however long, before it may read and decide.
    let second = tokio::spawn(async move {
        let mut tx = db::begin_write(&b).await.unwrap();
        let seen: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM login_throttle")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        seen
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        !second.is_finished(),
        "B began writing while A's transaction was open"
    );
    first.commit().await.unwrap();
    assert_eq!(second.await.unwrap(), 1, "B sees what A committed");
}

#[tokio::test]
async fn a_writer_refused_the_lock_leaves_nothing_open() {
    let Some(fresh) = FreshDatabase::create().await else {
        return;
    };
    let a = db::connect(&fresh.url).await.unwrap();
    db::migrate(&a).await.unwrap();
    let b = db::connect_with_busy_timeout(
        &format!("{}?application_name=b", fresh.url),
        std::time::Duration::from_millis(200),
    )
    .await
    .unwrap();

    // While A holds the write lock, B's writers are refused once the lock timeout passes (on
    // the connections of B's pool, which hands the same one out again)...
    let held = db::begin_write(&a).await.unwrap();
    for _ in 0..3 {
        let refused = db::begin_write(&b)
            .await
            .err()
            .expect("B got the lock A holds");
        let code = match &refused {
            sqlx::Error::Database(e) => e.code().map(|c| c.into_owned()),
            _ => None,
        };
        assert_eq!(code.as_deref(), Some("55P03"), "{refused}");
    }
    held.rollback().await.unwrap();

    // ...and left nothing open on them: B begins, writes and commits again, more times than
    // its pool has connections, and A sees it all.
    for i in 0..12 {
        let mut tx = db::begin_write(&b).await.unwrap();
        sqlx::query(
            "INSERT INTO login_throttle (subject, failures, last_failure_at) VALUES ($1, 1, 0)",
        )
        .bind(format!("s{i}"))
        .execute(&mut *tx)
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    let seen: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM login_throttle")
        .fetch_one(&a)
        .await
        .unwrap();
    assert_eq!(seen, 12);
    // And none of B's sessions is left inside a transaction.
    let open: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM pg_stat_activity
         WHERE application_name = 'b' AND state LIKE 'idle in transaction%'",
    )
    .fetch_one(&a)
    .await
    .unwrap();
    assert_eq!(open, 0);
}

#[tokio::test]
async fn order_messages_are_made_once_when_two_instances_make_them_at_once() {
    let Some(fresh) = FreshDatabase::create().await else {
        return;
    };
    let (a, b) = two_instances(&fresh).await;
    let keyring = storelink::crypto::Keyring::new(
        MasterKey::from_base64(&MasterKey::generate_base64()).unwrap(),
    );
    sqlx::query(
        "INSERT INTO installs (id, provider, account_id, initiated_by, installed_at,
             last_installed_at, updated_at)
         VALUES ('i1', 'maropost', 's1', 'storelink', 0, 0, 0)",
    )
    .execute(&a)
    .await
    .unwrap();
    db::endpoints::add(
        &a,
        &keyring,
        "https://hooks.example.com/storelink",
        &db::endpoints::Subscription::All,
        storelink::domain::EndpointLimits::default(),
        true,
        "test",
        0,
    )
    .await
    .unwrap();
    for n in 0..5 {
        sqlx::query(
            "INSERT INTO events (install_id, event_id, event_type, order_id, order_status,
                 received_at, raw_body) VALUES ('i1', $1, 'Order', 'N1', 'Pick', 0, '')",
        )
        .bind(n.to_string())
        .execute(&a)
        .await
        .unwrap();
    }

    // Both instances' workers turn the same events into messages at the same moment: A's
    // transaction is open when B's starts.
    let mut first = db::begin_write(&a).await.unwrap();
    let made_by_a = db::outbox::make_order_messages(&mut first, None, None)
        .await
        .unwrap();
    let second = tokio::spawn(async move {
        let mut tx = db::begin_write(&b).await.unwrap();
        let made = db::outbox::make_order_messages(&mut tx, None, None)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        made
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    first.commit().await.unwrap();
    let made_by_b = second.await.unwrap();

    assert_eq!(
        (made_by_a, made_by_b),
        (5, 0),
        "each event's message made once"
    );
    let messages: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM notify_messages")
        .fetch_one(&a)
        .await
        .unwrap();
    assert_eq!(messages, 5);
}

#[tokio::test]
async fn commits_are_durable_even_where_the_server_says_otherwise() {
    let Some(fresh) = FreshDatabase::create().await else {
        return;
    };
    // A role or server configured with synchronous_commit = off (here: by the URL).
    let url = format!("{}?options=-c%20synchronous_commit%3Doff", fresh.url);
    let pool = db::connect(&url).await.unwrap();
    let setting: String = sqlx::query_scalar("SELECT current_setting('synchronous_commit')")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(setting, "on");
    // And each statement is planned for its parameters (a generic plan cannot use the
    // trigram indexes for a search).
    let planning: String = sqlx::query_scalar("SELECT current_setting('plan_cache_mode')")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(planning, "force_custom_plan");
    // A connection of its own (the webhook writer's, whose commits acknowledge events) is set
    // up the same way.
    let mut own = pool.connect_own().await.unwrap();
    let (setting, wait): (String, String) = sqlx::query_as(
        "SELECT current_setting('synchronous_commit'), current_setting('lock_timeout')",
    )
    .fetch_one(&mut own)
    .await
    .unwrap();
    assert_eq!(setting, "on");
    assert_eq!(wait, "5s");
    // What is stronger already stays.
    let url = format!(
        "{}?options=-c%20synchronous_commit%3Dremote_apply",
        fresh.url
    );
    let pool = db::connect(&url).await.unwrap();
    let setting: String = sqlx::query_scalar("SELECT current_setting('synchronous_commit')")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(setting, "remote_apply");
}

#[tokio::test]
async fn connections_the_server_ends_are_replaced() {
    let Some(fresh) = FreshDatabase::create().await else {
        return;
    };
    let db = db::connect(&fresh.url).await.unwrap();
    let answer = |i: i64| {
        let db = db.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT $1::BIGINT")
                .bind(i)
                .fetch_one(&db)
                .await
        }
    };
    // Several connections in use at once, then every one ended while idle, as by a restart.
    let many: Vec<_> = futures::future::join_all((0..16).map(answer)).await;
    assert!(many.iter().all(Result::is_ok));
    assert!(fresh.end_connections().await >= 1);
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    for i in 0..20 {
        assert_eq!(answer(i).await.unwrap(), i, "after a pause, nothing fails");
    }
    // Ended at once after use: the statement on the connection found broken fails, and every
    // other is checked before its next use.
    assert!(fresh.end_connections().await >= 1);
    let mut failed = 0;
    for i in 0..20 {
        match answer(i).await {
            Ok(got) => assert_eq!(got, i),
            Err(_) => failed += 1,
        }
    }
    assert!(failed <= 1, "{failed} statements failed");
    assert_eq!(answer(7).await.unwrap(), 7);
}

#[tokio::test]
async fn a_statement_cut_off_leaves_no_answer_for_the_next() {
    let Some(fresh) = FreshDatabase::create().await else {
        return;
    };
    let db = db::connect(&fresh.url).await.unwrap();
    for _ in 0..3 {
        // Cut off while the server is still at it: its answer comes later, on that connection.
        let cut = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            sqlx::query_scalar::<_, String>("SELECT 'late' || pg_sleep(0.3)::text").fetch_all(&db),
        )
        .await;
        assert!(cut.is_err(), "the slow statement was cut off");
        let answer: i32 = sqlx::query_scalar("SELECT 42")
            .fetch_one(&db)
            .await
            .unwrap();
        assert_eq!(answer, 42, "the next statement reads its own answer");
    }
}
