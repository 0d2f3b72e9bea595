//! `GET /api/v1/openapi.json`: the vendor API's OpenAPI 3.1 document, generated from the
//! handlers' annotations and the answers' types, so it cannot drift from the code. It is public:
//! it describes the API's shape and holds nothing else.

use axum::{
    Json,
    http::header,
    response::{IntoResponse, Response},
};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use super::{connections, events, installs, objects, problem::Problem, proxy};
use crate::{
    domain::{AuthKind, InstallStatus, OrderStatus, Platform},
    providers::{
        ConnectionRequest, bol::own::OwnCredentialsRequest,
        commercetools::connection::ProjectRequest, maropost::api_key::ApiKeyRequest,
        ordercloud::MarketplaceRequest,
    },
};

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "storelink vendor API",
        version = "1",
        description = "What storelink holds, for the add-on vendor's backend: connected stores \
                       (installs), their access tokens, calls to their platforms through \
                       storelink, and Maropost's order notifications as a feed. Every endpoint \
                       but this document takes `Authorization: Bearer <key>` (keys are made with \
                       `storelink api-key create NAME` or in the console). Errors are RFC 9457 \
                       problem details. A commercetools Merchant Center Custom Application \
                       reaches the API through the Merchant Center API gateway's \
                       `/proxy/forward-to` instead (security scheme `merchant_center`): it \
                       sees its own project's commercetools installs only (any other install \
                       answers 404) and cannot revoke."
    ),
    paths(
        installs::list,
        installs::get,
        installs::access_token,
        installs::revoke,
        connections::create,
        proxy::proxy,
        proxy_base,
        events::feed,
        document,
    ),
    components(schemas(
        Problem,
        objects::InstallObject,
        objects::InstallList,
        objects::AccessToken,
        objects::EventObject,
        objects::EventList,
        objects::RevokeRequest,
        ConnectionRequest,
        ApiKeyRequest,
        OwnCredentialsRequest,
        MarketplaceRequest,
        ProjectRequest,
        Platform,
        InstallStatus,
        AuthKind,
        OrderStatus,
    )),
    modifiers(&BearerKeys, &MerchantCenter),
    tags(
        (name = "installs", description = "Connected stores and their credentials"),
        (name = "proxy", description = "Calls to a store's platform, with its credentials"),
        (name = "events", description = "Maropost order notifications"),
        (name = "meta", description = "This document"),
    )
)]
pub struct ApiDoc;

/// The `api_key` security scheme: a bearer token.
struct BearerKeys;

impl Modify for BearerKeys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("slk_…")
                    .description(Some("An API key: `slk_` and 43 characters."))
                    .build(),
            ),
        );
    }
}

/// The `merchant_center` security scheme: a forward-to JWT from the commercetools Merchant
/// Center API gateway.
struct MerchantCenter;

impl Modify for MerchantCenter {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "merchant_center",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A request forwarded by the commercetools Merchant Center API gateway \
                         (`/proxy/forward-to`, for a Custom Application): \
                         `X-MC-API-Forward-To-Version` (`v1` or `v2`), \
                         `X-MC-API-Cloud-Identifier` (`gcp-au`, `gcp-eu`, `gcp-us`, `aws-fra`, \
                         `aws-ohio`) and the gateway's RS256 JWT as the bearer token, with `iss` \
                         the gateway of that cloud, `aud` storelink's public origin and the \
                         request's path, and the project in `{iss}/claims/project_key`. The \
                         caller sees the commercetools installs whose `account_id` is \
                         `{cloud}:{project_key}` only; other installs answer 404, revoking 403. \
                         Either Merchant Center header makes a request a forwarded one: a \
                         missing header or a token that does not verify answers 401.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The proxy on the install's API base URL itself (documented apart from the path form).
#[utoipa::path(
    method(get, post, put, patch, delete),
    path = "/api/v1/installs/{id}/proxy",
    tag = "proxy",
    description = "As `/api/v1/installs/{id}/proxy/{path}`, on the API base URL itself \
                   (Maropost's NetoAPI is one URL: send `NETOAPI_ACTION` and a JSON body here).",
    params(("id" = String, Path, description = "The install's id")),
    responses(
        (status = "default", description = "The platform's answer, whatever its status",
         content_type = "*/*"),
        super::responses::ProxyRefusals,
        super::responses::Common,
    ),
    security(("api_key" = []), ("merchant_center" = []))
)]
#[allow(dead_code)] // The route is `proxy::proxy`; this only documents it.
fn proxy_base() {}

/// This document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json"))
)]
pub async fn document() -> Response {
    (
        [(header::CACHE_CONTROL, "no-cache")],
        Json(ApiDoc::openapi()),
    )
        .into_response()
}
