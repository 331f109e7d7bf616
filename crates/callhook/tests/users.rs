//! Directory users: ingest, `GET users` paging and `GET users/{id}`.

mod common;

use common::*;
use serde_json::{json, Value};

fn user(i: u64) -> Value {
    json!({
        "id": uuid_like(0x05e4, i),
        "displayName": format!("User {i}"),
        "userPrincipalName": format!("user{i}@contoso.com"),
        "mail": format!("user{i}@contoso.com"),
    })
}

#[tokio::test]
async fn ingested_users_are_listed_across_pages() {
    let s = start().await;
    let token = s.token().await;
    let users: Vec<Value> = (0..250).map(user).collect();
    let a = s.post_users(&users).await;
    a.expect_status(200);
    assert_eq!(a.json["accepted"], 250);
    let first = s.get("/v1.0/users", &token).await;
    first.expect_status(200);
    assert_eq!(first.values().len(), 100);
    assert!(first.next_link().is_some());
    let (all, pages) = s.collect_pages("/v1.0/users", &token, &[]).await;
    assert_eq!(pages, 3);
    let mut got = ids(&all);
    got.sort();
    got.dedup();
    assert_eq!(got.len(), 250);
    let (_, pages) = s.collect_pages("/v1.0/users?$top=50", &token, &[]).await;
    assert_eq!(pages, 5, "$top sets the page size and travels in nextLink");
    s.stop().await;
}

#[tokio::test]
async fn user_by_id_returns_its_properties() {
    let s = start().await;
    let token = s.token().await;
    let id = uuid_like(0x05e4, 7);
    let put = s
        .ingest_raw(
            reqwest::Method::PUT,
            &s.ingest_url(&format!("users/{id}")),
            serde_json::to_vec(&user(7)).expect("json"),
        )
        .await;
    put.expect_status(200);
    let a = s.get(&format!("/v1.0/users/{id}"), &token).await;
    a.expect_status(200);
    assert_eq!(a.json["id"], id.as_str());
    assert_eq!(a.json["displayName"], "User 7");
    assert_eq!(a.json["userPrincipalName"], "user7@contoso.com");
    assert_eq!(a.json["mail"], "user7@contoso.com");
    assert!(a.json["@odata.context"]
        .as_str()
        .is_some_and(|c| c.ends_with("/v1.0/$metadata#users/$entity")));
    let sel = s
        .get(&format!("/v1.0/users/{id}?$select=displayName"), &token)
        .await;
    sel.expect_status(200);
    assert!(sel.json.get("mail").is_none());
    assert_eq!(sel.json["displayName"], "User 7");
    s.stop().await;
}

#[tokio::test]
async fn unknown_user_is_404() {
    let s = start().await;
    let token = s.token().await;
    let a = s
        .get(&format!("/v1.0/users/{}", uuid_like(0x05e4, 99)), &token)
        .await;
    assert_graph_error(&a, 404, "Request_ResourceNotFound");
    s.stop().await;
}

#[tokio::test]
async fn user_put_with_mismatched_id_is_400() {
    let s = start().await;
    let a = s
        .ingest_raw(
            reqwest::Method::PUT,
            &s.ingest_url(&format!("users/{}", uuid_like(0x05e4, 1))),
            serde_json::to_vec(&user(2)).expect("json"),
        )
        .await;
    assert_graph_error(&a, 400, "BadRequest");
    s.stop().await;
}
