//! Requests checked field by field, hosts by region, token answers.

use secrecy::SecretString;
use serde_json::Value;
use url::Url;

use super::{
    cloud::CloudIdentifier, connection::ProjectRequest, renewal::parse_token,
    settings::CommercetoolsConfig,
};

fn good() -> ProjectRequest {
    ProjectRequest {
        region: Some("gcp-eu".into()),
        project_key: Some("acme-shop".into()),
        client_id: Some("abcDEF123".into()),
        client_secret: Some(SecretString::from("s3cret")),
        ..ProjectRequest::default()
    }
}

#[test]
fn requests_are_checked_field_by_field() {
    let project = good().check().unwrap();
    assert_eq!(project.scope, "manage_project:acme-shop");
    let field = |r: ProjectRequest| r.check().err().map(|e| e.field);
    assert_eq!(
        field(ProjectRequest {
            region: Some("eu".into()),
            ..good()
        }),
        Some("region")
    );
    assert_eq!(
        field(ProjectRequest {
            region: Some("aws-cn".into()),
            ..good()
        }),
        Some("region")
    );
    for key in ["", "A", "Acme", "acme shop", "../x", &"a".repeat(37)] {
        assert_eq!(
            field(ProjectRequest {
                project_key: Some(key.into()),
                ..good()
            }),
            Some("project_key"),
            "{key}"
        );
    }
    assert_eq!(
        field(ProjectRequest {
            client_secret: None,
            ..good()
        }),
        Some("client_secret")
    );
    assert_eq!(
        field(ProjectRequest {
            scope: Some("manage_project:other-shop".into()),
            ..good()
        }),
        Some("scope"),
        "another project's scope"
    );
    let scoped = ProjectRequest {
        scope: Some("view_products:acme-shop  manage_orders:acme-shop:eu-store".into()),
        ..good()
    }
    .check()
    .unwrap();
    assert_eq!(
        scoped.scope,
        "view_products:acme-shop manage_orders:acme-shop:eu-store"
    );
}

#[test]
fn hosts_follow_the_region() {
    let public = Url::parse("http://localhost:3000").unwrap();
    let production = CommercetoolsConfig::resolve(None, None, false, &public).unwrap();
    assert_eq!(
        production
            .token_url(CloudIdentifier::AwsOhio)
            .unwrap()
            .as_str(),
        "https://auth.us-east-2.aws.commercetools.com/oauth/token"
    );
    assert_eq!(
        production
            .project_url(CloudIdentifier::GcpEu, "acme")
            .unwrap()
            .as_str(),
        "https://api.europe-west1.gcp.commercetools.com/acme"
    );
    let sandbox = CommercetoolsConfig::resolve(None, None, true, &public).unwrap();
    assert_eq!(
        sandbox.token_url(CloudIdentifier::GcpAu).unwrap().as_str(),
        "http://localhost:3000/sandbox/commercetools/auth/australia-southeast1.gcp/oauth/token"
    );
    assert!(
        CommercetoolsConfig::resolve(Some("not a url {region}"), None, false, &public).is_err()
    );
    assert!(
        CommercetoolsConfig::resolve(Some("ftp://{region}.example"), None, false, &public).is_err()
    );
}

#[test]
fn token_answers_are_checked() {
    let json = |v: Value| v.as_object().cloned().unwrap();
    let token = parse_token(
        &json(serde_json::json!({"access_token": "t", "expires_in": 172800, "scope": "manage_project:acme", "token_type": "Bearer"})),
        10,
    )
    .unwrap();
    assert_eq!(token.expires_at, 172_810);
    assert_eq!(token.scope.as_deref(), Some("manage_project:acme"));
    assert!(parse_token(&json(serde_json::json!({"expires_in": 5})), 0).is_err());
    assert!(
        parse_token(
            &json(serde_json::json!({"access_token": "t", "expires_in": "soon"})),
            0
        )
        .is_err()
    );
}
