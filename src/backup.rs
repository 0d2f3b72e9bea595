//! `storelink backup PATH`: a consistent copy of the live SQLite database, safe to take while
//! `storelink serve` runs.
//!
//! The copy is made with SQLite's `VACUUM INTO`, which reads the database in one read
//! transaction: the copy is the database as of one commit (every write acknowledged before the
//! backup began is in it), and in WAL mode a reader never blocks the writers, so the server keeps
//! answering. A file copy would not do: the last commits may still be in the `-wal` file, and a
//! copy taken during a write can be torn.
//!
//! The copy is written to a file that must not exist yet (created here, mode 0600, then filled),
//! synced to disk, and checked (`PRAGMA quick_check`) before it is reported. It holds the sealed
//! credentials but not the master key that opens them. PostgreSQL has its own tool, `pg_dump`.

use std::{
    fs::File,
    path::{Path, PathBuf},
};

use anyhow::Context as _;
use sqlx::{
    Connection as _,
    sqlite::{SqliteConnectOptions, SqliteConnection},
};

use crate::db::{self, Backend};

/// What a finished backup wrote.
#[derive(Debug, Clone)]
pub(crate) struct Backup {
    /// The live database that was copied.
    pub(crate) source: PathBuf,
    /// The copy.
    pub(crate) copy: PathBuf,
    /// The copy's size in bytes.
    pub(crate) bytes: u64,
}

/// Copies the database at `database_url` to `to`; see the module's documentation. Refuses on
/// PostgreSQL (naming `pg_dump`), without a database file, and when `to` exists.
pub(crate) async fn run(database_url: &str, to: &Path) -> anyhow::Result<Backup> {
    let source = sqlite_source(database_url)?;
    create_private_new(to)?;
    match copy_into(&source, to).await {
        Ok(bytes) => Ok(Backup {
            source,
            copy: to.to_owned(),
            bytes,
        }),
        Err(e) => {
            // Never leave a half-written file that looks like a backup.
            let _ = std::fs::remove_file(to);
            Err(e)
        }
    }
}

/// The SQLite file behind `database_url`, which must exist.
fn sqlite_source(database_url: &str) -> anyhow::Result<PathBuf> {
    if Backend::from_url(database_url) == Some(Backend::Postgres) {
        anyhow::bail!(
            "storelink backup copies SQLite databases; STORELINK_DATABASE_URL names a \
             PostgreSQL database: use pg_dump (e.g. `pg_dump --format=custom --file=storelink.dump \
             \"$STORELINK_DATABASE_URL\"`), which takes a consistent copy while storelink runs"
        );
    }
    let Some(source) = db::sqlite_path(database_url) else {
        anyhow::bail!(
            "STORELINK_DATABASE_URL names no database file ({}): there is nothing to back up",
            db::display_url(database_url)
        );
    };
    if !source.is_file() {
        anyhow::bail!(
            "there is no database at {} (STORELINK_DATABASE_URL): nothing to back up",
            source.display()
        );
    }
    Ok(source)
}

/// Creates `path`, empty, readable by storelink's user only; refuses if anything is there.
fn create_private_new(path: &Path) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => anyhow::bail!(
            "{} exists: storelink backup never overwrites a file; name a new one (say \
             storelink-$(date +%F).db)",
            path.display()
        ),
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}

/// Fills the empty file `to` with a copy of `source`, syncs it and checks it; returns its size.
async fn copy_into(source: &Path, to: &Path) -> anyhow::Result<u64> {
    let options = SqliteConnectOptions::new()
        .filename(source)
        .create_if_missing(false)
        .busy_timeout(db::BUSY_TIMEOUT);
    let mut conn = SqliteConnection::connect_with(&options)
        .await
        .with_context(|| format!("cannot open the database {}", source.display()))?;
    let target = to
        .to_str()
        .with_context(|| format!("{} is not a UTF-8 path", to.display()))?;
    let copied = sqlx::query("VACUUM INTO $1")
        .bind(target)
        .execute(&mut conn)
        .await
        .with_context(|| format!("cannot copy the database into {}", to.display()));
    conn.close().await?;
    copied?;
    sync(to)?;
    check(to).await?;
    Ok(std::fs::metadata(to)?.len())
}

/// Writes the copy, and its directory entry, to disk.
fn sync(path: &Path) -> anyhow::Result<()> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("cannot sync {} to disk", path.display()))?;
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        File::open(dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("cannot sync the folder {}", dir.display()))?;
    }
    Ok(())
}

/// Reads the copy through (`PRAGMA quick_check`) without changing it or creating files beside it.
async fn check(path: &Path) -> anyhow::Result<()> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .immutable(true);
    let mut conn = SqliteConnection::connect_with(&options).await?;
    let verdict: String = sqlx::query_scalar("PRAGMA quick_check")
        .fetch_one(&mut conn)
        .await?;
    conn.close().await?;
    if verdict != "ok" {
        anyhow::bail!(
            "the copy in {} fails SQLite's check: {verdict}",
            path.display()
        );
    }
    Ok(())
}

/// What to tell the operator after a backup: where it is, that the master key is not in it, and
/// how to restore it.
pub(crate) fn report(backup: &Backup) -> String {
    let live = backup.source.display();
    let copy = backup.copy.display();
    format!(
        "Backed up {live} to {copy} ({} bytes, mode 0600, checked).\n\
         The master key is not in the backup: without STORELINK_MASTER_KEY (or, in sandbox mode, \
         the development key file beside the database) it opens none of the stored credentials. \
         Keep the key safe, apart from the backup.\n\
         To restore: stop storelink; move {live} aside and delete {live}-wal and {live}-shm \
         if they are there; copy {copy} to {live} (mode 0600, owned by storelink's user); start \
         storelink with the same master key.",
        backup.bytes
    )
}
