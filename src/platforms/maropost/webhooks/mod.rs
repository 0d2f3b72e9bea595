//! Maropost order notifications: what a notification is ([`order_event`]), reading one strictly
//! ([`order_xml`]), how received events reach the disk ([`writer`]), and the per-install webhook
//! key that authenticates them.
//!
//! The route itself is [`receiving`]; [`Intake`] decides what becomes of a notification. The
//! per-install key is the kit's ([`crate::platforms::kit::webhook_keys`]). What they guarantee: `200` exactly when the event is committed to the database
//! (or was already there), anything else when it is not, so that Maropost's retries never lose
//! an event and never store one twice.

mod intake;
pub mod order_event;
pub mod order_xml;
pub mod receiving;
pub mod writer;

pub use intake::{Intake, Refusal};

use url::Url;

/// Largest notification body accepted, in bytes.
pub const MAX_BODY: usize = 256 * 1024;
/// Where notifications are received: `{PATH}/{install_id}`.
pub const PATH: &str = "/webhooks/maropost";
/// The header Maropost sends the store's key in.
pub const KEY_HEADER: &str = "NETOAPI_KEY";
/// The URL to paste into Maropost (Settings & Tools > All Settings & Tools > API Settings) for
/// `install_id`'s notifications.
pub fn webhook_url(public_url: &Url, install_id: &str) -> Url {
    let mut url = public_url.clone();
    url.set_path(&format!("{PATH}/{install_id}"));
    url.set_query(None);
    url.set_fragment(None);
    url
}

/// Maropost's order notifications, as the web layer shows and explains them.
pub struct OrderNotifications;

impl crate::platforms::driver::InboundWebhooks for OrderNotifications {
    fn url(&self, public_url: &Url, install_id: &str) -> Url {
        webhook_url(public_url, install_id)
    }

    fn texts(&self) -> &'static crate::platforms::driver::WebhookTexts {
        &crate::platforms::driver::WebhookTexts {
            merchant_intro: "Optional: let the add-on know as soon as an order changes status. In \
                             your Maropost control panel:",
            merchant_open: "Open <strong>Settings &amp; Tools &rsaquo; All Settings &amp; Tools \
                            &rsaquo; API Settings</strong>.",
            merchant_add: "Add a notification for <em>Order</em> events, with this address as its \
                           URL:",
            merchant_key: "Copy your store's API key from the same page and paste it here. \
                           Maropost sends it with every notification, so storelink knows they \
                           come from your store.",
            merchant_done: "Order updates are set up: your store's API key is saved, encrypted. \
                            Maropost's notifications that carry it are now accepted.",
            operator_setup: "Maropost can tell storelink whenever an order changes status. In the \
                             store's control panel, open <strong>Settings &amp; Tools &rsaquo; All \
                             Settings &amp; Tools &rsaquo; API Settings</strong>, add a \
                             notification for <em>Order</em> events, and paste this address as its \
                             URL:",
            operator_key: "Maropost sends the store's API key with every notification (the \
                           <code>NETOAPI_KEY</code> header).",
        }
    }
}
