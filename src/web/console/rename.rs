//! `POST /console/installs/{id}/rename`: an operator names a store.
//!
//! The name is checked ([`StoreName`]: trimmed, 1 to 100 characters, no control characters),
//! stored as the install's name, marked as the operator's so that a re-install keeps it, and
//! audited with the old and new names.

use axum::{
    Form,
    extract::{Path, State, rejection::FormRejection},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;

use super::{
    auth::{Operator, verify_csrf},
    shared::{FlashKind, flash},
};
use crate::{
    db::installs::{self, RenameError},
    domain::StoreName,
    error::{AppError, capitalize},
    state::AppState,
};

/// The rename form's fields.
#[derive(Debug, Deserialize)]
pub(crate) struct RenameForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    csrf_token: String,
}

/// `POST /console/installs/{id}/rename`.
pub(crate) async fn rename(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
    form: Result<Form<RenameForm>, FormRejection>,
) -> Result<Response, AppError> {
    let Form(form) = form.map_err(|_| AppError::BadRequest {
        title: "This form could not be read",
        message: "Open the store's page again and try again.".into(),
    })?;
    verify_csrf(&operator.session, &form.csrf_token).await?;
    let name = StoreName::parse(&form.name).map_err(|e| AppError::BadRequest {
        title: "This name cannot be used",
        message: format!("{}. Nothing was changed.", capitalize(&e.to_string())),
    })?;
    match installs::rename(&state.db, &id, &name, &operator.actor(), state.clock.unix()).await {
        Ok(()) => {}
        Err(RenameError::UnknownInstall) => return Err(AppError::NotFound),
        Err(RenameError::Database(e)) => return Err(e.into()),
    }
    flash(
        &operator,
        FlashKind::Success,
        "The store is renamed. Installing again keeps this name.",
    )
    .await?;
    Ok(Redirect::to(&format!("/console/installs/{id}")).into_response())
}
