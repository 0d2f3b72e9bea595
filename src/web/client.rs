//! The client's address as every handler must read it: [`ClientIp`]. It is the TCP peer unless
//! the peer is a trusted proxy (`STORELINK_TRUSTED_PROXIES`), see [`crate::client_addr`].

use std::net::{IpAddr, SocketAddr};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::request::Parts,
};

use crate::{error::AppError, state::AppState};

/// The client's address (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let ConnectInfo(peer) = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .copied()
            .ok_or_else(|| anyhow::anyhow!("the connection's peer address is missing"))?;
        Ok(Self(
            state.trusted_proxies.client_ip(peer.ip(), &parts.headers),
        ))
    }
}
