//! Vendor API keys: created and revoked by operators (CLI or console), looked up by the SHA-256
//! of the key on every API request, and which key read which install's token.

use sqlx::FromRow;

use super::{
    Db,
    audit::{self, Action},
};

/// A key as stored: never the key itself.
#[derive(Debug, Clone, FromRow)]
pub struct ApiKey {
    /// Row id.
    pub id: i64,
    /// The operator's name for it, unique among live keys.
    pub name: String,
    /// The key's first characters (`slk_Ab3x`), to tell keys apart.
    pub prefix: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Who created it (`operator:<email>`, `cli`).
    pub created_by: String,
    /// Last request made with it, Unix seconds (recorded at most once a minute).
    pub last_used_at: Option<i64>,
    /// When it was revoked, Unix seconds.
    pub revoked_at: Option<i64>,
}

/// A live key found by its hash: who is calling.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Caller {
    /// The key's row id.
    pub id: i64,
    /// The key's name (audit entries name it).
    pub name: String,
}

/// Why a key name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a key's name is 1 to 64 letters, digits, spaces, dots, dashes or underscores")]
pub struct BadName;

/// A key name as typed, trimmed and checked.
pub fn checked_name(input: &str) -> Result<String, BadName> {
    let name = input.trim();
    let valid = !name.is_empty()
        && name.chars().count() <= 64
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '.' | '-' | '_'))
        && !crate::domain::text::has_hidden_characters(name);
    if valid {
        Ok(name.to_owned())
    } else {
        Err(BadName)
    }
}

/// Why a key could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// A live key already has this name.
    #[error("a key named {0:?} already exists")]
    NameTaken(String),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Stores a new key (its hash and shown prefix) named `name`, and audits it, in one transaction.
pub async fn create(
    db: &Db,
    name: &str,
    key_hash: &str,
    prefix: &str,
    actor: &str,
    now: i64,
) -> Result<ApiKey, CreateError> {
    let mut tx = super::begin_write(db).await?;
    let created: Option<ApiKey> = sqlx::query_as(
        "INSERT INTO api_keys (name, key_hash, prefix, created_at, created_by)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT DO NOTHING
         RETURNING id, name, prefix, created_at, created_by, last_used_at, revoked_at",
    )
    .bind(name)
    .bind(key_hash)
    .bind(prefix)
    .bind(now)
    .bind(actor)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(created) = created else {
        return Err(CreateError::NameTaken(name.to_owned()));
    };
    audit::record(
        &mut tx,
        now,
        actor,
        Action::ApiKeyCreated,
        None,
        "API key created",
        &[("key", name), ("shown as", &format!("{prefix}…"))],
    )
    .await?;
    tx.commit().await?;
    Ok(created)
}

/// Every key, live ones first, newest first.
pub async fn list(db: &Db) -> sqlx::Result<Vec<ApiKey>> {
    sqlx::query_as(
        "SELECT id, name, prefix, created_at, created_by, last_used_at, revoked_at FROM api_keys
         ORDER BY revoked_at IS NOT NULL, created_at DESC, id DESC",
    )
    .fetch_all(db)
    .await
}

/// Where a page of the key list starts: after this key. Keys are listed live first, then
/// revoked, newest first in each (`id` grows with creation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyCursor {
    /// Whether the key is revoked.
    pub revoked: bool,
    /// The key's id.
    pub id: i64,
}

impl KeyCursor {
    /// The cursor after `key`.
    pub fn after(key: &ApiKey) -> Self {
        Self {
            revoked: key.revoked_at.is_some(),
            id: key.id,
        }
    }

    /// `live-42` or `revoked-42`, as a page's address carries it.
    pub fn encode(&self) -> String {
        let part = if self.revoked { "revoked" } else { "live" };
        format!("{part}-{}", self.id)
    }

    /// Reads [`KeyCursor::encode`]'s form; `None` for anything else.
    pub fn decode(text: &str) -> Option<Self> {
        let (part, id) = text.split_once('-')?;
        let revoked = match part {
            "live" => false,
            "revoked" => true,
            _ => return None,
        };
        let id = id.parse().ok().filter(|id| *id > 0)?;
        Some(Self { revoked, id })
    }
}

/// The list's order as a number: live keys (0) before revoked ones (1).
const RANK: &str = "(CASE WHEN revoked_at IS NULL THEN 0 ELSE 1 END)";

/// Up to `limit` keys after `after` (from the start when `None`), in the list's order.
pub async fn list_page(db: &Db, after: Option<KeyCursor>, limit: i64) -> sqlx::Result<Vec<ApiKey>> {
    let columns = "SELECT id, name, prefix, created_at, created_by, last_used_at, revoked_at \
                   FROM api_keys";
    match after {
        None => {
            sqlx::query_as(&format!("{columns} ORDER BY {RANK}, id DESC LIMIT $1"))
                .bind(limit)
                .fetch_all(db)
                .await
        }
        Some(cursor) => {
            sqlx::query_as(&format!(
                "{columns} WHERE {RANK} > $1 OR ({RANK} = $1 AND id < $2)
                 ORDER BY {RANK}, id DESC LIMIT $3"
            ))
            .bind(i64::from(cursor.revoked))
            .bind(cursor.id)
            .bind(limit)
            .fetch_all(db)
            .await
        }
    }
}

/// How many keys there are, and how many come before `after`'s page.
pub async fn position(db: &Db, after: Option<KeyCursor>) -> sqlx::Result<(i64, i64)> {
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_keys")
        .fetch_one(db)
        .await?;
    let before = match after {
        None => 0,
        Some(cursor) => {
            sqlx::query_scalar(&format!(
                "SELECT COUNT(*) FROM api_keys WHERE {RANK} < $1 OR ({RANK} = $1 AND id >= $2)"
            ))
            .bind(i64::from(cursor.revoked))
            .bind(cursor.id)
            .fetch_one(db)
            .await?
        }
    };
    Ok((total, before))
}

/// The live key whose SHA-256 is `key_hash`, if any.
pub async fn find_live(db: &Db, key_hash: &str) -> sqlx::Result<Option<Caller>> {
    sqlx::query_as("SELECT id, name FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL")
        .bind(key_hash)
        .fetch_optional(db)
        .await
}

/// The outcome of [`revoke`] and [`revoke_id`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    /// Revoked now.
    Now,
    /// No live key has this name or id (never created, or already revoked).
    Missing,
}

/// Revokes the live key named `name` and audits it, in one transaction; its requests are refused
/// from the next one on.
pub async fn revoke(db: &Db, name: &str, actor: &str, now: i64) -> sqlx::Result<Revoked> {
    let key: Option<ApiKey> = sqlx::query_as(
        "SELECT id, name, prefix, created_at, created_by, last_used_at, revoked_at FROM api_keys
         WHERE name = $1 AND revoked_at IS NULL",
    )
    .bind(name)
    .fetch_optional(db)
    .await?;
    match key {
        Some(key) => revoke_id(db, key.id, actor, now).await,
        None => Ok(Revoked::Missing),
    }
}

/// Revokes the key with row id `id`, if it is live, and audits it, in one transaction.
pub async fn revoke_id(db: &Db, id: i64, actor: &str, now: i64) -> sqlx::Result<Revoked> {
    let mut tx = super::begin_write(db).await?;
    let revoked: Option<String> = sqlx::query_scalar(
        "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL RETURNING name",
    )
    .bind(now)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(name) = revoked else {
        tx.rollback().await?;
        return Ok(Revoked::Missing);
    };
    audit::record(
        &mut tx,
        now,
        actor,
        Action::ApiKeyRevoked,
        None,
        "API key revoked",
        &[("key", &name)],
    )
    .await?;
    tx.commit().await?;
    Ok(Revoked::Now)
}

/// One key by row id.
pub async fn find(db: &Db, id: i64) -> sqlx::Result<Option<ApiKey>> {
    sqlx::query_as(
        "SELECT id, name, prefix, created_at, created_by, last_used_at, revoked_at FROM api_keys
         WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Records that key `id` was used at `now`.
pub async fn touch(db: &Db, id: i64, now: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Records that `caller` read install `install_id`'s access token, in the audit log and in
/// `token_reads`, in one transaction.
pub async fn record_token_read(
    db: &Db,
    caller: &Caller,
    install_id: &str,
    now: i64,
) -> sqlx::Result<()> {
    let mut tx = super::begin_write(db).await?;
    sqlx::query(
        "INSERT INTO token_reads (install_id, api_key_id, first_read_at, last_read_at)
         VALUES ($1, $2, $3, $3)
         ON CONFLICT (install_id, api_key_id) DO UPDATE SET last_read_at = excluded.last_read_at",
    )
    .bind(install_id)
    .bind(caller.id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        now,
        &actor(caller),
        Action::TokenRead,
        Some(install_id),
        "access token read through the API",
        &[],
    )
    .await?;
    tx.commit().await
}

/// How the audit log names a key's requests.
pub fn actor(caller: &Caller) -> String {
    format!("api-key:{}", caller.name)
}

/// A key's reads of one install's token.
#[derive(Debug, Clone, FromRow)]
pub struct TokenRead {
    /// The key's name.
    pub name: String,
    /// Whether the key has been revoked since.
    #[sqlx(try_from = "super::Flag")]
    pub revoked: bool,
    /// First read, Unix seconds.
    pub first_read_at: i64,
    /// Latest read (to the minute), Unix seconds.
    pub last_read_at: i64,
}

/// Which keys read install `install_id`'s token, latest first.
pub async fn token_reads(db: &Db, install_id: &str) -> sqlx::Result<Vec<TokenRead>> {
    sqlx::query_as(
        "SELECT k.name, k.revoked_at IS NOT NULL AS revoked, r.first_read_at, r.last_read_at
         FROM token_reads r JOIN api_keys k ON k.id = r.api_key_id
         WHERE r.install_id = $1 ORDER BY r.last_read_at DESC, k.name",
    )
    .bind(install_id)
    .fetch_all(db)
    .await
}
