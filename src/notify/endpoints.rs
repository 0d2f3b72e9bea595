//! Adding endpoints (with their URLs checked as every call storelink makes is checked), and the
//! operator's hand-made sends: a test event, a message sent again.

use secrecy::SecretString;
use serde_json::json;
use url::Url;

use super::NotifyContext;
use crate::{
    db::{
        audit::{self, Action},
        endpoints::{self, AddError, Endpoint, Subscription},
        outbox,
    },
    domain::{EndpointLimits, EventType, rfc3339},
};

/// Why an endpoint was not added. Each message reads on its own.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// The URL cannot be used.
    #[error("{0}")]
    Url(String),
    /// The URL is already an endpoint.
    #[error("{0} is already an endpoint")]
    Exists(String),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The longest URL accepted.
const MAX_URL_LEN: usize = 2000;

/// Checks an endpoint URL as typed: absolute `https` (or `http` where private endpoints are
/// allowed), no user name or password in it, no fragment, and a host that is not internal and
/// does not resolve to an internal address (checked again at every delivery: DNS can change).
pub async fn check_url(ctx: &NotifyContext, text: &str) -> Result<Url, String> {
    let text = text.trim();
    if text.len() > MAX_URL_LEN {
        return Err(format!("The URL is longer than {MAX_URL_LEN} characters."));
    }
    let url = Url::parse(text).map_err(|_| {
        "Enter the full URL of your endpoint, like https://backend.example.com/storelink."
            .to_owned()
    })?;
    match url.scheme() {
        "https" => {}
        "http" if ctx.outbound.allows_private() => {}
        "http" => {
            return Err("Notifications are sent over https only: use an https:// URL.".to_owned());
        }
        _ => return Err("Use an https:// URL.".to_owned()),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "Leave the user name and password out of the URL: notifications are signed instead."
                .to_owned(),
        );
    }
    if url.fragment().is_some() {
        return Err("Leave the #fragment out of the URL.".to_owned());
    }
    ctx.outbound
        .check_url_resolved(&url)
        .await
        .map_err(|why| format!("This URL cannot be used: {why}."))?;
    Ok(url)
}

/// Adds an endpoint after [`check_url`]; returns it with its signing secret, shown once.
pub async fn add(
    ctx: &NotifyContext,
    url: &str,
    subscription: &Subscription,
    limits: EndpointLimits,
    enabled: bool,
    actor: &str,
) -> Result<(Endpoint, SecretString), EndpointError> {
    let url = check_url(ctx, url).await.map_err(EndpointError::Url)?;
    endpoints::add(
        &ctx.db,
        &ctx.keyring,
        url.as_str(),
        subscription,
        limits,
        enabled,
        actor,
        ctx.clock.unix(),
    )
    .await
    .map_err(|e| match e {
        AddError::Exists(url) => EndpointError::Exists(url),
        AddError::Database(e) => EndpointError::Database(e),
    })
}

/// Queues a `ping` for one endpoint, audited; returns the message id (`None`: no endpoint).
pub async fn send_test(
    ctx: &NotifyContext,
    endpoint: &Endpoint,
    actor: &str,
) -> sqlx::Result<Option<String>> {
    let now = ctx.clock.unix();
    let data = json!({
        "message": "A test event sent from the storelink console.",
        "sent_at": rfc3339(now),
    });
    let id = outbox::enqueue_to(&ctx.db, &endpoint.id, EventType::Ping, &data, now).await?;
    if let Some(id) = &id {
        audit::record_now(
            &ctx.db,
            now,
            actor,
            Action::NotificationSent,
            None,
            "test event queued",
            &[("url", &endpoint.url), ("message", id)],
        )
        .await?;
    }
    Ok(id)
}

/// Sends a message again with a fresh retry schedule, audited; `false` when the endpoint has
/// no such message.
pub async fn send_again(
    ctx: &NotifyContext,
    endpoint: &Endpoint,
    message_id: &str,
    actor: &str,
) -> sqlx::Result<bool> {
    let now = ctx.clock.unix();
    let queued = outbox::send_again(&ctx.db, &endpoint.id, message_id, now).await?;
    if queued {
        audit::record_now(
            &ctx.db,
            now,
            actor,
            Action::NotificationSent,
            None,
            "message queued again",
            &[("url", &endpoint.url), ("message", message_id)],
        )
        .await?;
    }
    Ok(queued)
}

/// Sends again every message to `endpoint` that failed and was created at or after `since`
/// (Unix seconds), with the same `webhook-id` and a fresh schedule, audited; returns how many.
/// One transaction: a crash queues all of them or none, and each is queued again once.
pub async fn recover(
    ctx: &NotifyContext,
    endpoint: &Endpoint,
    since: i64,
    actor: &str,
) -> sqlx::Result<u64> {
    let now = ctx.clock.unix();
    let mut tx = crate::db::begin_write(&ctx.db).await?;
    let recovered = outbox::recover(&mut tx, &endpoint.id, since, now).await?;
    audit::record(
        &mut tx,
        now,
        actor,
        Action::EndpointRecovered,
        None,
        &format!(
            "{recovered} failed message(s) since {} queued again",
            rfc3339(since)
        ),
        &[("url", &endpoint.url)],
    )
    .await?;
    tx.commit().await?;
    Ok(recovered)
}

/// The sandbox receiver's endpoint: added (for every event type) when missing, without the
/// guard's check (it is this instance's own URL). Returns the secrets that sign for it now, as
/// the receiver needs them to verify (`whsec_...`).
pub async fn ensure_sandbox_endpoint(
    ctx: &NotifyContext,
    url: &Url,
) -> anyhow::Result<Vec<SecretString>> {
    let now = ctx.clock.unix();
    let endpoint = match endpoints::find_by_url(&ctx.db, url.as_str()).await? {
        Some(endpoint) => endpoint,
        None => {
            let added = endpoints::add(
                &ctx.db,
                &ctx.keyring,
                url.as_str(),
                &Subscription::All,
                EndpointLimits::default(),
                true,
                "system",
                now,
            )
            .await;
            match added {
                Ok((endpoint, _)) => endpoint,
                // Another instance added it meanwhile.
                Err(AddError::Exists(_)) => endpoints::find_by_url(&ctx.db, url.as_str())
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("the sandbox endpoint vanished"))?,
                Err(AddError::Database(e)) => return Err(e.into()),
            }
        }
    };
    let secrets = endpoints::signing_secrets(&ctx.db, &ctx.keyring, &endpoint.id, now).await?;
    Ok(secrets.iter().map(|s| endpoints::show(s)).collect())
}
