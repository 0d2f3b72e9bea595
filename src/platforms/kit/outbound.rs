//! The outbound guard: every call storelink makes to a URL built from data (a store's API from
//! its domain today; the vendor API proxy and notifications later) goes through [`Outbound`].
//!
//! A store domain is typed by whoever starts an install, or sent by the platform; a name like
//! `metadata.google.internal` or `127.0.0.1.nip.io` passes as a domain and would aim storelink,
//! with a merchant's access token, at an internal host. So unless
//! `STORELINK_ALLOW_PRIVATE_ENDPOINTS` is on (sandbox mode, local set-ups, tests), [`Outbound`]:
//! - calls `https://` URLs only;
//! - refuses internal names (`localhost`, `*.localhost`, `*.local`, `*.internal`,
//!   `*.home.arpa`) and IP literals in a refused range;
//! - resolves every other name itself and refuses it when *any* of its addresses is in a
//!   refused range ([`refused_range`]: loopback, private, shared (CGNAT), link-local (cloud
//!   metadata), unique-local, multicast, unspecified, broadcast and other reserved or special
//!   ranges, IPv4 written as IPv6 (mapped, 6to4, NAT64) judged as the IPv4 it carries);
//! - connects to exactly the addresses it checked (the resolver is the client's, so there is no
//!   second lookup a DNS rebinding could answer differently), with no proxy and no redirects.
//!
//! URLs an operator configured (token endpoints, `BOL_API_URL`) are trusted as given and use the
//! plain client ([`super::http::client`]) instead.

use std::{
    collections::HashMap,
    future::Future,
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    pin::Pin,
    sync::Arc,
    time::Duration,
};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

/// Resolves host names for [`Outbound`]: the system resolver in production, a table in tests.
pub trait Lookup: Send + Sync + 'static {
    /// The addresses of `host`.
    fn lookup(&self, host: &str) -> Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send>>;
}

/// The operating system's resolver (`getaddrinfo`, on the blocking pool).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(&self, host: &str) -> Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send>> {
        let host = host.to_owned();
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .map(|a| a.ip())
                .collect())
        })
    }
}

/// A fixed table of names and their addresses (tests; anything else does not resolve).
#[derive(Debug, Clone, Default)]
pub struct TableLookup(pub HashMap<String, Vec<IpAddr>>);

impl Lookup for TableLookup {
    fn lookup(&self, host: &str) -> Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send>> {
        let found = self.0.get(&host.to_ascii_lowercase()).cloned();
        Box::pin(async move {
            found.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such name"))
        })
    }
}

/// Why the guard refused a call. The message reads on its own and names no secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The name (or the literal) is an address storelink does not call.
    #[error("{host} is a {range} address ({ip}), which storelink does not call")]
    Address {
        /// The host as written in the URL.
        host: String,
        /// The refused address.
        ip: IpAddr,
        /// The kind of range it is in.
        range: &'static str,
    },
    /// A name reserved for internal networks.
    #[error("{0} is an internal host name, which storelink does not call")]
    InternalName(String),
    /// Plain http (or another scheme) where https is required.
    #[error("storelink calls stores over https only")]
    NotHttps,
    /// A URL without a host.
    #[error("the address has no host")]
    NoHost,
}

/// The client for URLs built from data, with its guard. Cheap to clone.
#[derive(Clone)]
pub struct Outbound {
    client: reqwest::Client,
    allow_private: bool,
    lookup: Arc<dyn Lookup>,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound")
            .field("allow_private", &self.allow_private)
            .finish_non_exhaustive()
    }
}

impl Outbound {
    /// The guard with the system resolver; `allow_private` is
    /// `STORELINK_ALLOW_PRIVATE_ENDPOINTS`.
    pub fn new(timeout: Duration, allow_private: bool) -> anyhow::Result<Self> {
        Self::with_lookup(timeout, allow_private, Arc::new(SystemLookup))
    }

    /// The guard with a resolver of the caller's (tests).
    pub fn with_lookup(
        timeout: Duration,
        allow_private: bool,
        lookup: Arc<dyn Lookup>,
    ) -> anyhow::Result<Self> {
        let resolver = Arc::new(GuardedResolver {
            lookup: lookup.clone(),
            allow_private,
        });
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve the name itself, past the guard.
            .no_proxy()
            .dns_resolver(resolver)
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("storelink/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            allow_private,
            lookup,
        })
    }

    /// Whether private addresses and plain http are allowed (`STORELINK_ALLOW_PRIVATE_ENDPOINTS`).
    pub fn allows_private(&self) -> bool {
        self.allow_private
    }

    /// Checks what can be checked before resolving: the scheme, internal names, IP literals.
    pub fn check_url(&self, url: &Url) -> Result<(), Refusal> {
        if self.allow_private {
            return match url.host() {
                Some(_) => Ok(()),
                None => Err(Refusal::NoHost),
            };
        }
        if url.scheme() != "https" {
            return Err(Refusal::NotHttps);
        }
        let literal = |ip: IpAddr, host: String| match refused_range(ip) {
            Some(range) => Err(Refusal::Address { host, ip, range }),
            None => Ok(()),
        };
        match url.host() {
            None => Err(Refusal::NoHost),
            Some(Host::Ipv4(ip)) => literal(IpAddr::V4(ip), ip.to_string()),
            Some(Host::Ipv6(ip)) => literal(IpAddr::V6(ip), ip.to_string()),
            Some(Host::Domain(name)) if is_internal_name(name) => {
                Err(Refusal::InternalName(name.to_owned()))
            }
            Some(Host::Domain(_)) => Ok(()),
        }
    }

    /// [`Outbound::check_url`], then resolves the host now and checks its addresses as a call
    /// would: for URLs stored to be called later (notification endpoints), so a refused one
    /// is refused when it is given, not only when it is called. The call checks again.
    pub async fn check_url_resolved(&self, url: &Url) -> Result<(), String> {
        self.check_url(url).map_err(|r| r.to_string())?;
        let host = match url.host() {
            Some(Host::Domain(name)) => name.to_owned(),
            // A literal was judged by `check_url`.
            Some(_) => return Ok(()),
            None => return Err(Refusal::NoHost.to_string()),
        };
        let found = self
            .lookup
            .lookup(&host)
            .await
            .map_err(|e| format!("{host} does not resolve ({e})"))?;
        check_addresses(&host, found, self.allow_private)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// A request to `url`, once [`Outbound::check_url`] allows it; the name is checked again
    /// as it is resolved for the connection.
    pub fn request(
        &self,
        method: reqwest::Method,
        url: Url,
    ) -> Result<reqwest::RequestBuilder, Refusal> {
        self.check_url(&url)?;
        Ok(self.client.request(method, url))
    }

    /// The guard's refusal inside a failed request's error, if that is why it failed.
    pub fn refusal(err: &reqwest::Error) -> Option<Refusal> {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
        while let Some(e) = source {
            if let Some(refusal) = e.downcast_ref::<Refusal>() {
                return Some(refusal.clone());
            }
            source = e.source();
        }
        None
    }
}

/// The resolver the guarded client connects through.
struct GuardedResolver {
    lookup: Arc<dyn Lookup>,
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let lookup = self.lookup.clone();
        let allow_private = self.allow_private;
        Box::pin(async move {
            if !allow_private && is_internal_name(&host) {
                return Err(Box::new(Refusal::InternalName(host)) as _);
            }
            let found = lookup.lookup(&host).await?;
            let checked = check_addresses(&host, found, allow_private)?;
            let addrs: Addrs = Box::new(checked.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// The addresses a name resolved to, if none is refused (one refused address refuses the
/// name: it is either misconfigured or an attempt).
fn check_addresses(
    host: &str,
    found: Vec<IpAddr>,
    allow_private: bool,
) -> Result<Vec<IpAddr>, Box<dyn std::error::Error + Send + Sync>> {
    if found.is_empty() {
        return Err(Box::new(io::Error::new(
            io::ErrorKind::NotFound,
            "the name has no address",
        )));
    }
    if !allow_private {
        for ip in &found {
            if let Some(range) = refused_range(*ip) {
                return Err(Box::new(Refusal::Address {
                    host: host.to_owned(),
                    ip: *ip,
                    range,
                }));
            }
        }
    }
    Ok(found)
}

/// Names that only mean something inside a network.
fn is_internal_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let label = |suffix: &str| name == suffix || name.ends_with(&format!(".{suffix}"));
    label("localhost")
        || label("local")
        || label("internal")
        || label("home.arpa")
        || label("localdomain")
        || !name.contains('.')
}

/// The kind of range `ip` is in, when storelink must not call it; `None` for a public address.
pub fn refused_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => refused_v6(v6),
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    let range = match (a, b, c) {
        _ if ip.is_unspecified() => "unspecified",
        (0, _, _) => "unspecified (this network)",
        (127, _, _) => "loopback",
        (10, _, _) | (192, 168, _) => "private",
        (172, b, _) if (16..32).contains(&b) => "private",
        (169, 254, _) => "link-local (cloud metadata)",
        (100, b, _) if (64..128).contains(&b) => "shared (carrier-grade NAT, cloud metadata)",
        (192, 0, 0) => "IETF protocol assignment (cloud metadata)",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (198, 18 | 19, _) => "benchmarking",
        (192, 88, 99) => "6to4 relay",
        (a, _, _) if (224..240).contains(&a) => "multicast",
        (255, 255, 255) if ip.is_broadcast() => "broadcast",
        (a, _, _) if a >= 240 => "reserved",
        _ => return None,
    };
    Some(range)
}

fn refused_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return refused_v4(v4).or(Some("IPv4-mapped"));
    }
    let s = ip.segments();
    let embedded =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    let range = match s {
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_loopback() => "loopback",
        // ::a.b.c.d, the deprecated IPv4-compatible form.
        [0, 0, 0, 0, 0, 0, _, _] => "IPv4-compatible (deprecated)",
        // ::ffff:0:a.b.c.d, the IPv4-translated form of SIIT (RFC 2765): refused whole, as a
        // translator would carry it to any IPv4 address, internal ones included.
        [0, 0, 0, 0, 0xffff, 0, _, _] => "IPv4-translated (SIIT)",
        // NAT64: judged as the IPv4 address it reaches.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => {
            return refused_v4(embedded(hi, lo)).or(Some("NAT64"));
        }
        [0x64, 0xff9b, 1, ..] => "local-use NAT64",
        // 6to4: judged as the IPv4 address it carries.
        [0x2002, hi, lo, ..] => return refused_v4(embedded(hi, lo)).or(Some("6to4")),
        [0x100, 0, 0, 0, ..] => "discard-only",
        [0x2001, 0xdb8, ..] => "documentation",
        [0x2001, b, ..] if b < 0x200 => "IETF protocol assignment (Teredo and others)",
        [a, ..] if a & 0xfe00 == 0xfc00 => "unique-local (cloud metadata)",
        [a, ..] if a & 0xffc0 == 0xfe80 => "link-local",
        [a, ..] if a & 0xffc0 == 0xfec0 => "site-local (deprecated)",
        [a, ..] if a & 0xff00 == 0xff00 => "multicast",
        _ => return None,
    };
    Some(range)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// Names resolving into each refused range, as a resolver the test controls answers them.
    const REFUSED: &[(&str, &str, &str)] = &[
        ("loopback.example.com", "127.0.0.1", "loopback"),
        ("loopback-far.example.com", "127.255.0.9", "loopback"),
        ("loopback6.example.com", "::1", "loopback"),
        ("ten.example.com", "10.1.2.3", "private"),
        ("one-seven-two.example.com", "172.16.0.1", "private"),
        ("one-seven-two-top.example.com", "172.31.255.254", "private"),
        ("one-nine-two.example.com", "192.168.1.1", "private"),
        ("metadata.example.com", "169.254.169.254", "link-local"),
        ("link-local6.example.com", "fe80::1", "link-local"),
        ("aws-metadata6.example.com", "fd00:ec2::254", "unique-local"),
        ("unique-local.example.com", "fc00::1", "unique-local"),
        ("alibaba-metadata.example.com", "100.100.100.200", "shared"),
        ("oracle-metadata.example.com", "192.0.0.192", "IETF"),
        ("multicast.example.com", "224.0.0.1", "multicast"),
        ("multicast6.example.com", "ff02::1", "multicast"),
        ("unspecified.example.com", "0.0.0.0", "unspecified"),
        ("this-network.example.com", "0.1.2.3", "unspecified"),
        ("unspecified6.example.com", "::", "unspecified"),
        ("broadcast.example.com", "255.255.255.255", "broadcast"),
        ("reserved.example.com", "240.0.0.1", "reserved"),
        ("mapped.example.com", "::ffff:127.0.0.1", "loopback"),
        ("mapped-private.example.com", "::ffff:10.0.0.1", "private"),
        ("sixtofour.example.com", "2002:7f00:1::", "loopback"),
        ("nat64.example.com", "64:ff9b::a9fe:a9fe", "link-local"),
        ("siit.example.com", "::ffff:0:a9fe:a9fe", "SIIT"),
        ("siit-public.example.com", "::ffff:0:808:808", "SIIT"),
        ("teredo.example.com", "2001::1", "IETF"),
        ("documentation.example.com", "192.0.2.10", "documentation"),
        ("benchmark.example.com", "198.18.0.1", "benchmarking"),
    ];

    fn table() -> TableLookup {
        let mut names: HashMap<String, Vec<IpAddr>> = REFUSED
            .iter()
            .map(|(name, addr, _)| ((*name).to_owned(), vec![ip(addr)]))
            .collect();
        names.insert("public.example.com".into(), vec![ip("93.184.215.14")]);
        names.insert(
            "mixed.example.com".into(),
            vec![ip("93.184.215.14"), ip("10.0.0.5")],
        );
        names.insert(
            "public6.example.com".into(),
            vec![ip("2606:4700::6810:85e5")],
        );
        TableLookup(names)
    }

    fn guard(allow_private: bool, lookup: TableLookup) -> Outbound {
        Outbound::with_lookup(Duration::from_secs(2), allow_private, Arc::new(lookup)).unwrap()
    }

    #[tokio::test]
    async fn names_resolving_into_any_refused_range_are_refused() {
        let outbound = guard(false, table());
        for (name, addr, range) in REFUSED {
            let url = Url::parse(&format!("https://{name}/do/WS/NetoAPI")).unwrap();
            let err = outbound
                .request(reqwest::Method::POST, url)
                .expect("a name passes the URL check")
                .send()
                .await
                .expect_err(name);
            match Outbound::refusal(&err) {
                Some(Refusal::Address {
                    host,
                    ip: refused,
                    range: kind,
                }) => {
                    assert_eq!(host, *name);
                    assert_eq!(refused, ip(addr));
                    assert!(kind.contains(range), "{name}: {kind} is not {range}");
                }
                other => panic!("{name}: {other:?} ({err})"),
            }
        }
        // One refused address among public ones refuses the name.
        let err = outbound
            .request(
                reqwest::Method::GET,
                Url::parse("https://mixed.example.com/").unwrap(),
            )
            .unwrap()
            .send()
            .await
            .unwrap_err();
        assert!(matches!(
            Outbound::refusal(&err),
            Some(Refusal::Address {
                range: "private",
                ..
            })
        ));
    }

    #[tokio::test]
    async fn public_names_resolve_to_the_addresses_checked() {
        let resolver = GuardedResolver {
            lookup: Arc::new(table()),
            allow_private: false,
        };
        for (name, addr) in [
            ("public.example.com", "93.184.215.14"),
            ("public6.example.com", "2606:4700::6810:85e5"),
        ] {
            let addrs: Vec<IpAddr> = resolver
                .resolve(name.parse().unwrap())
                .await
                .unwrap()
                .map(|a| a.ip())
                .collect();
            assert_eq!(addrs, [ip(addr)]);
        }
        assert!(
            resolver
                .resolve("unknown.example.com".parse().unwrap())
                .await
                .is_err()
        );
    }

    #[test]
    fn literals_internal_names_and_plain_http_are_refused_before_resolving() {
        let outbound = guard(false, TableLookup::default());
        for url in [
            "https://127.0.0.1/",
            "https://[::1]/",
            "https://2130706433/",
            "https://0x7f.0.0.1/",
            "https://169.254.169.254/latest/meta-data/",
            "https://[fd00:ec2::254]/",
            "https://[::ffff:7f00:1]/",
        ] {
            let refusal = outbound.check_url(&Url::parse(url).unwrap());
            assert!(
                matches!(refusal, Err(Refusal::Address { .. })),
                "{url}: {refusal:?}"
            );
        }
        for url in [
            "https://localhost/",
            "https://shop.localhost/",
            "https://metadata.google.internal/computeMetadata/v1/",
            "https://printer.local/",
            "https://router.home.arpa/",
            "https://intranet/",
        ] {
            assert!(
                matches!(
                    outbound.check_url(&Url::parse(url).unwrap()),
                    Err(Refusal::InternalName(_))
                ),
                "{url}"
            );
        }
        assert_eq!(
            outbound.check_url(&Url::parse("http://public.example.com/").unwrap()),
            Err(Refusal::NotHttps)
        );
        assert_eq!(
            outbound.check_url(&Url::parse("https://public.example.com/").unwrap()),
            Ok(())
        );
        assert!(
            outbound
                .check_url(&Url::parse("https://8.8.8.8/").unwrap())
                .is_ok()
        );
    }

    #[tokio::test]
    async fn allowed_private_endpoints_are_reached_at_the_resolved_address() {
        // A local server, reached through a name only the test's resolver knows: the request
        // goes to the address the guard resolved, not to a second lookup.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
            if let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = socket.read(&mut buf).await;
                let _ = socket
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
            }
        });
        let mut names = HashMap::new();
        names.insert("store.example.com".to_owned(), vec![ip("127.0.0.1")]);
        let outbound = guard(true, TableLookup(names.clone()));
        let url = Url::parse(&format!("http://store.example.com:{port}/")).unwrap();
        let answer = outbound
            .request(reqwest::Method::GET, url.clone())
            .unwrap()
            .send()
            .await
            .unwrap();
        assert_eq!(answer.text().await.unwrap(), "ok");
        // The same name with the guard on is refused, plain http first.
        let strict = guard(false, TableLookup(names));
        assert_eq!(
            strict.request(reqwest::Method::GET, url).err(),
            Some(Refusal::NotHttps)
        );
    }

    #[test]
    fn public_addresses_pass() {
        for addr in [
            "8.8.8.8",
            "93.184.215.14",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::6810:85e5",
            "2a00:1450::1",
        ] {
            assert_eq!(refused_range(ip(addr)), None, "{addr}");
        }
    }
}
