//! The stylesheet, icon and scripts, embedded in the binary at build time so storelink serves
//! them the same from any working directory (an installed binary, a service unit, a container).
//!
//! Pages link them as `/static/{file}?v={version}`, where the version is a hash of every
//! embedded file: such a URL never changes its content, so it may be cached for a year, and a
//! new release (a new hash) is never served stale. A URL without the current version is
//! not stored (`no-store`, with an `ETag`).

use std::sync::LazyLock;

use axum::{
    Router,
    extract::{Path, Query},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use rust_embed::RustEmbed;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

/// The files under `static/`, in the binary.
#[derive(RustEmbed)]
#[folder = "static/"]
struct Files;

/// The hash of every embedded file, as pages put it in asset URLs.
static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut names: Vec<_> = Files::iter().collect();
    names.sort();
    let mut hasher = Sha256::new();
    for name in names {
        if let Some(file) = Files::get(&name) {
            hasher.update(name.as_bytes());
            hasher.update(file.metadata.sha256_hash());
        }
    }
    hasher.finalize()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
});

/// The assets' version, for the `?v=` of asset URLs in templates.
pub(crate) fn version() -> &'static str {
    &VERSION
}

/// `/static/{file}` and `/favicon.ico`.
pub(crate) fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/static/{*file}", get(asset)).route(
        "/favicon.ico",
        get(|headers: HeaderMap| async move { serve("favicon.svg", false, &headers) }),
    )
}

#[derive(Debug, Default, Deserialize)]
struct AssetQuery {
    v: Option<String>,
}

async fn asset(
    Path(file): Path<String>,
    query: Result<Query<AssetQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let versioned = query
        .ok()
        .and_then(|Query(q)| q.v)
        .is_some_and(|v| v == version());
    serve(&file, versioned, &headers)
}

/// The embedded `file`, or `404`; `304` when the browser holds the same one.
fn serve(file: &str, versioned: bool, headers: &HeaderMap) -> Response {
    let Some(found) = Files::get(file) else {
        return (
            StatusCode::NOT_FOUND,
            [(header::CACHE_CONTROL, "no-store")],
            "not found\n",
        )
            .into_response();
    };
    let etag = format!(
        "\"{}\"",
        found.metadata.sha256_hash()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    // An unversioned URL is not one pages link: like every other answer, it is not stored.
    let cache = if versioned {
        "public, max-age=31536000, immutable"
    } else {
        "no-store"
    };
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, found.metadata.mimetype().to_owned())],
            found.data.into_owned(),
        )
            .into_response()
    };
    let response_headers = response.headers_mut();
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        response_headers.insert(header::ETAG, etag);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stylesheet_is_embedded_and_the_version_is_stable() {
        assert!(Files::get("style.css").is_some());
        assert!(Files::get("favicon.svg").is_some());
        assert_eq!(version().len(), 12);
        assert_eq!(version(), version());
    }
}
