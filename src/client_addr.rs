//! Who the client is: the TCP peer, or, when the peer is a proxy storelink was told to trust
//! (`STORELINK_TRUSTED_PROXIES`), the address that proxy names in `X-Forwarded-For` (or, when
//! there is none, `Forwarded`). Every use of the client's address (login throttling, rate
//! limits, audit entries) goes through [`TrustedProxies::client_ip`].
//!
//! The chain of forwarded addresses is read from the right: each trusted proxy appended the
//! address it received the request from, so the first address from the right that is not a
//! trusted proxy is the client. Anything to its left was written by the client itself and is
//! never believed. An entry that is not an address (`unknown`, an obfuscated name, garbage) stops
//! the walk at the proxy that wrote it.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The proxies whose forwarding headers name the client.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Trust peers within `networks` (none: forwarding headers are always ignored).
    pub fn new(networks: Vec<IpNet>) -> Self {
        Self(networks)
    }

    /// Whether `ip` is a trusted proxy.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address for a request that came from `peer` with `headers`.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let chain = forwarded_for(headers);
        // Walk from the proxy nearest to us towards the client.
        let mut client = peer;
        for entry in chain.iter().rev() {
            match entry {
                Some(ip) if self.trusts(*ip) => client = *ip,
                Some(ip) => return *ip,
                // The trusted proxy at `client` did not name an address: it is the client as
                // far as anyone can tell.
                None => return client,
            }
        }
        client
    }
}

/// The addresses a request was forwarded for, leftmost (furthest) first: from every
/// `X-Forwarded-For` header if there is one, else from every `Forwarded` header's `for=`.
fn forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let values = |name| {
        headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap_or("\u{0}").to_owned())
            .collect::<Vec<_>>()
    };
    let xff = values("x-forwarded-for");
    if !xff.is_empty() {
        return xff
            .iter()
            .flat_map(|v| v.split(','))
            .map(|entry| parse_node(entry.trim()))
            .collect();
    }
    values("forwarded")
        .iter()
        .flat_map(|v| v.split(','))
        .map(|element| {
            let value = element.split(';').find_map(|pair| {
                let (key, value) = pair.split_once('=')?;
                key.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| value.trim().trim_matches('"'))
            });
            value.and_then(parse_node)
        })
        .collect()
}

/// An address as a proxy writes it: `192.0.2.7`, `192.0.2.7:4711`, `2001:db8::1`,
/// `[2001:db8::1]:4711`, `[2001:db8::1]`.
fn parse_node(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    let ip = text
        .parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            text.strip_prefix('[')
                .and_then(|t| t.strip_suffix(']'))
                .and_then(|t| t.parse().ok())
        })?;
    Some(canonical(ip))
}

/// IPv4 addresses written as IPv6 (`::ffff:192.0.2.7`) are IPv4 addresses.
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::new(
            list.iter()
                .map(|n| {
                    n.parse()
                        .unwrap_or_else(|_| IpNet::from(n.parse::<IpAddr>().unwrap()))
                })
                .collect(),
        )
    }

    #[test]
    fn untrusted_peers_are_the_client_whatever_they_claim() {
        let none = TrustedProxies::default();
        let forged = headers(&[
            ("x-forwarded-for", "198.51.100.1"),
            ("forwarded", "for=198.51.100.2"),
        ]);
        assert_eq!(
            none.client_ip(ip("203.0.113.5"), &forged),
            ip("203.0.113.5")
        );
        let some = proxies(&["10.0.0.0/8"]);
        assert_eq!(
            some.client_ip(ip("203.0.113.5"), &forged),
            ip("203.0.113.5")
        );
    }

    #[test]
    fn a_trusted_proxy_names_the_client_and_what_the_client_wrote_is_ignored() {
        let trusted = proxies(&["10.0.0.0/8", "192.0.2.1/32"]);
        let peer = ip("10.0.0.2");
        let cases = [
            (vec![("x-forwarded-for", "203.0.113.9")], "203.0.113.9"),
            // The client wrote the first entry; the proxy appended the real address.
            (
                vec![("x-forwarded-for", "198.51.100.77, 203.0.113.9")],
                "203.0.113.9",
            ),
            // Two proxies: skip the trusted hop.
            (
                vec![("x-forwarded-for", "203.0.113.9, 192.0.2.1")],
                "203.0.113.9",
            ),
            (
                vec![
                    ("x-forwarded-for", "198.51.100.77"),
                    ("x-forwarded-for", "203.0.113.9:5555"),
                ],
                "203.0.113.9",
            ),
            (
                vec![(
                    "forwarded",
                    r#"for=198.51.100.77, for="[2001:db8::9]:4711";proto=https"#,
                )],
                "2001:db8::9",
            ),
            (vec![("forwarded", "For=203.0.113.9")], "203.0.113.9"),
            // Nothing usable: the proxy is the client.
            (vec![("x-forwarded-for", "unknown")], "10.0.0.2"),
            (vec![("forwarded", "for=_hidden")], "10.0.0.2"),
            (vec![], "10.0.0.2"),
            // Everyone trusted: the furthest.
            (vec![("x-forwarded-for", "10.1.1.1, 192.0.2.1")], "10.1.1.1"),
            (
                vec![("x-forwarded-for", "::ffff:203.0.113.9")],
                "203.0.113.9",
            ),
        ];
        for (pairs, expected) in cases {
            assert_eq!(
                trusted.client_ip(peer, &headers(&pairs)),
                ip(expected),
                "{pairs:?}"
            );
        }
    }

    #[test]
    fn mapped_addresses_are_trusted_as_their_ipv4() {
        let trusted = proxies(&["127.0.0.1"]);
        assert!(trusted.trusts(ip("::ffff:127.0.0.1")));
        assert!(!trusted.trusts(ip("127.0.0.2")));
    }
}
