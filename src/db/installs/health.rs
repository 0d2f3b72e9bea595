//! An install's health as stored (`install_health`), as the install object shows it. Kept with
//! the installs, whose announcements carry it; how health is kept is [`crate::db::health`]'s.

use sqlx::FromRow;

use crate::domain::{HealthObject, HealthState, rfc3339};

/// An install's health as stored.
#[derive(Debug, Clone, FromRow)]
pub struct Health {
    /// `ok`, `degraded` or `unknown`.
    pub state: HealthState,
    /// The last check, Unix seconds.
    pub checked_at: Option<i64>,
    /// The last check or call that worked, Unix seconds.
    pub last_ok_at: Option<i64>,
    /// Failures in a row.
    pub consecutive_failures: i64,
    /// The last failure, in a line (never a secret).
    pub last_error: Option<String>,
    /// When the next check is due, Unix seconds (none until scheduled).
    pub next_check_at: Option<i64>,
}

impl Health {
    /// The state.
    pub fn state(&self) -> HealthState {
        self.state
    }

    /// As the install object shows it.
    pub fn object(&self) -> HealthObject {
        HealthObject {
            state: self.state().as_str().to_owned(),
            checked_at: self.checked_at.map(rfc3339),
            last_ok_at: self.last_ok_at.map(rfc3339),
            consecutive_failures: self.consecutive_failures,
            last_error: self.last_error.clone(),
        }
    }

    /// An install's health before its first check.
    pub fn unknown() -> Self {
        Self {
            state: HealthState::Unknown,
            checked_at: None,
            last_ok_at: None,
            consecutive_failures: 0,
            last_error: None,
            next_check_at: None,
        }
    }
}
