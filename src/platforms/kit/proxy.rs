//! What the proxy may reach under an install's API base URL: the path is checked segment by
//! segment before any URL is built ([`checked_path`]), and the URL is checked again after
//! ([`target_url`]). The call itself is [`crate::platforms::proxy`].

use url::Url;

use super::api_call::ApiError;

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// `..`, `.`, `//`, encoded slashes or backslashes: it would leave the base.
    #[error(
        "the path must stay under the install's API base URL (no `..`, `.`, `//` or encoded slashes)"
    )]
    Escapes,
    /// `@`, `\`, a scheme, control characters: not a path at all.
    #[error(
        "the path may hold only URL path characters (no `@`, `\\`, schemes or control characters)"
    )]
    NotAPath,
}

/// Checks a raw (still percent-encoded) path to append to an API base URL: segments of URL path
/// characters, none of which is, or decodes to, `.` or `..`, a slash, a backslash, `@` or a
/// control character. A trailing slash is kept; an empty path is the base itself.
pub fn checked_path(raw: &str) -> Result<&str, PathError> {
    if raw.is_empty() {
        return Ok(raw);
    }
    if raw.starts_with('/') || raw.contains("//") {
        return Err(PathError::Escapes);
    }
    if !raw.bytes().all(is_path_byte) {
        return Err(PathError::NotAPath);
    }
    let segments: Vec<&str> = raw.split('/').collect();
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        if segment.is_empty() && !last {
            return Err(PathError::Escapes);
        }
        let decoded = percent_decode(segment).ok_or(PathError::NotAPath)?;
        if is_dot_segment(&decoded) || decoded.contains(['/', '\\']) {
            return Err(PathError::Escapes);
        }
        if decoded.contains('@') || decoded.chars().any(char::is_control) {
            return Err(PathError::NotAPath);
        }
        if i == 0 && decoded.contains(':') {
            // `http:...`, `javascript:...`: something that reads as a scheme is no path.
            return Err(PathError::NotAPath);
        }
    }
    Ok(raw)
}

/// `.`, `..`, and what some servers read as them: a segment starting with `..` (`..;x`, `...`)
/// and `.` with path parameters (`.;x`), which servlet containers and some proxies treat as a
/// dot segment once they strip the `;` parameters.
fn is_dot_segment(decoded: &str) -> bool {
    let bare = decoded.split(';').next().unwrap_or_default();
    decoded.starts_with("..") || bare == "." || bare == ".."
}

/// Unreserved characters, sub-delimiters, `:`, `%` and `/`: what a URL path may hold raw (less
/// `@`, which is refused on its own).
fn is_path_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:%/".contains(&b)
}

/// `%XX` decoded; `None` for a broken escape or bytes that are not UTF-8.
fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `base` + `/` + `path` (already checked) + `?query`, checked to still be under `base`.
pub fn target_url(base: &Url, path: &str, query: Option<&str>) -> Result<Url, ApiError> {
    let joined = if path.is_empty() {
        base.as_str().to_owned()
    } else {
        format!("{}/{path}", base.as_str().trim_end_matches('/'))
    };
    let mut url = Url::parse(&joined).map_err(|_| ApiError::BadAddress("the path"))?;
    url.set_query(query.filter(|q| !q.is_empty()));
    url.set_fragment(None);
    let base_path = base.path().trim_end_matches('/');
    let under_base = url.scheme() == base.scheme()
        && url.host_str() == base.host_str()
        && url.port_or_known_default() == base.port_or_known_default()
        && (url.path() == base.path() || url.path().starts_with(&format!("{base_path}/")));
    if !under_base {
        return Err(ApiError::BadAddress("the path leaves the API base URL"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_under_the_base_are_accepted() {
        for ok in [
            "",
            "orders",
            "orders/",
            "orders/A4K8LP3",
            "shipments/123/items",
            "a%20b",
            "items/v1:beta",
            "~user",
        ] {
            assert_eq!(checked_path(ok), Ok(ok), "{ok:?}");
        }
    }

    #[test]
    fn hostile_paths_are_refused() {
        for bad in [
            "..",
            "../x",
            "orders/../..",
            "orders/./x",
            ".",
            "%2e%2e",
            "%2E%2E/x",
            ".%2e",
            "orders/%2e",
            "//evil.example",
            "orders//x",
            "/orders",
            "orders%2f..%2f..",
            "orders%2F",
            "%5c..",
            "http://evil.example/x",
            "https:%2F%2Fevil.example",
            "javascript:alert(1)",
            "user@evil.example",
            "x%40evil.example",
            "a\\b",
            "a%5cb",
            "a%00b",
            "a%0d%0aX-Injected:1",
            "a b",
            "a?b",
            "a#b",
            "%zz",
            "%c3",
            "..;",
            "..;/x",
            "orders/..;x/y",
            "%2e%2e;",
            "...",
            ".;x",
            "orders/.;/x",
        ] {
            assert!(checked_path(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn urls_stay_under_the_base() {
        let base = Url::parse("https://api.bol.com/retailer").unwrap();
        assert_eq!(
            target_url(&base, "orders", Some("page=2"))
                .unwrap()
                .as_str(),
            "https://api.bol.com/retailer/orders?page=2"
        );
        assert_eq!(
            target_url(&base, "", None).unwrap().as_str(),
            "https://api.bol.com/retailer"
        );
        // Even a path that slipped past the check cannot leave the base.
        assert!(target_url(&base, "../admin", None).is_err());
        assert!(
            target_url(&base, "@evil.example", None)
                .is_ok_and(|u| u.host_str() == Some("api.bol.com"))
        );
    }
}
