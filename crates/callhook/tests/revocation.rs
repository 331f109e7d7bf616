//! A permission revoked while a subscription lives: its change notifications stop, the
//! subscriber is told (`reauthorizationRequired`, then `subscriptionRemoved`), the subscription
//! is gone once told, and reauthorizing answers 403.

mod common;
mod webhook;

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use common::*;
use webhook::Webhook;

async fn admin(s: &TestServer, method: Method, path: &str, body: Option<Value>) -> Answer {
    let mut req = s
        .http
        .request(method, format!("{}/_callhook/admin{path}", s.base()))
        .bearer_auth(&s.creds.ingest_key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    Answer::from(req.send().await.expect("admin request")).await
}

#[tokio::test]
async fn revoking_the_permission_stops_the_subscription_as_graph_does() {
    let s = start().await;
    let tenant = s.tenant().to_string();
    let created = admin(
        &s,
        Method::POST,
        &format!("/tenants/{tenant}/applications"),
        Some(json!({"displayName": "watcher", "roles": ["CallRecords.Read.All"]})),
    )
    .await;
    created.expect_status(201);
    let app = created.json["appId"].as_str().expect("appId").to_string();
    let secret = created.json["secretText"]
        .as_str()
        .expect("secret")
        .to_string();
    let token = s.token_for(&tenant, &app, &secret).await;

    let mut hook = Webhook::start().await;
    let sub = s
        .http
        .post(s.url("/v1.0/subscriptions"))
        .bearer_auth(&token)
        .json(&json!({
            "changeType": "created",
            "notificationUrl": hook.url("/notify"),
            "lifecycleNotificationUrl": hook.url("/lifecycle"),
            "resource": "communications/callRecords",
            "expirationDateTime": ts(chrono::Utc::now() + chrono::Duration::hours(2)),
            "clientState": "watching",
        }))
        .send()
        .await
        .expect("subscribe");
    assert_eq!(sub.status(), 201);
    let sub: Value = sub.json().await.expect("subscription");
    let id = sub["id"].as_str().expect("id").to_string();

    // Delivery is held while the revocation happens, so the subscription is still there to
    // reauthorize.
    let pause = s
        .http
        .post(s.url("/_callhook/delivery/pause"))
        .bearer_auth(&s.creds.ingest_key)
        .send()
        .await
        .expect("pause");
    assert_eq!(pause.status(), 204);
    admin(
        &s,
        Method::DELETE,
        &format!("/tenants/{tenant}/applications/{app}/roles/CallRecords.Read.All"),
        None,
    )
    .await
    .expect_status(200);

    // Reauthorizing with the old token (its roles are those it was issued with) is refused.
    let again = s
        .http
        .post(s.url(&format!("/v1.0/subscriptions/{id}/reauthorize")))
        .bearer_auth(&token)
        .send()
        .await
        .expect("reauthorize");
    assert_eq!(again.status(), 403);
    let body: Value = again.json().await.expect("error body");
    assert_eq!(body["error"]["code"], "ExtensionError");

    // A record stored after the revocation is not delivered: the lifecycle notices come, in
    // Graph's order, and nothing else.
    let rec = uuid_like(0x7e0_0001, 1);
    s.put_record(&rec, &record(&rec)).await.expect_status(201);
    let resume = s
        .http
        .post(s.url("/_callhook/delivery/resume"))
        .bearer_auth(&s.creds.ingest_key)
        .send()
        .await
        .expect("resume");
    assert_eq!(resume.status(), 204);
    hook.wait_until(
        Duration::from_secs(20),
        || {},
        |posts| {
            posts
                .iter()
                .flat_map(|p| p.items())
                .any(|i| i["lifecycleEvent"] == "subscriptionRemoved")
        },
    )
    .await;
    let events: Vec<String> = hook
        .items()
        .iter()
        .map(|(i, p)| {
            assert!(
                p.path.starts_with("/lifecycle"),
                "only lifecycle posts: {p:?}"
            );
            assert_eq!(i["subscriptionId"], id.as_str());
            assert_eq!(i["clientState"], "watching");
            i["lifecycleEvent"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    assert_eq!(events, ["reauthorizationRequired", "subscriptionRemoved"]);

    // Once told, it is gone.
    let mut gone = false;
    for _ in 0..100 {
        let a = s.get(&format!("/v1.0/subscriptions/{id}"), &token).await;
        if a.status == 404 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        gone,
        "the subscription is removed after subscriptionRemoved"
    );
}
