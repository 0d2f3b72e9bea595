//! Sessions, stored under the SHA-256 of their id.
//!
//! The session cookie carries a random 128-bit id; the `sessions` table (tower-sessions' SQLite
//! store) keeps each record under a hash of that id instead of the id itself, so a copy of the
//! database (a backup, a leaked file) holds no id that logs anyone in: presenting a stored id
//! looks up its hash, which matches nothing.

use async_trait::async_trait;
use sha2::{Digest as _, Sha256};
use tower_sessions::{
    ExpiredDeletion, SessionStore,
    session::{Id, Record},
    session_store,
};
use tower_sessions_sqlx_store::SqliteStore;

use super::Db;

/// The session table's name.
pub const TABLE: &str = "sessions";

/// tower-sessions' SQLite store, keyed by the SHA-256 of each session id.
#[derive(Debug, Clone)]
pub struct HashedSessionStore {
    inner: SqliteStore,
}

impl HashedSessionStore {
    /// The store on `db`'s `sessions` table.
    pub fn new(db: Db) -> anyhow::Result<Self> {
        let inner = SqliteStore::new(db)
            .with_table_name(TABLE)
            .map_err(|e| anyhow::anyhow!("session table name: {e}"))?;
        Ok(Self { inner })
    }

    /// Creates the table if it is missing.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        self.inner
            .migrate()
            .await
            .map_err(|e| anyhow::anyhow!("failed to create the sessions table: {e}"))
    }
}

/// What the table stores for session id `id`.
pub fn stored_id(id: &Id) -> Id {
    let digest = Sha256::digest(id.0.to_le_bytes());
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest[..16]);
    Id(i128::from_le_bytes(first))
}

fn hashed(record: &Record) -> Record {
    Record {
        id: stored_id(&record.id),
        ..record.clone()
    }
}

#[async_trait]
impl SessionStore for HashedSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        loop {
            let mut stored = hashed(record);
            let wanted = stored.id;
            self.inner.create(&mut stored).await?;
            if stored.id == wanted {
                return Ok(());
            }
            // The hash was taken (as likely as guessing a session id): the inner store saved the
            // record under an id of its own, which no cookie hashes to. Drop it, draw again.
            self.inner.delete(&stored.id).await?;
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.inner.save(&hashed(record)).await
    }

    async fn load(&self, session_id: &Id) -> session_store::Result<Option<Record>> {
        Ok(self
            .inner
            .load(&stored_id(session_id))
            .await?
            .map(|record| Record {
                id: *session_id,
                ..record
            }))
    }

    async fn delete(&self, session_id: &Id) -> session_store::Result<()> {
        self.inner.delete(&stored_id(session_id)).await
    }
}

#[async_trait]
impl ExpiredDeletion for HashedSessionStore {
    async fn delete_expired(&self) -> session_store::Result<()> {
        self.inner.delete_expired().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_are_kept_under_the_hash_of_their_id() {
        let db = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
        let store = HashedSessionStore::new(db.clone()).unwrap();
        store.migrate().await.unwrap();
        let mut record = Record {
            id: Id::default(),
            data: Default::default(),
            expiry_date: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
        };
        record
            .data
            .insert("who".into(), serde_json::json!("operator"));
        store.create(&mut record).await.unwrap();

        let stored: Vec<String> = sqlx::query_scalar("SELECT id FROM sessions")
            .fetch_all(&db)
            .await
            .unwrap();
        assert_eq!(stored, [stored_id(&record.id).to_string()]);
        assert_ne!(stored[0], record.id.to_string());

        let loaded = store.load(&record.id).await.unwrap().unwrap();
        assert_eq!(loaded.id, record.id);
        assert_eq!(loaded.data["who"], "operator");
        // The id read from the table opens nothing.
        let leaked: Id = stored[0].parse().unwrap();
        assert!(store.load(&leaked).await.unwrap().is_none());

        store.delete(&record.id).await.unwrap();
        assert!(store.load(&record.id).await.unwrap().is_none());
    }
}
