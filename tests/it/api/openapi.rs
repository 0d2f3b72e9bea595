//! `GET /api/v1/openapi.json`: a valid OpenAPI 3.1 document with every route, its parameters,
//! answers and the security scheme; and the routes it names answer as it says.

use super::*;

#[tokio::test]
async fn the_document_names_every_route_and_its_security() {
    let app = spawn_app().await;
    let response = backend()
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "the document is public");
    let doc: Value = response.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    for (route, methods) in [
        ("/api/v1/installs", &["get"][..]),
        ("/api/v1/installs/{id}", &["get"]),
        ("/api/v1/installs/{id}/access-token", &["post"]),
        ("/api/v1/installs/{id}/revoke", &["post"]),
        ("/api/v1/connections", &["post"]),
        (
            "/api/v1/installs/{id}/proxy",
            &["get", "post", "put", "patch", "delete"],
        ),
        (
            "/api/v1/installs/{id}/proxy/{path}",
            &["get", "post", "put", "patch", "delete"],
        ),
        ("/api/v1/events", &["get"]),
        ("/api/v1/openapi.json", &["get"]),
        ("/api/v1/endpoints", &["get", "post"]),
        ("/api/v1/endpoints/{id}", &["get", "patch", "delete"]),
        ("/api/v1/endpoints/{id}/rotate-secret", &["post"]),
        ("/api/v1/endpoints/{id}/recover", &["post"]),
        ("/api/v1/endpoints/{id}/messages", &["get"]),
        ("/api/v1/endpoints/{id}/messages/{msg}/resend", &["post"]),
    ] {
        let item = paths
            .get(route)
            .unwrap_or_else(|| panic!("{route} is documented"));
        for method in methods {
            let operation = &item[*method];
            assert!(operation.is_object(), "{method} {route}");
            if route != "/api/v1/openapi.json" {
                assert_eq!(
                    operation["security"][0]["api_key"],
                    serde_json::json!([]),
                    "{route}"
                );
                let responses = operation["responses"].as_object().unwrap();
                assert!(
                    responses.contains_key("401"),
                    "{method} {route} documents 401"
                );
                assert!(
                    responses.contains_key("429"),
                    "{method} {route} documents 429"
                );
            }
        }
    }
    assert_eq!(paths.len(), 15, "and nothing else");
    // Every operation has an id of its own (generators keep one method per id).
    let mut ids = Vec::new();
    for item in paths.values() {
        for operation in item.as_object().unwrap().values() {
            if let Some(id) = operation.get("operationId").and_then(Value::as_str) {
                ids.push(id.to_owned());
            }
        }
    }
    let count = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), count, "operationIds are unique: {ids:?}");
    assert!(count >= 26, "{count}");
    // A connection request is a tagged union generators read: named variants, each with its
    // `platform`, and a discriminator mapping each platform to its variant.
    let request = &doc["components"]["schemas"]["ConnectionRequest"];
    assert_eq!(request["discriminator"]["propertyName"], "platform");
    let mapping = request["discriminator"]["mapping"].as_object().unwrap();
    assert!(!mapping.is_empty());
    for (platform, reference) in mapping {
        let name = reference
            .as_str()
            .unwrap()
            .trim_start_matches("#/components/schemas/");
        let variant = &doc["components"]["schemas"][name];
        assert_eq!(
            variant["properties"]["platform"]["enum"][0],
            platform.as_str(),
            "{name}"
        );
        assert!(
            variant["required"]
                .as_array()
                .unwrap()
                .contains(&Value::from("platform")),
            "{name}"
        );
    }
    assert_eq!(
        paths["/api/v1/connections"]["post"]["requestBody"]["content"]["application/json"]["schema"]
            ["$ref"],
        "#/components/schemas/ConnectionRequest"
    );
    for item in request["oneOf"].as_array().unwrap() {
        assert!(item.get("$ref").is_some(), "each variant is named: {item}");
    }
    let scheme = &doc["components"]["securitySchemes"]["api_key"];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");
    let list = &paths["/api/v1/installs"]["get"];
    let params: Vec<&str> = list["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["platform", "status", "health", "limit", "cursor"]);
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let install = &schemas["InstallObject"]["properties"];
    for field in [
        "id",
        "platform",
        "status",
        "auth_kind",
        "store_domain",
        "account_id",
        "name",
        "scopes",
        "installed_at",
        "updated_at",
        "reason",
        "health",
    ] {
        assert!(
            install.get(field).is_some(),
            "the install object documents {field}"
        );
    }
    assert_eq!(
        schemas["InstallStatus"]["enum"],
        serde_json::json!(["active", "needs_attention", "revoked"])
    );
    assert_eq!(
        schemas["HealthState"]["enum"],
        serde_json::json!(["ok", "degraded", "unknown"])
    );
    assert_eq!(
        schemas["Reason"]["enum"],
        serde_json::json!([
            "refresh_rejected",
            "credentials_rejected",
            "rotation_lost",
            "client_rejected"
        ])
    );
    let text = doc.to_string();
    assert!(
        !text.contains("slk_") || text.contains("slk_…"),
        "no key in examples"
    );
}

#[tokio::test]
async fn answers_match_the_documented_statuses() {
    let app = spawn_app().await;
    let key = app.api_key("backend").await;
    let doc: Value = backend()
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let documented = |route: &str, method: &str, status: u16| {
        doc["paths"][route][method]["responses"]
            .as_object()
            .is_some_and(|r| r.contains_key(&status.to_string()) || r.contains_key("default"))
    };
    let id = "0123456789abcdef0123456789abcdef";
    for (method, route, path, with_key) in [
        (
            "get",
            "/api/v1/installs",
            "/api/v1/installs".to_owned(),
            true,
        ),
        (
            "get",
            "/api/v1/installs",
            "/api/v1/installs?limit=0".to_owned(),
            true,
        ),
        (
            "get",
            "/api/v1/installs/{id}",
            format!("/api/v1/installs/{id}"),
            true,
        ),
        (
            "post",
            "/api/v1/installs/{id}/access-token",
            format!("/api/v1/installs/{id}/access-token"),
            true,
        ),
        (
            "post",
            "/api/v1/installs/{id}/revoke",
            format!("/api/v1/installs/{id}/revoke"),
            false,
        ),
        (
            "get",
            "/api/v1/events",
            "/api/v1/events?after=x".to_owned(),
            true,
        ),
    ] {
        let mut request = backend().request(method.to_uppercase().parse().unwrap(), app.url(&path));
        if with_key {
            request = request.bearer_auth(&key);
        }
        let status = request.send().await.unwrap().status().as_u16();
        assert!(
            documented(route, method, status),
            "{method} {path} answered {status}, undocumented"
        );
    }
}
