//! Unknown paths and methods get Graph's error bodies.

mod common;

use common::*;

#[tokio::test]
async fn unknown_segment_under_a_version_is_400_naming_it() {
    let s = start().await;
    let token = s.token().await;
    for (path, seg) in [
        ("/v1.0/foo", "foo"),
        ("/beta/foo/bar", "foo"),
        ("/v1.0/communications/calls", "calls"),
    ] {
        let a = s.get(path, &token).await;
        assert_graph_error(&a, 400, "BadRequest");
        assert_eq!(
            a.message(),
            format!("Resource not found for the segment '{seg}'.")
        );
    }
    s.stop().await;
}

#[tokio::test]
async fn unknown_segment_without_token_is_401_first() {
    let s = start().await;
    let a = s.get("/v1.0/foo", "").await;
    assert_graph_error(&a, 401, "InvalidAuthenticationToken");
    s.stop().await;
}

#[tokio::test]
async fn path_outside_every_api_is_404_with_graph_error() {
    let s = start().await;
    let a = s.get("/nope", "").await;
    assert_graph_error(&a, 404, "NotFound");
    assert!(a
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/json")));
    s.stop().await;
}

#[tokio::test]
async fn wrong_method_is_405_with_graph_error() {
    let s = start().await;
    let token = s.token().await;
    for (method, path) in [
        (reqwest::Method::POST, "/v1.0/communications/callRecords"),
        (reqwest::Method::DELETE, "/beta/users"),
        (reqwest::Method::POST, "/healthz"),
        (reqwest::Method::GET, "/ingest/v1/tenants/x/callRecords"),
    ] {
        let resp = s
            .http
            .request(method.clone(), s.url(path))
            .bearer_auth(&token)
            .send()
            .await
            .expect("request");
        let a = Answer::from(resp).await;
        assert_eq!(a.status, 405, "{method} {path}: {}", a.text);
        assert!(
            a.json["error"]["code"].is_string(),
            "{method} {path}: {}",
            a.text
        );
        assert!(a.json["error"]["innerError"]["request-id"].is_string());
    }
    s.stop().await;
}

#[tokio::test]
async fn ingest_openapi_document_is_served() {
    let s = start().await;
    let a = s.get("/ingest/v1/openapi.json", "").await;
    a.expect_status(200);
    assert_eq!(a.json["openapi"], "3.1.0");
    assert!(a.json["paths"]["/ingest/v1/tenants/{tenantId}/callRecords/{id}"]["put"].is_object());
    s.stop().await;
}
