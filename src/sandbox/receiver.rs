//! A stand-in for the vendor's backend: receives storelink's notifications at
//! `/sandbox/receiver`, verifies each with the published Standard Webhooks library (crate
//! `standardwebhooks`, not storelink's own signing code), and lists what arrived at
//! `GET /sandbox/receiver`, so a new user sees a signed `install.created` arrive after
//! connecting a sandbox store.
//!
//! Like a vendor, it holds the endpoint's signing secret (`whsec_...`), handed over when storelink
//! added it; after a rotation it keeps verifying for the day both secrets sign, then needs a
//! restart (which hands it the new one).

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
};

use askama::Template;
use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
};
use secrecy::{ExposeSecret as _, SecretString};
use standardwebhooks::Webhook;

use crate::{clock::fmt_time, domain::text::excerpt, render::render_or_plain};

/// Where the receiver is served.
pub(crate) const PATH: &str = "/sandbox/receiver";

/// How many notifications the page keeps.
const KEPT: usize = 100;

/// One notification as received.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    /// When (Unix seconds, the system's clock).
    pub at: i64,
    /// `webhook-id`.
    pub id: String,
    /// The body's `type`.
    pub event_type: String,
    /// Whether the signature verified, or why not.
    pub verdict: Result<(), String>,
    /// Whether a message with this id arrived before (the receiver's dedupe).
    pub repeat: bool,
    /// The body, pretty-printed and shortened.
    pub body: String,
}

/// The receiver's state.
pub(crate) struct SandboxReceiver {
    verifiers: Vec<Webhook>,
    received: Mutex<VecDeque<Received>>,
}

impl SandboxReceiver {
    /// A receiver verifying with `secrets` (`whsec_...`); ones that do not decode are skipped.
    pub(crate) fn new(secrets: Vec<SecretString>) -> Self {
        Self {
            verifiers: secrets
                .iter()
                .filter_map(|s| Webhook::new(s.expose_secret()).ok())
                .collect(),
            received: Mutex::new(VecDeque::with_capacity(KEPT)),
        }
    }

    /// What arrived, newest first.
    pub(crate) fn received(&self) -> Vec<Received> {
        self.lock().iter().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Received>> {
        self.received
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn verify(&self, body: &[u8], headers: &HeaderMap) -> Result<(), String> {
        let mut last = "no signing secret".to_owned();
        for verifier in &self.verifiers {
            match verifier.verify(body, headers) {
                Ok(()) => return Ok(()),
                Err(e) => last = e.to_string(),
            }
        }
        Err(last)
    }
}

/// The receiver's routes.
pub(crate) fn router<S: Clone + Send + Sync + 'static>(
    receiver: Arc<SandboxReceiver>,
) -> Router<S> {
    Router::new()
        .route(PATH, get(page).post(receive))
        .with_state(receiver)
}

async fn receive(
    State(receiver): State<Arc<SandboxReceiver>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let verdict = receiver.verify(&body, &headers);
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .map(|v| excerpt(v, 64))
        .unwrap_or_default();
    let parsed: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
    let event_type = parsed
        .as_ref()
        .and_then(|v| v.get("type"))
        .and_then(|t| t.as_str())
        .map(|t| excerpt(t, 64))
        .unwrap_or_default();
    let pretty = parsed
        .as_ref()
        .and_then(|v| serde_json::to_string_pretty(v).ok())
        .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
    let status = match verdict {
        Ok(()) => StatusCode::NO_CONTENT,
        Err(_) => StatusCode::UNAUTHORIZED,
    };
    let mut received = receiver.lock();
    let repeat = verdict.is_ok() && received.iter().any(|r| r.id == id && r.verdict.is_ok());
    if received.len() == KEPT {
        received.pop_back();
    }
    received.push_front(Received {
        at: time::OffsetDateTime::now_utc().unix_timestamp(),
        id,
        event_type,
        verdict,
        repeat,
        body: excerpt(&pretty, 4000),
    });
    status
}

#[derive(Template)]
#[template(path = "sandbox/receiver.html")]
struct ReceiverPage {
    platform: &'static str,
    received: Vec<Received>,
}

impl ReceiverPage {
    fn time(&self, at: &i64) -> String {
        fmt_time(*at)
    }
}

async fn page(State(receiver): State<Arc<SandboxReceiver>>) -> Response {
    render_or_plain(&ReceiverPage {
        platform: "your backend",
        received: receiver.received(),
    })
    .into_response()
}
