//! Operators: the people who may use the console. There is no default operator; `storelink
//! operator add` creates them.

use sqlx::FromRow;

use super::Db;

/// One operator.
#[derive(Debug, Clone, FromRow)]
pub struct Operator {
    /// Row id.
    pub id: i64,
    /// Lower-cased email.
    pub email: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub last_login_at: Option<i64>,
}

/// Why an email address was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0:?} is not an email address")]
pub struct BadEmail(pub String);

/// Lower-cases and checks an operator email: one `@`, something on both sides, no spaces or
/// control characters, at most 254 characters.
pub fn normalize_email(input: &str) -> Result<String, BadEmail> {
    let email = input.trim().to_lowercase();
    let valid = email.len() <= 254
        && email.split('@').count() == 2
        && email.split('@').all(|part| !part.is_empty())
        && !email.chars().any(char::is_whitespace)
        && !crate::domain::text::has_hidden_characters(&email);
    if valid {
        Ok(email)
    } else {
        Err(BadEmail(crate::domain::text::shorten(input, 80)))
    }
}

/// Adds an operator; `Ok(false)` when the email is taken.
pub async fn add(db: &Db, email: &str, password_hash: &str, now: i64) -> sqlx::Result<bool> {
    let result = sqlx::query(
        "INSERT INTO operators (email, password_hash, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (email) DO NOTHING",
    )
    .bind(email)
    .bind(password_hash)
    .bind(now)
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Every operator, by email.
pub async fn list(db: &Db) -> sqlx::Result<Vec<Operator>> {
    sqlx::query_as("SELECT * FROM operators ORDER BY email")
        .fetch_all(db)
        .await
}

/// Removes an operator; `Ok(false)` when there was none.
pub async fn remove(db: &Db, email: &str) -> sqlx::Result<bool> {
    let result = sqlx::query("DELETE FROM operators WHERE email = $1")
        .bind(email)
        .execute(db)
        .await?;
    Ok(result.rows_affected() == 1)
}

/// The operator with this email.
pub async fn find_by_email(db: &Db, email: &str) -> sqlx::Result<Option<Operator>> {
    sqlx::query_as("SELECT * FROM operators WHERE email = $1")
        .bind(email)
        .fetch_optional(db)
        .await
}

/// The operator with this id.
pub async fn find(db: &Db, id: i64) -> sqlx::Result<Option<Operator>> {
    sqlx::query_as("SELECT * FROM operators WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Records a successful login, replacing the hash when it was upgraded.
pub async fn record_login(db: &Db, id: i64, new_hash: Option<&str>, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE operators SET last_login_at = $1,
             password_hash = COALESCE($2, password_hash)
         WHERE id = $3",
    )
    .bind(now)
    .bind(new_hash)
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            normalize_email(" Ops@Example.com ").unwrap(),
            "ops@example.com"
        );
        for bad in ["", "no-at", "a@b@c", "@x", "x@", "a b@c.d", "a\n@b.c"] {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
    }
}
