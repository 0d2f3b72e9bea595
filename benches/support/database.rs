//! The database a benchmark run gets to itself: a fresh SQLite file in a temporary directory, or
//! a fresh PostgreSQL database (`storelink_bench_<random hex>`) made on the server an
//! administrator URL names. Either is removed when the [`BenchDatabase`] is dropped, also when
//! the run fails (a PostgreSQL database with `DROP DATABASE ... WITH (FORCE)`, which ends the
//! app's connections still open). A run killed outright (SIGINT, SIGKILL) leaves its database
//! behind: every such name begins with `storelink_bench_`.
//!
//! Shared by the benches through `#[path]`; not a bench target of its own (no `main.rs`).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use sqlx::{Connection as _, Executor as _};
pub use storelink::db::Backend;

/// A fresh database for one run; dropped with this.
pub struct BenchDatabase {
    /// What the app is started with (`STORELINK_DATABASE_URL`).
    pub url: String,
    pub backend: Backend,
    /// The SQLite file's directory (removed when this is dropped).
    dir: Option<tempfile::TempDir>,
    /// The PostgreSQL database, made by this run.
    postgres: Option<Scratch>,
}

struct Scratch {
    admin_url: String,
    name: String,
}

impl BenchDatabase {
    /// A SQLite database in a new temporary directory (under `parent` if given).
    pub fn sqlite(parent: Option<&Path>) -> anyhow::Result<Self> {
        let dir = match parent {
            Some(parent) => tempfile::tempdir_in(parent)
                .with_context(|| format!("cannot make a directory in {}", parent.display()))?,
            None => tempfile::tempdir().context("cannot make a temporary directory")?,
        };
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        Ok(Self {
            url,
            backend: Backend::Sqlite,
            dir: Some(dir),
            postgres: None,
        })
    }

    /// A new, empty database on the PostgreSQL server `admin_url` reaches (a URL whose user may
    /// create databases, such as `postgres://postgres@127.0.0.1:5432/postgres`).
    pub async fn postgres(admin_url: &str) -> anyhow::Result<Self> {
        let shown = storelink::db::display_url(admin_url);
        let mut url = url::Url::parse(admin_url)
            .with_context(|| format!("--postgres: {shown} is not a URL"))?;
        anyhow::ensure!(
            Backend::from_url(admin_url) == Some(Backend::Postgres),
            "--postgres: {shown} is not a postgres:// URL"
        );
        let name = format!("storelink_bench_{}", storelink::crypto::random_hex(8));
        let mut admin = sqlx::PgConnection::connect(admin_url)
            .await
            .with_context(|| format!("--postgres: cannot connect to {shown}"))?;
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .with_context(|| format!("--postgres: CREATE DATABASE {name} on {shown} failed"))?;
        // From here on, dropping `scratch` drops the database.
        let scratch = Scratch {
            admin_url: admin_url.to_owned(),
            name,
        };
        let _ = admin.close().await;
        url.set_path(&scratch.name);
        Ok(Self {
            url: url.to_string(),
            backend: Backend::Postgres,
            dir: None,
            postgres: Some(scratch),
        })
    }

    /// How the database keeps commits, read through the app's pool `db` (so it is what the
    /// app's own connections use), as lines for the output: the settings, on PostgreSQL the
    /// database's name, and a warning when commits are not durable (the figure then means
    /// little).
    pub async fn describe(&self, db: &storelink::db::Db) -> anyhow::Result<Vec<String>> {
        let pool = db.options().get_max_connections();
        let mut lines = Vec::new();
        let durable = match self.backend {
            Backend::Sqlite => {
                let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
                    .fetch_one(db)
                    .await?;
                let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
                    .fetch_one(db)
                    .await?;
                let synchronous = match synchronous {
                    3 => "EXTRA",
                    2 => "FULL",
                    1 => "NORMAL",
                    _ => "OFF",
                };
                let dir = self.dir.as_ref().map_or(Path::new("."), |d| d.path());
                lines.push(format!(
                    "SQLite, journal_mode={journal}, synchronous={synchronous}, pool of {pool}, \
                     on {} ({})",
                    filesystem(dir),
                    dir.display()
                ));
                synchronous == "FULL" || synchronous == "EXTRA"
            }
            Backend::Postgres => {
                let show = |setting: &'static str| async move {
                    sqlx::query_scalar::<_, String>("SELECT current_setting($1)")
                        .bind(setting)
                        .fetch_one(db)
                        .await
                };
                let version = show("server_version").await?;
                let synchronous_commit = show("synchronous_commit").await?;
                let fsync = show("fsync").await?;
                let wal_sync_method = show("wal_sync_method").await?;
                // Readable by superusers and pg_read_all_settings only; the file system only
                // when the server is on this machine.
                let data = match show("data_directory").await {
                    Ok(dir) if self.is_local() => {
                        format!(", data on {} ({dir})", filesystem(Path::new(&dir)))
                    }
                    Ok(dir) => format!(", data in {dir} on another machine"),
                    Err(_) => String::new(),
                };
                lines.push(format!(
                    "PostgreSQL {version}, synchronous_commit={synchronous_commit}, fsync={fsync}, \
                     wal_sync_method={wal_sync_method}, pool of {pool}{data}"
                ));
                if let Some(scratch) = &self.postgres {
                    lines.push(format!(
                        "database {} at {} (made for this run, dropped after)",
                        scratch.name,
                        storelink::db::display_url(&self.url)
                    ));
                }
                synchronous_commit != "off" && fsync != "off"
            }
        };
        if !durable {
            lines.push("WARNING: commits are not durable, so the figure means little".into());
        }
        Ok(lines)
    }

    /// Whether the PostgreSQL server is on this machine (a loopback address or a socket).
    fn is_local(&self) -> bool {
        let Ok(url) = url::Url::parse(&self.url) else {
            return false;
        };
        // A postgres:// URL's host is opaque to `url`: an IPv4 address comes as a domain.
        match url.host() {
            None => true,
            Some(url::Host::Domain(host)) => {
                host == "localhost"
                    || host.starts_with('/')
                    || host
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Drop may run inside a runtime (or while a failure unwinds): a thread with a runtime of
        // its own drops the database.
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || -> anyhow::Result<()> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
                admin
                    .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                    .await?;
                admin.close().await?;
                Ok(())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!(
                "could not drop the benchmark's database {} ({e:#}); drop it with \
                 DROP DATABASE {} WITH (FORCE)",
                self.name, self.name
            ),
            Err(_) => eprintln!(
                "could not drop the benchmark's database {}; drop it with \
                 DROP DATABASE {} WITH (FORCE)",
                self.name, self.name
            ),
        }
    }
}

/// The file system `path` is on (Linux), so a tmpfs run is noticed.
pub fn filesystem(path: &Path) -> String {
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") else {
        return "unknown file system".into();
    };
    let path: PathBuf = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (_, mount, kind) = (fields.next()?, fields.next()?, fields.next()?);
            path.starts_with(mount)
                .then(|| (mount.len(), kind.to_owned()))
        })
        .max()
        .map_or_else(|| "unknown file system".into(), |(_, kind)| kind)
}
