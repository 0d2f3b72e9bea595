//! Sealed credentials, one row per (install, kind). Plaintext never reaches this module: callers
//! hand it [`Sealed`] values and get [`Sealed`] values back.

use secrecy::SecretString;
use sqlx::{AnyConnection, Row as _};

use super::Db;
use crate::crypto::{Keyring, Sealed};

/// Which secret a row holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The platform's access token.
    AccessToken,
    /// The key a platform sends with its webhooks (Maropost's `NETOAPI_KEY`).
    WebhookKey,
    /// The platform's refresh token (bol.com; replaced whenever the platform rotates it).
    RefreshToken,
    /// A client secret an operator entered (bol.com, OrderCloud, commercetools connections).
    ClientSecret,
    /// A user's password an operator entered (OrderCloud's password grant).
    Password,
}

impl Kind {
    /// The name stored in the `kind` column, also part of the associated data.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccessToken => "access_token",
            Self::WebhookKey => "webhook_key",
            Self::RefreshToken => "refresh_token",
            Self::ClientSecret => "client_secret",
            Self::Password => "password",
        }
    }
}

/// The associated data a credential is sealed with: it binds the ciphertext to its row.
pub fn associated_data(install_id: &str, kind: Kind) -> Vec<u8> {
    associated_data_of(install_id, kind.as_str())
}

fn associated_data_of(install_id: &str, kind: &str) -> Vec<u8> {
    format!("{install_id}|{kind}").into_bytes()
}

/// Seals `secret` for `install_id` and stores it, replacing any earlier one of the same kind.
pub async fn store(
    conn: &mut AnyConnection,
    keyring: &Keyring,
    install_id: &str,
    kind: Kind,
    secret: &[u8],
    now: i64,
) -> sqlx::Result<()> {
    let sealed = keyring.seal(secret, &associated_data(install_id, kind));
    sqlx::query(
        "INSERT INTO credentials (install_id, kind, key_id, nonce, ciphertext, sealed_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (install_id, kind) DO UPDATE SET
             key_id = excluded.key_id, nonce = excluded.nonce,
             ciphertext = excluded.ciphertext, sealed_at = excluded.sealed_at",
    )
    .bind(install_id)
    .bind(kind.as_str())
    .bind(&sealed.key_id)
    .bind(&sealed.nonce)
    .bind(&sealed.ciphertext)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// A stored credential as sealed, with when it was sealed.
#[derive(Debug, Clone)]
pub struct StoredCredential {
    /// The sealed value.
    pub sealed: Sealed,
    /// Unix seconds.
    pub sealed_at: i64,
}

/// Loads the sealed credential of `kind` for `install_id`, if there is one.
pub async fn load(db: &Db, install_id: &str, kind: Kind) -> sqlx::Result<Option<StoredCredential>> {
    let row = sqlx::query(
        "SELECT key_id, nonce, ciphertext, sealed_at FROM credentials
         WHERE install_id = $1 AND kind = $2",
    )
    .bind(install_id)
    .bind(kind.as_str())
    .fetch_optional(db)
    .await?;
    row.map(|row| {
        Ok(StoredCredential {
            sealed: Sealed {
                key_id: row.try_get("key_id")?,
                nonce: row.try_get("nonce")?,
                ciphertext: row.try_get("ciphertext")?,
            },
            sealed_at: row.try_get("sealed_at")?,
        })
    })
    .transpose()
}

/// Loads and opens the credential of `kind` for `install_id`, if there is one. The plaintext
/// goes straight into a [`SecretString`], so it cannot be printed by accident.
pub async fn open(
    db: &Db,
    keyring: &Keyring,
    install_id: &str,
    kind: Kind,
) -> anyhow::Result<Option<SecretString>> {
    let Some(stored) = load(db, install_id, kind).await? else {
        return Ok(None);
    };
    open_sealed(keyring, install_id, kind, &stored.sealed).map(Some)
}

/// Opens a credential of `kind` read for `install_id` (with its install, say).
pub fn open_sealed(
    keyring: &Keyring,
    install_id: &str,
    kind: Kind,
    sealed: &Sealed,
) -> anyhow::Result<SecretString> {
    keyring
        .open_string(sealed, &associated_data(install_id, kind))
        .map_err(|e| anyhow::anyhow!("cannot open the stored {}: {e}", kind.as_str()))
}

/// Erases one credential of an install, inside the caller's transaction.
pub async fn erase(conn: &mut AnyConnection, install_id: &str, kind: Kind) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM credentials WHERE install_id = $1 AND kind = $2")
        .bind(install_id)
        .bind(kind.as_str())
        .execute(conn)
        .await?;
    Ok(())
}

/// Every key id that sealed a stored credential or flow: start-up checks that it holds them all.
pub async fn key_ids_in_use(db: &Db) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT key_id FROM credentials
         UNION SELECT verifier_key_id FROM oauth_states WHERE used_at IS NULL
         UNION SELECT key_id FROM notify_secrets",
    )
    .fetch_all(db)
    .await
}

/// What the console shows of a credential: that it exists, never what it is.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CredentialInfo {
    /// `access_token`, `webhook_key`, ...
    pub kind: String,
    /// The key that sealed it.
    pub key_id: String,
    /// Unix seconds.
    pub sealed_at: i64,
}

/// The credentials stored for an install, without their ciphertexts.
pub async fn describe(db: &Db, install_id: &str) -> sqlx::Result<Vec<CredentialInfo>> {
    sqlx::query_as(
        "SELECT kind, key_id, sealed_at FROM credentials WHERE install_id = $1 ORDER BY kind",
    )
    .bind(install_id)
    .fetch_all(db)
    .await
}

/// Erases every credential of an install, inside the caller's transaction.
pub async fn erase_all(conn: &mut AnyConnection, install_id: &str) -> sqlx::Result<u64> {
    let result = sqlx::query("DELETE FROM credentials WHERE install_id = $1")
        .bind(install_id)
        .execute(conn)
        .await?;
    Ok(result.rows_affected())
}

/// A stored credential as read for re-sealing: install id, kind, key id, nonce, ciphertext.
type SealedRow = (String, String, String, Vec<u8>, Vec<u8>);

/// Re-seals every credential (and every PKCE verifier of a flow in progress) that is not sealed
/// under the keyring's current key, in one transaction: the last step of a key rotation, after
/// which the previous keys are no longer needed. Returns how many values were re-sealed.
pub async fn reseal_all(db: &Db, keyring: &Keyring) -> anyhow::Result<u64> {
    use anyhow::Context as _;
    let current = keyring.current().id().to_owned();
    let mut tx = super::begin_write(db).await?;
    let rows: Vec<SealedRow> = sqlx::query_as(
        "SELECT install_id, kind, key_id, nonce, ciphertext FROM credentials WHERE key_id <> $1",
    )
    .bind(&current)
    .fetch_all(&mut *tx)
    .await?;
    let mut resealed = 0;
    for (install_id, kind, key_id, nonce, ciphertext) in rows {
        let aad = associated_data_of(&install_id, &kind);
        let plain = keyring
            .open(
                &Sealed {
                    key_id,
                    nonce,
                    ciphertext,
                },
                &aad,
            )
            .with_context(|| format!("cannot open the {kind} of install {install_id}"))?;
        let sealed = keyring.seal(&plain, &aad);
        sqlx::query(
            "UPDATE credentials SET key_id = $1, nonce = $2, ciphertext = $3
             WHERE install_id = $4 AND kind = $5",
        )
        .bind(&sealed.key_id)
        .bind(&sealed.nonce)
        .bind(&sealed.ciphertext)
        .bind(&install_id)
        .bind(&kind)
        .execute(&mut *tx)
        .await?;
        resealed += 1;
    }
    let flows: Vec<(String, String, Vec<u8>, Vec<u8>)> = sqlx::query_as(
        "SELECT state_hash, verifier_key_id, verifier_nonce, verifier_ciphertext
         FROM oauth_states WHERE verifier_key_id <> $1 AND used_at IS NULL",
    )
    .bind(&current)
    .fetch_all(&mut *tx)
    .await?;
    for (state_hash, key_id, nonce, ciphertext) in flows {
        let Ok(plain) = keyring.open(
            &Sealed {
                key_id,
                nonce,
                ciphertext,
            },
            state_hash.as_bytes(),
        ) else {
            // A flow that cannot be opened can never finish: drop it rather than block rotation.
            sqlx::query("DELETE FROM oauth_states WHERE state_hash = $1")
                .bind(&state_hash)
                .execute(&mut *tx)
                .await?;
            continue;
        };
        let sealed = keyring.seal(&plain, state_hash.as_bytes());
        sqlx::query(
            "UPDATE oauth_states SET verifier_key_id = $1, verifier_nonce = $2,
                 verifier_ciphertext = $3 WHERE state_hash = $4",
        )
        .bind(&sealed.key_id)
        .bind(&sealed.nonce)
        .bind(&sealed.ciphertext)
        .bind(&state_hash)
        .execute(&mut *tx)
        .await?;
        resealed += 1;
    }
    resealed += super::endpoints::reseal_in(&mut tx, keyring).await?;
    tx.commit().await?;
    Ok(resealed)
}

/// A stored credential as sealed, with its install and kind (never opened here).
#[derive(Debug, Clone)]
pub struct SampledCredential {
    /// Its install.
    pub install_id: String,
    /// `access_token`, `webhook_key`, ...
    pub kind: String,
    /// The sealed value.
    pub sealed: Sealed,
}

impl SampledCredential {
    /// Whether `keyring` opens it (the plaintext is dropped at once).
    pub fn opens_with(&self, keyring: &Keyring) -> bool {
        keyring
            .open(
                &self.sealed,
                &associated_data_of(&self.install_id, &self.kind),
            )
            .is_ok()
    }
}

/// Up to `n` stored credentials picked at random: `storelink doctor` checks that the master key
/// opens them.
pub async fn sample(db: &Db, n: i64) -> sqlx::Result<Vec<SampledCredential>> {
    let rows: Vec<SealedRow> = sqlx::query_as(
        "SELECT install_id, kind, key_id, nonce, ciphertext FROM credentials
         ORDER BY random() LIMIT $1",
    )
    .bind(n)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(install_id, kind, key_id, nonce, ciphertext)| SampledCredential {
                install_id,
                kind,
                sealed: Sealed {
                    key_id,
                    nonce,
                    ciphertext,
                },
            },
        )
        .collect())
}

/// How many stored credentials each key id sealed, most first.
pub async fn count_by_key(db: &Db) -> sqlx::Result<Vec<(String, i64)>> {
    sqlx::query_as(
        "SELECT key_id, COUNT(*) AS n FROM credentials GROUP BY key_id ORDER BY n DESC, key_id",
    )
    .fetch_all(db)
    .await
}
