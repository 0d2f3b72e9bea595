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

use super::{connections, endpoints, events, installs, objects, problem::Problem, proxy};
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
        endpoints::list,
        endpoints::create,
        endpoints::get,
        endpoints::update,
        endpoints::delete,
        endpoints::rotate_secret,
        endpoints::recover,
        endpoints::messages,
        endpoints::resend,
    ),
    components(schemas(
        Problem,
        objects::InstallObject,
        objects::InstallList,
        objects::AccessToken,
        objects::EventObject,
        objects::EventList,
        objects::SubscribedType,
        objects::RevokeRequest,
        HealthObject,
        HealthState,
        Reason,
        Platform,
        InstallStatus,
        AuthKind,
        OrderStatus,
        objects::EndpointObject,
        objects::EndpointList,
        objects::EndpointRequest,
        objects::EndpointChange,
        objects::EndpointCreated,
        objects::SecretObject,
        objects::RecoverRequest,
        objects::Recovered,
        objects::AttemptObject,
        objects::MessageObject,
        objects::MessageList,
        crate::domain::MessageStatus,
    )),
    modifiers(&BearerKeys),
    tags(
        (name = "installs", description = "Connected stores and their credentials"),
        (name = "proxy", description = "Calls to a store's platform, with its credentials"),
        (name = "events", description = "Order notifications"),
        (name = "meta", description = "This document"),
        (name = "endpoints", description = "Where notifications go, and what was sent there"),
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

/// The document with what the platforms add: each connection kind's request body, carrying
/// its `platform` (and `ConnectionRequest`, the one of them `POST /api/v1/connections` takes: a
/// `oneOf` of those named schemas with a `discriminator` on `platform`, the shape client
/// generators read as a tagged union), and their own parts (a gateway's security scheme).
/// Every operation then gets an id of its own (see [`unique_operation_ids`]).
pub(crate) fn with_platforms(
    mut doc: utoipa::openapi::OpenApi,
    platforms: &Registry,
) -> utoipa::openapi::OpenApi {
    let mut one_of = OneOfBuilder::new();
    let mut mapping = Vec::new();
    let components = doc.components.get_or_insert_with(Default::default);
    for (platform, kind) in platforms.connection_kinds() {
        let (name, schema) = kind.schema();
        components
            .schemas
            .insert(name.clone(), tagged(schema, platform.as_str()));
        let reference = utoipa::openapi::Ref::from_schema_name(name);
        mapping.push((platform.as_str().to_owned(), reference.ref_location.clone()));
        one_of = one_of.item(RefOr::Ref(reference));
    }
    let mut discriminator = utoipa::openapi::schema::Discriminator::new("platform");
    discriminator.mapping = mapping.into_iter().collect();
    components.schemas.insert(
        "ConnectionRequest".to_owned(),
        RefOr::T(Schema::OneOf(
            one_of
                .description(Some(
                    "A connection to add: `platform` says which kind, the other fields are that \
                     kind's.",
                ))
                .discriminator(Some(discriminator))
                .build(),
        )),
    );
    for driver in platforms.all() {
        driver.document(&mut doc);
    }
    refer_connection_request(&mut doc);
    unique_operation_ids(&mut doc);
    doc
}

/// `POST /api/v1/connections` takes `ConnectionRequest`, a schema made here at run time (the
/// handler's annotation can only say "an object"): its body refers to it, so generators give
/// the method the tagged union's variants as its argument.
fn refer_connection_request(doc: &mut utoipa::openapi::OpenApi) {
    let body = doc
        .paths
        .paths
        .get_mut("/api/v1/connections")
        .and_then(|item| item.post.as_mut())
        .and_then(|post| post.request_body.as_mut())
        .and_then(|body| body.content.get_mut("application/json"));
    if let Some(content) = body {
        content.schema = Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
            "ConnectionRequest",
        )));
    }
}

/// A connection kind's schema with its `platform` property (one value, required) added, so the
/// named schema is the whole request body: no `allOf` for a generator to merge.
fn tagged(schema: RefOr<Schema>, platform: &str) -> RefOr<Schema> {
    let platform_property = ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .enum_values(Some([platform]))
        .description(Some("Which kind of connection this is."))
        .build();
    match schema {
        RefOr::T(Schema::Object(mut object)) => {
            object.properties.insert(
                "platform".to_owned(),
                RefOr::T(Schema::Object(platform_property)),
            );
            if !object.required.iter().any(|r| r == "platform") {
                object.required.insert(0, "platform".to_owned());
            }
            RefOr::T(Schema::Object(object))
        }
        other => RefOr::T(Schema::AllOf(
            utoipa::openapi::schema::AllOfBuilder::new()
                .item(other)
                .item(
                    ObjectBuilder::new()
                        .property("platform", platform_property)
                        .required("platform"),
                )
                .build(),
        )),
    }
}

/// Gives every operation an id of its own, as OpenAPI requires (generators keep one method per
/// id): an id shared by several operations (a route documented for several methods, like the
/// proxy's) becomes `{id}_{method}`.
fn unique_operation_ids(doc: &mut utoipa::openapi::OpenApi) {
    use std::collections::HashMap;
    let mut seen: HashMap<String, usize> = HashMap::new();
    for item in doc.paths.paths.values_mut() {
        for (_, operation) in operations(item) {
            if let Some(id) = &operation.operation_id {
                *seen.entry(id.clone()).or_default() += 1;
            }
        }
    }
    for item in doc.paths.paths.values_mut() {
        for (method, operation) in operations(item) {
            if let Some(id) = &operation.operation_id
                && seen.get(id).copied().unwrap_or(0) > 1
            {
                operation.operation_id = Some(format!("{id}_{method}"));
            }
        }
    }
}

fn operations(
    item: &mut utoipa::openapi::path::PathItem,
) -> impl Iterator<Item = (&'static str, &mut utoipa::openapi::path::Operation)> {
    [
        ("get", item.get.as_mut()),
        ("put", item.put.as_mut()),
        ("post", item.post.as_mut()),
        ("delete", item.delete.as_mut()),
        ("options", item.options.as_mut()),
        ("head", item.head.as_mut()),
        ("patch", item.patch.as_mut()),
        ("trace", item.trace.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.map(|o| (method, o)))
}
