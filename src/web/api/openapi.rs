//! `GET /api/v1/openapi.json`: the vendor API's OpenAPI 3.1 document, generated from the
//! handlers' annotations and the answers' types, so it cannot drift from the code. It is public:
//! it describes the API's shape and holds nothing else.

use axum::{
    Json,
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};
use utoipa::{
    Modify, OpenApi,
    openapi::{
        RefOr,
        schema::{ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type},
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};

use super::{connections, events, installs, objects, problem::Problem, proxy};
use crate::{
    domain::{AuthKind, HealthObject, HealthState, InstallStatus, OrderStatus, Platform, Reason},
    platforms::Registry,
    state::AppState,
};

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "storelink vendor API",
        version = "1",
        description = "What storelink holds, for the add-on vendor's backend: connected stores \
                       (installs), their access tokens, calls to their platforms through \
                       storelink, and the platforms' order notifications as a feed. Every \
                       endpoint but this document takes `Authorization: Bearer <key>` (keys are \
                       made with `storelink api-key create NAME` or in the console). Errors are \
                       RFC 9457 problem details. A platform's own gateway may forward its users' \
                       requests instead (see the security schemes): such a caller sees its own \
                       account's installs only (any other install answers 404) and cannot \
                       revoke."
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
        HealthObject,
        HealthState,
        Reason,
        Platform,
        InstallStatus,
        AuthKind,
        OrderStatus,
    )),
    modifiers(&BearerKeys),
    tags(
        (name = "installs", description = "Connected stores and their credentials"),
        (name = "proxy", description = "Calls to a store's platform, with its credentials"),
        (name = "events", description = "Order notifications"),
        (name = "meta", description = "This document"),
    )
)]
pub(crate) struct ApiDoc;

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

/// The proxy on the install's API base URL itself (documented apart from the path form).
#[utoipa::path(
    method(get, post, put, patch, delete),
    path = "/api/v1/installs/{id}/proxy",
    tag = "proxy",
    description = "As `/api/v1/installs/{id}/proxy/{path}`, on the API base URL itself (for a \
                   platform whose API is one URL: send its own headers and a JSON body here).",
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
pub(crate) async fn document(State(state): State<AppState>) -> Response {
    (
        [(header::CACHE_CONTROL, "no-cache")],
        Json(with_platforms(ApiDoc::openapi(), &state.platforms)),
    )
        .into_response()
}

/// The document with what the platforms add: each connection kind's request body (and
/// `ConnectionRequest`, the one of them `POST /api/v1/connections` takes, told apart by
/// `platform`), and their own parts (a gateway's security scheme).
pub(crate) fn with_platforms(
    mut doc: utoipa::openapi::OpenApi,
    platforms: &Registry,
) -> utoipa::openapi::OpenApi {
    let mut one_of = OneOfBuilder::new();
    let components = doc.components.get_or_insert_with(Default::default);
    for (platform, kind) in platforms.connection_kinds() {
        let (name, schema) = kind.schema();
        components.schemas.insert(name.clone(), schema);
        let tagged = utoipa::openapi::schema::AllOfBuilder::new()
            .item(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(name)))
            .item(
                ObjectBuilder::new()
                    .property(
                        "platform",
                        ObjectBuilder::new()
                            .schema_type(SchemaType::Type(Type::String))
                            .enum_values(Some([platform.as_str()])),
                    )
                    .required("platform"),
            );
        one_of = one_of.item(Schema::AllOf(tagged.build()));
    }
    components.schemas.insert(
        "ConnectionRequest".to_owned(),
        RefOr::T(Schema::OneOf(
            one_of
                .description(Some(
                    "A connection to add: `platform` says which kind, the other fields are that \
                     kind's.",
                ))
                .build(),
        )),
    );
    for driver in platforms.all() {
        driver.document(&mut doc);
    }
    doc
}
