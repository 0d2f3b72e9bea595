//! Console error pages in the console's layout: a 404 or an expired form (403) inside the
//! console keeps the navigation and leads back into the console, not to the merchant's landing
//! page.
//!
//! Handlers keep returning [`AppError`]s; its response carries the [`ErrorPage`] it shows, and
//! [`in_console_layout`] draws that same page again inside the console's layout when the
//! browser belongs to a logged-in operator. Anyone else gets the plain error page.

use askama::Template;
use axum::{
    body::Body,
    extract::Request,
    http::{Method, header},
    middleware::Next,
    response::Response,
};
use tower_sessions::Session;

use super::{
    auth::{self, Operator},
    shared::Nav,
};
use crate::error::{AppError, ErrorPage};

#[derive(Template)]
#[template(path = "console/error.html")]
struct ConsoleErrorPage {
    nav: Nav,
    page: ErrorPage,
    /// The console page to go back to, and the link's words.
    back: (String, &'static str),
}

/// Any `/console/...` address that is no console page: `404` in the console's layout (after
/// login, for someone not logged in).
pub(crate) async fn not_found(_operator: Operator) -> AppError {
    AppError::NotFound
}

/// Middleware: redraws an error page inside the console's layout for a logged-in operator.
pub(crate) async fn in_console_layout(request: Request, next: Next) -> Response {
    let session = request.extensions().get::<Session>().cloned();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let Some(page) = response.extensions().get::<ErrorPage>().cloned() else {
        return response;
    };
    let Some(session) = session else {
        return response;
    };
    let Some((email, csrf_token)) = auth::peek(&session).await else {
        return response;
    };
    let back = back_to(&method, &path);
    let html = match (ConsoleErrorPage {
        nav: Nav {
            email,
            csrf_token,
            path,
        },
        page,
        back,
    })
    .render()
    {
        Ok(html) => html,
        Err(e) => {
            tracing::error!(error = %e, "console error page rendering failed");
            return response;
        }
    };
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(html))
}

/// Where the operator was: the page whose form was sent (a POST), else the stores list.
fn back_to(method: &Method, path: &str) -> (String, &'static str) {
    let stores = ("/console".to_owned(), "Back to connected stores");
    if method != Method::POST {
        return stores;
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["console", "installs", id, _] if id.bytes().all(|b| b.is_ascii_hexdigit()) => {
            (format!("/console/installs/{id}"), "Back to the store")
        }
        ["console", "api-keys", ..] => ("/console/api-keys".to_owned(), "Back to API keys"),
        ["console", "connections", kind] if kind.bytes().all(|b| b.is_ascii_lowercase()) => (
            format!("/console/connections/{kind}/new"),
            "Back to the form",
        ),
        _ => stores,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_leads_to_the_page_the_form_was_on() {
        let post = |p| back_to(&Method::POST, p).0;
        assert_eq!(
            post("/console/installs/ab12/test"),
            "/console/installs/ab12"
        );
        assert_eq!(
            post("/console/installs/ab12/revoke"),
            "/console/installs/ab12"
        );
        assert_eq!(post("/console/installs/<x>/revoke"), "/console");
        assert_eq!(post("/console/api-keys/4/revoke"), "/console/api-keys");
        assert_eq!(
            post("/console/connections/bol"),
            "/console/connections/bol/new"
        );
        assert_eq!(post("/console/connections/x<y"), "/console");
        assert_eq!(post("/console/logout"), "/console");
        assert_eq!(
            back_to(&Method::GET, "/console/installs/ab12").0,
            "/console"
        );
    }
}
