//! Which database a test's app runs on. SQLite (a file in the test's temporary directory) unless
//! `STORELINK_TEST_BACKEND=postgres`, when each app gets a fresh PostgreSQL database of its own on
//! the server `STORELINK_TEST_POSTGRES_URL` names (an administrator's URL, e.g.
//! `postgres://postgres@127.0.0.1:5432/postgres`), dropped when the test ends. `scripts/test` runs
//! the suite once each way.

use std::path::Path;

use sqlx::{Connection as _, Executor as _};
use storelink::db::Db;

/// The administrator's URL of the PostgreSQL test server, when one is configured.
pub fn postgres_admin_url() -> Option<String> {
    std::env::var("STORELINK_TEST_POSTGRES_URL")
        .ok()
        .filter(|url| !url.is_empty())
}

/// Whether this run puts the apps on PostgreSQL (`STORELINK_TEST_BACKEND=postgres`).
pub fn on_postgres() -> bool {
    match std::env::var("STORELINK_TEST_BACKEND").as_deref() {
        Ok("postgres") => {
            assert!(
                postgres_admin_url().is_some(),
                "STORELINK_TEST_BACKEND=postgres needs STORELINK_TEST_POSTGRES_URL"
            );
            true
        }
        Ok("sqlite") | Ok("") | Err(_) => false,
        Ok(other) => panic!("STORELINK_TEST_BACKEND is sqlite or postgres, not {other:?}"),
    }
}

/// A test app's database: its URL, and the PostgreSQL database to drop after, if any.
pub struct TestDatabase {
    pub url: String,
    _fresh: Option<FreshDatabase>,
}

impl TestDatabase {
    /// The database for one app: on PostgreSQL when this run is, unless the test looks at
    /// SQLite's own files (`sqlite_only`); else `storelink.db` in `dir`.
    pub async fn create(dir: &Path, sqlite_only: bool) -> Self {
        if !sqlite_only && on_postgres() {
            let fresh = FreshDatabase::create()
                .await
                .expect("STORELINK_TEST_POSTGRES_URL is set");
            return Self {
                url: fresh.url.clone(),
                _fresh: Some(fresh),
            };
        }
        Self {
            url: format!("sqlite://{}", dir.join("storelink.db").display()),
            _fresh: None,
        }
    }

    /// On PostgreSQL, ends every connection to the database (see
    /// [`FreshDatabase::end_connections`]) and says how many; `None` on SQLite.
    pub async fn end_connections(&self) -> Option<usize> {
        match &self._fresh {
            Some(fresh) => Some(fresh.end_connections().await),
            None => None,
        }
    }

    pub fn is_postgres(&self) -> bool {
        self._fresh.is_some()
    }

    /// Everything the database keeps at rest, named by where it is: on SQLite the files in
    /// `dir` (the database, its WAL and shared memory); on PostgreSQL every column of every table
    /// (bytea as its bytes, the rest as text), which is what a dump or a stolen disk gives.
    pub async fn at_rest(&self, pool: &Db, dir: &Path) -> Vec<(String, Vec<u8>)> {
        if !self.is_postgres() {
            return std::fs::read_dir(dir)
                .unwrap()
                .map(|entry| {
                    let path = entry.unwrap().path();
                    let bytes = std::fs::read(&path).unwrap();
                    (path.display().to_string(), bytes)
                })
                .collect();
        }
        let columns: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT table_name::text, column_name::text, data_type::text
             FROM information_schema.columns WHERE table_schema = 'public'",
        )
        .fetch_all(pool)
        .await
        .unwrap();
        let mut found = Vec::new();
        for (table, column, data_type) in columns {
            let place = format!("{table}.{column}");
            if data_type == "bytea" {
                let values: Vec<Option<Vec<u8>>> =
                    sqlx::query_scalar(&format!("SELECT \"{column}\" FROM \"{table}\""))
                        .fetch_all(pool)
                        .await
                        .unwrap();
                found.extend(values.into_iter().flatten().map(|v| (place.clone(), v)));
            } else {
                let values: Vec<Option<String>> =
                    sqlx::query_scalar(&format!("SELECT \"{column}\"::text FROM \"{table}\""))
                        .fetch_all(pool)
                        .await
                        .unwrap();
                found.extend(
                    values
                        .into_iter()
                        .flatten()
                        .map(|v| (place.clone(), v.into_bytes())),
                );
            }
        }
        found
    }
}

/// A migrated database of the run's backend for a test without an app, kept while this lives.
pub struct Scratch {
    _database: TestDatabase,
    _dir: tempfile::TempDir,
}

impl Scratch {
    pub async fn create() -> (Self, Db) {
        let dir = tempfile::tempdir().unwrap();
        let database = TestDatabase::create(dir.path(), false).await;
        let pool = storelink::db::connect(&database.url).await.unwrap();
        storelink::db::migrate(&pool).await.unwrap();
        (
            Self {
                _database: database,
                _dir: dir,
            },
            pool,
        )
    }
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A database of its own on the test server, dropped (with any connection left) when this goes.
pub struct FreshDatabase {
    admin_url: String,
    pub name: String,
    pub url: String,
}

impl FreshDatabase {
    /// Ends every server process connected to this database, as a server restart (or an
    /// operator's `pg_terminate_backend`) ends them; how many there were.
    pub async fn end_connections(&self) -> usize {
        let mut admin = sqlx::PgConnection::connect(&self.admin_url).await.unwrap();
        let ended: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(&self.name)
        .fetch_all(&mut admin)
        .await
        .unwrap();
        admin.close().await.unwrap();
        ended.len()
    }

    /// `None` when no server is configured.
    pub async fn create() -> Option<Self> {
        let admin_url = postgres_admin_url()?;
        let name = format!("storelink_test_{}", storelink::crypto::random_hex(8));
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .expect("STORELINK_TEST_POSTGRES_URL answers");
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap();
        admin.close().await.unwrap();
        let mut url = url::Url::parse(&admin_url).unwrap();
        url.set_path(&name);
        Some(Self {
            admin_url,
            name,
            url: url.to_string(),
        })
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        // Drop runs outside async code (and after a failed assertion too): a thread of its own
        // with a runtime of its own drops the database.
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
                admin
                    .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                    .await?;
                admin.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the test database {}", self.name);
        }
    }
}
