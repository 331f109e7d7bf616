//! `/subscriptions` over HTTP: Graph's statuses, codes and messages for every creation and update
//! rule, the validation handshake against real receivers on 127.0.0.1, permissions, quota,
//! duplicates, tenant and app isolation, and the notification queued when a record arrives.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use chrono::{Duration, Utc};
use serde_json::{json, Value};

use callhook::server::{self, ServeOptions};
use callhook_notify::NotifyConfig;
use common::{assert_graph_error, read_credentials, ts, uuid_like, Answer, TestServer};

// ---------------------------------------------------------------------------------------------
// A webhook receiver: the first path segment says how it answers validation requests.
//   /ok/…     echoes the decoded token (200, text/plain) and answers notifications 202
//   /fail/…   answers 500
//   /wrong/…  answers 200 with another body
//   /stall/…  answers after 11 seconds
//   /hold/…   validates like /ok but never answers a notification (it stays in the outbox)

#[derive(Clone, Default)]
struct Seen {
    /// Paths of validation requests, in arrival order.
    validations: Arc<Mutex<Vec<String>>>,
}

impl Seen {
    fn validations(&self) -> Vec<String> {
        self.validations
            .lock()
            .map(|v| v.clone())
            .unwrap_or_default()
    }
}

async fn receive(
    State(seen): State<Seen>,
    uri: Uri,
    Query(q): Query<HashMap<String, String>>,
) -> axum::response::Response {
    let path = uri.path().to_string();
    let mode = path.split('/').nth(1).unwrap_or("").to_string();
    let Some(token) = q.get("validationToken").cloned() else {
        if mode == "hold" {
            tokio::time::sleep(StdDuration::from_secs(3600)).await;
        }
        return StatusCode::ACCEPTED.into_response();
    };
    if let Ok(mut v) = seen.validations.lock() {
        v.push(path);
    }
    match mode.as_str() {
        "ok" | "hold" => (
            StatusCode::OK,
            [("content-type", "text/plain; charset=utf-8")],
            token,
        )
            .into_response(),
        "fail" => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        "wrong" => (StatusCode::OK, "not the token").into_response(),
        "stall" => {
            tokio::time::sleep(StdDuration::from_secs(11)).await;
            (StatusCode::OK, token).into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

struct Receiver {
    base: String,
    seen: Seen,
}

impl Receiver {
    async fn start() -> Receiver {
        let seen = Seen::default();
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let addr = listener.local_addr().expect("receiver addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            base: format!("http://{addr}"),
            seen,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

// ---------------------------------------------------------------------------------------------

async fn start_with(notify: NotifyConfig) -> TestServer {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = ServeOptions {
        notify,
        ..common::serve_options(dir.path()).await
    };
    let server = server::start(opts).await.expect("server starts");
    let creds = read_credentials(dir.path());
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("http client");
    TestServer {
        server,
        dir,
        creds,
        http,
    }
}

async fn start() -> TestServer {
    start_with(NotifyConfig::default()).await
}

fn data(name: &str) -> Value {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("fixture json")
}

fn in_minutes(m: i64) -> String {
    ts(Utc::now() + Duration::minutes(m))
}

/// The published callRecords creation example, pointed at `rx` and expiring in two hours.
fn example(rx: &Receiver) -> Value {
    let mut b = data("subscription-create-callrecords.json");
    b["notificationUrl"] = json!(rx.url("/ok/notify?tag=1"));
    b["lifecycleNotificationUrl"] = json!(rx.url("/ok/lifecycle"));
    b["expirationDateTime"] = json!(in_minutes(120));
    b
}

impl TestServer {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Answer {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(serde_json::to_vec(b).expect("json"));
        }
        Answer::from(req.send().await.expect("request")).await
    }

    async fn post_sub(&self, token: &str, body: &Value) -> Answer {
        self.send(
            reqwest::Method::POST,
            "/v1.0/subscriptions",
            token,
            Some(body),
        )
        .await
    }

    async fn patch_sub(&self, token: &str, id: &str, body: &Value) -> Answer {
        self.send(
            reqwest::Method::PATCH,
            &format!("/v1.0/subscriptions/{id}"),
            token,
            Some(body),
        )
        .await
    }

    async fn delete_sub(&self, token: &str, id: &str) -> Answer {
        self.send(
            reqwest::Method::DELETE,
            &format!("/v1.0/subscriptions/{id}"),
            token,
            None,
        )
        .await
    }

    async fn reauthorize(&self, token: &str, id: &str) -> Answer {
        self.send(
            reqwest::Method::POST,
            &format!("/v1.0/subscriptions/{id}/reauthorize"),
            token,
            None,
        )
        .await
    }
}

/// Asserts Graph's error with exactly this status, code and message.
#[track_caller]
fn assert_refused(a: &Answer, status: u16, code: &str, message: &str) {
    assert_graph_error(a, status, code);
    assert_eq!(a.message(), message, "body: {}", a.text);
}

fn id_of(a: &Answer) -> String {
    a.json["id"].as_str().expect("subscription id").to_string()
}

// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn create_returns_201_with_every_property_after_validating_both_urls() {
    let srv = start().await;
    let rx = Receiver::start().await;
    let token = srv.token().await;
    let mut body = example(&rx);
    // The same URL for both: each role still gets its own validation request.
    body["lifecycleNotificationUrl"] = body["notificationUrl"].clone();
    let a = srv.post_sub(&token, &body).await;
    a.expect_status(201);
    assert_eq!(
        a.json["@odata.context"],
        format!("{}/v1.0/$metadata#subscriptions/$entity", srv.base())
    );
    let s = &a.json;
    assert!(s["id"].as_str().is_some_and(|id| id.len() == 36));
    assert_eq!(s["resource"], "/communications/callRecords");
    assert_eq!(s["changeType"], "updated");
    assert_eq!(s["clientState"], "{Secret client state}");
    assert_eq!(s["notificationUrl"], rx.url("/ok/notify?tag=1"));
    assert_eq!(s["lifecycleNotificationUrl"], rx.url("/ok/notify?tag=1"));
    assert_eq!(s["applicationId"], srv.creds.client_id.as_str());
    assert_eq!(s["creatorId"], srv.creds.client_id.as_str());
    assert_eq!(s["latestSupportedTlsVersion"], "v1_2");
    assert_eq!(s["notificationContentType"], "application/json");
    assert_eq!(s["includeResourceData"], false);
    assert!(s["encryptionCertificate"].is_null());
    let expiry = s["expirationDateTime"].as_str().expect("expiry");
    assert_eq!(
        expiry.len(),
        "2023-02-28T00:00:00.0000000Z".len(),
        "{expiry}"
    );
    for key in [
        "notificationUrlAppId",
        "notificationQueryOptions",
        "vapidPublicKey",
    ] {
        assert!(s.get(key).is_some(), "{key} missing: {}", a.text);
    }
    assert_eq!(rx.seen.validations(), vec!["/ok/notify", "/ok/notify"]);
}

#[tokio::test]
async fn get_echoes_client_state_and_list_hides_it_on_both_versions() {
    let srv = start().await;
    let rx = Receiver::start().await;
    let token = srv.token().await;
    let id = id_of(srv.post_sub(&token, &example(&rx)).await.expect_status(201));

    let g = srv.get(&format!("/v1.0/subscriptions/{id}"), &token).await;
    g.expect_status(200);
    assert_eq!(g.json["clientState"], "{Secret client state}");
    assert_eq!(g.json["encryptionCertificate"], "");
    assert_eq!(g.json["encryptionCertificateId"], "");
    assert_eq!(
        g.json["@odata.context"],
        format!("{}/v1.0/$metadata#subscriptions/$entity", srv.base())
    );

    let l = srv.get("/beta/subscriptions", &token).await;
    l.expect_status(200);
    assert_eq!(
        l.json["@odata.context"],
        format!("{}/beta/$metadata#subscriptions", srv.base())
    );
    let items = l.values();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], id.as_str());
    assert!(items[0]["clientState"].is_null());
    assert_eq!(items[0]["resource"], "/communications/callRecords");
}

#[tokio::test]
async fn list_pages_with_sealed_skiptokens_and_shows_only_the_callers_app() {
    let srv = start().await;
    let rx = Receiver::start().await;
    let token = srv.token().await;
    let mut created = Vec::new();
    for (i, change) in ["created", "updated", "created,updated"].iter().enumerate() {
        let mut b = example(&rx);
        b["changeType"] = json!(change);
        b["clientState"] = json!(format!("state-{i}"));
        created.push(id_of(srv.post_sub(&token, &b).await.expect_status(201)));
    }
    let (items, pages) = srv
        .collect_pages(
            "/v1.0/subscriptions",
            &token,
            &[("prefer", "odata.maxpagesize=2")],
        )
        .await;
    assert_eq!(pages, 2);
    let mut got = common::ids(&items);
    got.sort();
    created.sort();
    assert_eq!(got, created);

    let first = srv
        .get_with(
            "/v1.0/subscriptions",
            &token,
            &[("prefer", "odata.maxpagesize=2")],
        )
        .await;
    let next = first.next_link().expect("nextLink");
    let forged = next.replace("skiptoken=", "skiptoken=x");
    assert_graph_error(&srv.get(&forged, &token).await, 400, "BadRequest");

    // Another app of the same tenant sees none of them, and cannot use the first app's token.
    let (_, other) = srv
        .app_with_roles(1, &[callhook_api::permissions::CALL_RECORDS_READ_ALL])
        .await;
    assert!(srv
        .get("/v1.0/subscriptions", &other)
        .await
        .values()
        .is_empty());
    assert_graph_error(&srv.get(&next, &other).await, 400, "BadRequest");
    let a = srv
        .get(&format!("/v1.0/subscriptions/{}", created[0]), &other)
        .await;
    assert_graph_error(&a, 404, "ResourceNotFound");
}

#[tokio::test]
async fn another_tenants_subscription_is_not_found() {
    let srv = start().await;
    let rx = Receiver::start().await;
    let token = srv.token().await;
    let id = id_of(srv.post_sub(&token, &example(&rx)).await.expect_status(201));
    let (tenant, client, secret) = srv.add_tenant(1).await;
    let foreign = srv.token_for(&tenant, &client, &secret).await;
    let path = format!("/v1.0/subscriptions/{id}");
    assert_graph_error(&srv.get(&path, &foreign).await, 404, "ResourceNotFound");
    assert_graph_error(
        &srv.delete_sub(&foreign, &id).await,
        404,
        "ResourceNotFound",
    );
    assert!(srv
        .get("/v1.0/subscriptions", &foreign)
        .await
        .values()
        .is_empty());
    srv.get(&path, &token).await.expect_status(200);
}

#[tokio::test]
async fn patch_renews_validates_again_and_returns_the_full_subscription() {
    let srv = start().await;
    let rx = Receiver::start().await;
    let token = srv.token().await;
    let id = id_of(srv.post_sub(&token, &example(&rx)).await.expect_status(201));
    assert_eq!(rx.seen.validations().len(), 2);

    let new_expiry = Utc::now() + Duration::minutes(3000);
    let a = srv
        .patch_sub(
            &token,
            &id,
            &json!({ "expirationDateTime": ts(new_expiry) }),
        )
        .await;
    a.expect_status(200);
    assert_eq!(a.json["id"], id.as_str());
    assert_eq!(a.json["clientState"], "{Secret client state}");
    let got = chrono::DateTime::parse_from_rfc3339(
        a.json["expirationDateTime"].as_str().expect("expiry"),
    )
    .expect("timestamp");
    assert!(
        (got.with_timezone(&Utc) - new_expiry)
            .num_milliseconds()
            .abs()
            < 1
    );
    assert_eq!(
        rx.seen.validations(),
        vec!["/ok/notify", "/ok/lifecycle", "/ok/notify", "/ok/lifecycle"]
    );

    // A new notification URL is validated before it is taken.
    let a = srv
        .patch_sub(
            &token,
            &id,
            &json!({ "notificationUrl": rx.url("/fail/x") }),
        )
        .await;
    assert_refused(&a, 400, "ValidationError", "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.");
    let a = srv
        .patch_sub(
            &token,
            &id,
            &json!({ "notificationUrl": rx.url("/ok/moved") }),
        )
        .await;
    a.expect_status(200);
    assert_eq!(a.json["notificationUrl"], rx.url("/ok/moved"));
    let g = srv.get(&format!("/v1.0/subscriptions/{id}"), &token).await;
    assert_eq!(g.json["notificationUrl"], rx.url("/ok/moved"));

    // Rotating the certificate fields needs no validation.
    let before = rx.seen.validations().len();
    let a = srv
        .patch_sub(&token, &id, &json!({ "encryptionCertificateId": "key-2" }))
        .await;
    a.expect_status(200);
    assert_eq!(a.json["encryptionCertificateId"], "key-2");
    assert_eq!(rx.seen.validations().len(), before);
}

#[tokio::test]
async fn patch_refuses_other_properties_a_new_lifecycle_url_and_a_too_far_expiry() {
    let srv = start().await;
    let rx = Receiver::start().await;
    let token = srv.token().await;
    let mut b = example(&rx);
    b.as_object_mut()
        .expect("object")
        .remove("lifecycleNotificationUrl");
    b["expirationDateTime"] = json!(in_minutes(50));
    let id = id_of(srv.post_sub(&token, &b).await.expect_status(201));

    let a = srv
        .patch_sub(&token, &id, &json!({ "clientState": "new" }))
        .await;
    assert_refused(&a, 400, "InvalidRequest", "Property 'clientState' cannot be updated. Only expirationDateTime, notificationUrl, encryptionCertificate and encryptionCertificateId can be changed.");
    let a = srv
        .patch_sub(
            &token,
            &id,
            &json!({ "lifecycleNotificationUrl": rx.url("/ok/l") }),
        )
        .await;
    assert_refused(
        &a,
        400,
        "InvalidRequest",
        "lifecycleNotificationUrl can only be set when the subscription is created.",
    );
    let a = srv
        .patch_sub(
            &token,
            &id,
            &json!({ "expirationDateTime": in_minutes(4300) }),
        )
        .await;
    assert_refused(
        &a,
        400,
        "ExtensionError",
        "Subscription expiration can only be 4230 minutes in the future.",
    );
    let a = srv
        .patch_sub(
            &token,
            &id,
            &json!({ "expirationDateTime": in_minutes(120) }),
        )
        .await;
    assert_refused(&a, 400, "InvalidRequest", "lifecycleNotificationUrl is required for subscription renewal on this resource when the expirationDateTime value exceeds 1 hour");
}

#[tokio::test]
async fn delete_answers_204_and_the_subscription_is_gone_everywhere() {
    let srv = start().await;
    let rx = Receiver::start().await;
    let token = srv.token().await;
    let id = id_of(srv.post_sub(&token, &example(&rx)).await.expect_status(201));
    let a = srv.delete_sub(&token, &id).await;
    a.expect_status(204);
    assert!(a.text.is_empty());
    let path = format!("/v1.0/subscriptions/{id}");
    assert_graph_error(&srv.get(&path, &token).await, 404, "ResourceNotFound");
    let a = srv
        .patch_sub(
            &token,
            &id,
            &json!({ "expirationDateTime": in_minutes(100) }),
        )
        .await;
    assert_graph_error(&a, 404, "ResourceNotFound");
    assert_graph_error(&srv.reauthorize(&token, &id).await, 404, "ResourceNotFound");
    assert_graph_error(&srv.delete_sub(&token, &id).await, 404, "ResourceNotFound");
    assert!(srv
        .get("/v1.0/subscriptions", &token)
        .await
        .values()
        .is_empty());
}

#[tokio::test]
async fn an_expired_subscription_is_not_found() {
    let srv = start().await;
    let rx = Receiver::start().await;
    let token = srv.token().await;
    let id = id_of(srv.post_sub(&token, &example(&rx)).await.expect_status(201));
    srv.server.state.clock.advance(Duration::minutes(121));
    let token = srv.token().await;
    let a = srv.get(&format!("/v1.0/subscriptions/{id}"), &token).await;
    assert_graph_error(&a, 404, "ResourceNotFound");
}

#[tokio::test]
async fn reauthorize_answers_204_revalidates_and_keeps_the_expiry() {
    let srv = start().await;
    let rx = Receiver::start().await;
    let token = srv.token().await;
    let created = srv.post_sub(&token, &example(&rx)).await;
    let id = id_of(created.expect_status(201));
    let store = &srv.server.state.store;
    let before = store
        .subscription(srv.tenant(), &id)
        .await
        .expect("store")
        .expect("row");
    srv.server.state.clock.advance(Duration::minutes(30));
    let token = srv.token().await;
    let a = srv.reauthorize(&token, &id).await;
    a.expect_status(204);
    assert_eq!(rx.seen.validations().len(), 4);
    let after = store
        .subscription(srv.tenant(), &id)
        .await
        .expect("store")
        .expect("row");
    assert_eq!(after.expiration, before.expiration);
    assert!(after.authorized_until >= before.authorized_until + Duration::minutes(29));
    let g = srv.get(&format!("/v1.0/subscriptions/{id}"), &token).await;
    assert_eq!(
        g.json["expirationDateTime"],
        created.json["expirationDateTime"]
    );
}

#[tokio::test]
async fn creation_rules_answer_graphs_errors() {
    let srv = start().await;
    let rx = Receiver::start().await;
    let token = srv.token().await;
    let with = |key: &str, value: Value| {
        let mut b = example(&rx);
        b[key] = value;
        b
    };
    let without = |key: &str| {
        let mut b = example(&rx);
        b.as_object_mut().expect("object").remove(key);
        b
    };

    let a = srv.post_sub(&token, &without("expirationDateTime")).await;
    assert_refused(
        &a,
        400,
        "InvalidRequest",
        "expirationDateTime is a required property for subscription creation",
    );

    let too_far = data("error-expiration-too-far.json");
    let a = srv
        .post_sub(&token, &with("expirationDateTime", json!(in_minutes(4240))))
        .await;
    assert_refused(
        &a,
        400,
        too_far["error"]["code"].as_str().expect("code"),
        too_far["error"]["message"].as_str().expect("message"),
    );

    let a = srv
        .post_sub(&token, &without("lifecycleNotificationUrl"))
        .await;
    assert_refused(&a, 400, "InvalidRequest", "lifecycleNotificationUrl is required for subscription creation on this resource when the expirationDateTime value exceeds 1 hour");

    let a = srv
        .post_sub(&token, &with("clientState", json!("c".repeat(129))))
        .await;
    assert_refused(
        &a,
        400,
        "InvalidRequest",
        "clientState must be at most 128 characters long.",
    );

    let a = srv
        .post_sub(&token, &with("changeType", json!("created,deleted")))
        .await;
    assert_refused(&a, 400, "InvalidRequest", "ChangeType 'deleted' is not supported for resource 'communications/callRecords'. Supported change types: created, updated.");

    let resource = "/communications/callRecords/getDirectRoutingCalls(fromDateTime=2019-11-01,toDateTime=2019-12-01)";
    let a = srv
        .post_sub(&token, &with("resource", json!(resource)))
        .await;
    assert_graph_error(&a, 400, "InvalidRequest");
    assert!(
        a.message().starts_with(&format!(
            "Resource '{resource}' is not supported for subscriptions."
        )),
        "{}",
        a.text
    );
    let a = srv
        .post_sub(
            &token,
            &with(
                "resource",
                json!("communications/onlineMeetings/getAllTranscripts"),
            ),
        )
        .await;
    assert_graph_error(&a, 400, "InvalidRequest");

    let a = srv
        .post_sub(&token, &with("includeResourceData", json!(true)))
        .await;
    assert_refused(&a, 400, "InvalidRequest", "includeResourceData is not supported for resource 'communications/callRecords': call-record change notifications carry no resource data (basic notifications only).");

    let a = srv
        .post_sub(&token, &with("vapidPublicKey", json!("BASE64KEY")))
        .await;
    assert_refused(&a, 400, "InvalidRequest", "Property 'vapidPublicKey' is only supported on Web Push subscriptions, not on webhook subscriptions.");

    let a = srv
        .post_sub(
            &token,
            &with("notificationURL", json!("https://x.example/")),
        )
        .await;
    assert_refused(&a, 400, "InvalidRequest", "Could not process subscription creation payload. Are all property names spelled and camelCased properly? Unknown property 'notificationURL'.");

    let a = srv
        .post_sub(
            &token,
            &with("notificationUrl", json!("http://hooks.example.com/notify")),
        )
        .await;
    assert_refused(
        &a,
        400,
        "InvalidRequest",
        "NotificationUrl scheme='http' is not supported.",
    );
    let a = srv
        .post_sub(
            &token,
            &with(
                "lifecycleNotificationUrl",
                json!("http://hooks.example.com/l"),
            ),
        )
        .await;
    assert_refused(
        &a,
        400,
        "InvalidRequest",
        "LifecycleNotificationUrl scheme='http' is not supported.",
    );

    // Nothing was stored and no receiver was called for any refused request.
    assert!(srv
        .get("/v1.0/subscriptions", &token)
        .await
        .values()
        .is_empty());
    assert!(rx.seen.validations().is_empty());
}

#[tokio::test]
async fn an_expiry_under_45_minutes_is_raised_to_45() {
    let srv = start().await;
    let rx = Receiver::start().await;
    let token = srv.token().await;
    let mut b = example(&rx);
    b["expirationDateTime"] = json!(in_minutes(5));
    let before = Utc::now();
    let a = srv.post_sub(&token, &b).await;
    a.expect_status(201);
    let got = chrono::DateTime::parse_from_rfc3339(
        a.json["expirationDateTime"].as_str().expect("expiry"),
    )
    .expect("timestamp")
    .with_timezone(&Utc);
    assert!(got >= before + Duration::minutes(45) && got <= Utc::now() + Duration::minutes(45));
}

#[tokio::test]
async fn failed_validations_answer_graphs_errors_and_store_nothing() {
    let srv = start_with(NotifyConfig {
        validation_timeout: StdDuration::from_secs(1),
        ..NotifyConfig::default()
    })
    .await;
    let rx = Receiver::start().await;
    let token = srv.token().await;

    let not_200 = data("error-validation.json");
    let mut b = example(&rx);
    b["notificationUrl"] = json!(rx.url("/fail/notify"));
    let a = srv.post_sub(&token, &b).await;
    assert_refused(
        &a,
        400,
        not_200["error"]["code"].as_str().expect("code"),
        not_200["error"]["message"].as_str().expect("message"),
    );

    b["notificationUrl"] = json!(rx.url("/wrong/notify"));
    let a = srv.post_sub(&token, &b).await;
    assert_refused(&a, 400, "ValidationError", "Subscription validation request failed. Response must exactly match validationToken query parameter.");

    let timed_out = data("error-validation-timeout.json");
    b["notificationUrl"] = json!(rx.url("/stall/notify"));
    let started = std::time::Instant::now();
    let a = srv.post_sub(&token, &b).await;
    assert_refused(
        &a,
        400,
        timed_out["error"]["code"].as_str().expect("code"),
        timed_out["error"]["message"].as_str().expect("message"),
    );
    assert!(started.elapsed() < StdDuration::from_secs(5));

    // The lifecycle URL is validated on its own: a good notification URL does not save it.
    b["notificationUrl"] = json!(rx.url("/ok/notify"));
    b["lifecycleNotificationUrl"] = json!(rx.url("/fail/lifecycle"));
    let a = srv.post_sub(&token, &b).await;
    assert_graph_error(&a, 400, "ValidationError");
    assert_eq!(
        rx.seen.validations(),
        vec![
            "/fail/notify",
            "/wrong/notify",
            "/stall/notify",
            "/ok/notify",
            "/fail/lifecycle"
        ]
    );
    assert!(srv
        .get("/v1.0/subscriptions", &token)
        .await
        .values()
        .is_empty());
}

#[tokio::test]
async fn an_app_without_call_records_permission_gets_graphs_403() {
    let srv = start().await;
    let rx = Receiver::start().await;
    let (_, token) = srv
        .app_with_roles(2, &[callhook_api::permissions::USER_READ_ALL])
        .await;
    let expected = data("error-callrecords-subscription-forbidden.json");
    let a = srv.post_sub(&token, &example(&rx)).await;
    assert_refused(
        &a,
        403,
        expected["error"]["code"].as_str().expect("code"),
        expected["error"]["message"].as_str().expect("message"),
    );
    assert!(rx.seen.validations().is_empty());
}

#[tokio::test]
async fn the_tenant_quota_and_duplicates_are_refused() {
    let srv = start_with(NotifyConfig {
        call_record_quota: 2,
        ..NotifyConfig::default()
    })
    .await;
    let rx = Receiver::start().await;
    let token = srv.token().await;
    let first = id_of(srv.post_sub(&token, &example(&rx)).await.expect_status(201));

    // Same app, resource (however spelled) and change type: 409 naming the existing one.
    let mut dup = example(&rx);
    dup["resource"] = json!("communications/callRecords");
    let a = srv.post_sub(&token, &dup).await;
    assert_refused(
        &a,
        409,
        "ExtensionError",
        &format!("Subscription Id {first} already exists for the requested combination"),
    );

    let mut second = example(&rx);
    second["changeType"] = json!("created");
    srv.post_sub(&token, &second).await.expect_status(201);
    let mut third = example(&rx);
    third["changeType"] = json!("created,updated");
    let a = srv.post_sub(&token, &third).await;
    assert_graph_error(&a, 403, "ExtensionError");
    assert!(
        a.message().contains("limit of 2 subscriptions"),
        "{}",
        a.text
    );

    // Deleting one frees a place.
    srv.delete_sub(&token, &first).await.expect_status(204);
    srv.post_sub(&token, &third).await.expect_status(201);
}

#[tokio::test]
async fn a_participant_filtered_subscription_is_accepted() {
    let srv = start().await;
    let rx = Receiver::start().await;
    let token = srv.token().await;
    let mut b = example(&rx);
    let resource = "/communications/callRecords?$filter=participants/any(p:p/id eq 'a1') or participants/any(p:p/id eq 'b2')";
    b["resource"] = json!(resource);
    let a = srv.post_sub(&token, &b).await;
    a.expect_status(201);
    assert_eq!(a.json["resource"], resource);
    let row = srv
        .server
        .state
        .store
        .subscription(srv.tenant(), &id_of(&a))
        .await
        .expect("store")
        .expect("row");
    assert_eq!(row.participant_filter, vec!["a1", "b2"]);
}

#[tokio::test]
async fn an_ingested_record_queues_a_notification_for_the_subscription() {
    let srv = start().await;
    let rx = Receiver::start().await;
    let token = srv.token().await;
    let mut b = example(&rx);
    // The receiver never answers deliveries, so the notification stays in the outbox.
    b["notificationUrl"] = json!(rx.url("/hold/notify"));
    b["changeType"] = json!("created");
    srv.post_sub(&token, &b).await.expect_status(201);
    let store = &srv.server.state.store;
    assert_eq!(store.outbox_len().await.expect("outbox"), 0);
    let id = uuid_like(0x5b5_0000, 1);
    let a = srv.put_record(&id, &common::record(&id)).await;
    assert!(a.status.is_success(), "{}", a.text);
    assert_eq!(store.outbox_len().await.expect("outbox"), 1);
}
