//! A merchant's store domain, checked before it goes anywhere.

use std::{fmt, net::Ipv4Addr};

/// A merchant's store host name, e.g. `mystore.neto.com.au`: lower-case, at least one dot, no
/// scheme, port, path, user info, IP literal or `localhost`. It ends up in an authorize URL and,
/// later, in the host part of API calls, so anything else is refused before it is used.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StoreDomain(String);

/// Why a store domain was refused; the message is shown to the merchant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// Nothing was entered.
    #[error("Enter your store's domain, for example mystore.example.com.")]
    Empty,
    /// `https://...` and the like.
    #[error("Enter the domain only, without http:// or https://.")]
    Scheme,
    /// `host/path`, `host?x`, `host#x`.
    #[error("Enter the domain only, without a path, query or anything after it.")]
    Path,
    /// `user@host`.
    #[error("The domain must not contain @.")]
    UserInfo,
    /// `host:8080` or an IPv6 literal.
    #[error("The domain must not contain a port or a colon.")]
    Port,
    /// `1.2.3.4`.
    #[error("Enter a domain name, not an IP address.")]
    IpLiteral,
    /// `localhost` and `*.localhost`.
    #[error("Localhost is not a store domain.")]
    Localhost,
    /// `mystore` with no dot.
    #[error("The domain needs at least one dot, for example mystore.example.com.")]
    NoDot,
    /// Longer than DNS allows.
    #[error("The domain is longer than 253 characters.")]
    TooLong,
    /// Characters DNS host names cannot hold (spaces, underscores, non-ASCII, ...).
    #[error(
        "The domain may contain only letters, digits, hyphens and dots (use the xn-- form for international names)."
    )]
    BadCharacter,
    /// `a..b`, `-a.b`, a label over 63 characters, a trailing dot.
    #[error("The domain has an empty, over-long or badly formed part.")]
    BadLabel,
}

impl StoreDomain {
    /// Parses what a merchant typed (or a platform sent). Surrounding whitespace is ignored and
    /// upper case is folded; nothing else is repaired.
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(DomainError::Empty);
        }
        if s.contains("://") || s.starts_with("//") {
            return Err(DomainError::Scheme);
        }
        if s.contains('@') {
            return Err(DomainError::UserInfo);
        }
        if s.contains(['/', '\\', '?', '#']) {
            return Err(DomainError::Path);
        }
        if s.contains(':') || s.contains('[') {
            return Err(DomainError::Port);
        }
        if !s.is_ascii()
            || !s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        {
            return Err(DomainError::BadCharacter);
        }
        let s = s.to_ascii_lowercase();
        if s.len() > 253 {
            return Err(DomainError::TooLong);
        }
        if s == "localhost" || s.ends_with(".localhost") {
            return Err(DomainError::Localhost);
        }
        if s.parse::<Ipv4Addr>().is_ok() || looks_numeric(&s) {
            return Err(DomainError::IpLiteral);
        }
        if !s.contains('.') {
            return Err(DomainError::NoDot);
        }
        if !s.split('.').all(valid_label) {
            return Err(DomainError::BadLabel);
        }
        Ok(Self(s))
    }

    /// Parses what a merchant typed or pasted into the install form: as [`StoreDomain::parse`],
    /// after taking off what a browser's address bar adds around a store's home page: an
    /// `http://` or `https://` in front and a single `/` at the end (`https://mystore.neto.com.au/`
    /// is `mystore.neto.com.au`). Any other scheme, path, port or user info is still refused.
    pub fn parse_typed(input: &str) -> Result<Self, DomainError> {
        let s = input.trim();
        let s = strip_prefix_ignore_case(s, "https://")
            .or_else(|| strip_prefix_ignore_case(s, "http://"))
            .unwrap_or(s);
        let s = s.strip_suffix('/').unwrap_or(s);
        Self::parse(s)
    }

    /// The domain as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `s` without `prefix`, compared without regard to ASCII case.
fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s.get(prefix.len()..))
        .flatten()
}

/// A name whose last label is all digits is an IP address in some resolver's eyes (`127.1`,
/// `0x7f.1` aside); no real top-level domain is numeric.
fn looks_numeric(s: &str) -> bool {
    s.rsplit('.')
        .next()
        .is_some_and(|tld| !tld.is_empty() && tld.bytes().all(|b| b.is_ascii_digit()))
}

fn valid_label(label: &str) -> bool {
    !label.is_empty() && label.len() <= 63 && !label.starts_with('-') && !label.ends_with('-')
}

impl fmt::Display for StoreDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for StoreDomain {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_store_hosts() {
        for (input, want) in [
            ("mystore.neto.com.au", "mystore.neto.com.au"),
            ("MyStore.Neto.com.AU", "mystore.neto.com.au"),
            ("  shop.example.com\n", "shop.example.com"),
            ("a-b.example", "a-b.example"),
            ("xn--bcher-kva.example", "xn--bcher-kva.example"),
            ("1shop.example.com", "1shop.example.com"),
        ] {
            assert_eq!(StoreDomain::parse(input).unwrap().as_str(), want, "{input}");
        }
    }

    #[test]
    fn typed_form_accepts_a_pasted_home_page() {
        for (input, want) in [
            ("https://mystore.neto.com.au/", "mystore.neto.com.au"),
            ("mystore.neto.com.au/", "mystore.neto.com.au"),
            ("http://mystore.neto.com.au", "mystore.neto.com.au"),
            ("https://mystore.neto.com.au", "mystore.neto.com.au"),
            ("  HTTPS://MyStore.Neto.com.au/ ", "mystore.neto.com.au"),
            ("http://evil.example/", "evil.example"),
            ("mystore.neto.com.au", "mystore.neto.com.au"),
        ] {
            let got = StoreDomain::parse_typed(input);
            assert_eq!(got.map(|d| d.0).as_deref(), Ok(want), "{input:?}");
        }
    }

    #[test]
    fn typed_form_refuses_what_remains_when_it_is_not_a_domain() {
        use DomainError::*;
        for (input, want) in [
            ("https://", Empty),
            ("https:///", Empty),
            ("ftp://mystore.neto.com.au/", Scheme),
            ("https://https://mystore.neto.com.au/", Scheme),
            ("https:////evil.example", Scheme),
            ("https://mystore.neto.com.au//", Path),
            ("https://mystore.neto.com.au/admin", Path),
            ("https://mystore.neto.com.au/?x=1", Path),
            ("https://mystore.neto.com.au\\", Path),
            ("/mystore.neto.com.au", Path),
            ("https://user@evil.example/", UserInfo),
            ("https://evil.example:8080/", Port),
            ("https://127.0.0.1/", IpLiteral),
            ("https://localhost/", Localhost),
            ("https://mystore/", NoDot),
            ("https://example.com./", BadLabel),
        ] {
            assert_eq!(StoreDomain::parse_typed(input), Err(want), "{input:?}");
        }
    }

    #[test]
    fn refuses_hostile_input() {
        use DomainError::*;
        let long_label = format!("{}.com", "a".repeat(64));
        let too_long = format!("{}.com", ["abcdefghij"; 25].join("."));
        let cases: &[(&str, DomainError)] = &[
            ("", Empty),
            ("   ", Empty),
            ("http://evil.example/", Scheme),
            ("https://mystore.neto.com.au", Scheme),
            ("javascript://x.com", Scheme),
            ("//evil.example", Scheme),
            ("evil.example/path", Path),
            ("evil.example?x=1", Path),
            ("evil.example#frag", Path),
            ("evil.example\\foo", Path),
            ("user@evil.example", UserInfo),
            ("mystore.neto.com.au@evil.example", UserInfo),
            ("evil.example:8080", Port),
            ("[::1]", Port),
            ("::1", Port),
            ("127.0.0.1", IpLiteral),
            ("169.254.169.254", IpLiteral),
            ("127.1", IpLiteral),
            ("0x7f.1", IpLiteral),
            ("localhost", Localhost),
            ("LOCALHOST", Localhost),
            ("admin.localhost", Localhost),
            ("mystore", NoDot),
            ("my store.example", BadCharacter),
            ("my_store.example", BadCharacter),
            ("bücher.example", BadCharacter),
            ("evil.example\r\nX-Injected", BadCharacter),
            ("evil.example%2f", BadCharacter),
            ("evil.example\0", BadCharacter),
            ("<script>.example", BadCharacter),
            ("a..example", BadLabel),
            (".example.com", BadLabel),
            ("example.com.", BadLabel),
            ("-evil.example", BadLabel),
            ("evil-.example", BadLabel),
            (long_label.as_str(), BadLabel),
            (too_long.as_str(), TooLong),
        ];
        for (input, want) in cases {
            assert_eq!(StoreDomain::parse(input), Err(want.clone()), "{input:?}");
        }
        // The install form refuses them too, but for the two pasted home pages.
        let pasted_home_pages = ["http://evil.example/", "https://mystore.neto.com.au"];
        for (input, want) in cases {
            if !pasted_home_pages.contains(input) {
                assert_eq!(
                    StoreDomain::parse_typed(input),
                    Err(want.clone()),
                    "{input:?}"
                );
            }
        }
    }
}
