//! How storelink authenticates to a platform's token endpoint.

use super::vocabulary;

vocabulary! {
    /// Token-endpoint client authentication (a per-platform setting, e.g. `BOL_CLIENT_AUTH`).
    pub enum ClientAuth {
        /// `Authorization: Basic base64(id:secret)` with the id and secret as they are: the form
        /// bol.com documents.
        Raw = "raw",
        /// `Authorization: Basic` with the id and secret form-urlencoded first (RFC 6749
        /// §2.3.1), as standard servers decode it: a secret holding `+ / = % :` survives.
        Rfc6749 = "rfc6749",
        /// `client_id` and `client_secret` in the form body, no `Authorization` header.
        ClientSecretPost = "client_secret_post",
    }
}

impl Default for ClientAuth {
    /// bol.com's documented form.
    fn default() -> Self {
        Self::Raw
    }
}
