//! The emulator's controls under `/_callhook/` and the `/metrics` endpoint.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use common::*;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use callhook::server;

/// A webhook that answers validation requests and forwards every notification body.
async fn webhook() -> (String, mpsc::UnboundedReceiver<Value>) {
    let (tx, rx) = mpsc::unbounded_channel::<Value>();
    async fn handle(
        State(tx): State<mpsc::UnboundedSender<Value>>,
        Query(q): Query<HashMap<String, String>>,
        body: String,
    ) -> axum::response::Response {
        if let Some(token) = q.get("validationToken") {
            return (
                StatusCode::OK,
                [("content-type", "text/plain")],
                token.clone(),
            )
                .into_response();
        }
        let _ = tx.send(serde_json::from_str(&body).unwrap_or(Value::Null));
        StatusCode::ACCEPTED.into_response()
    }
    let app = axum::Router::new().fallback(handle).with_state(tx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), rx)
}

async fn start_manual() -> TestServer {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = common::serve_options(dir.path()).await;
    opts.api.manual_clock = true;
    let server = server::start(opts).await.expect("server starts");
    let creds = read_credentials(dir.path());
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    TestServer {
        server,
        dir,
        creds,
        http,
    }
}

async fn control(
    s: &TestServer,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Answer {
    let mut req = s
        .http
        .request(method, format!("{}{path}", s.server.base_url))
        .bearer_auth(&s.creds.ingest_key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    Answer::from(req.send().await.expect("request")).await
}

async fn subscribe(s: &TestServer, hook: &str) -> String {
    let token = s.token().await;
    let body = json!({
        "changeType": "created,updated",
        "notificationUrl": format!("{hook}/notify"),
        "lifecycleNotificationUrl": format!("{hook}/lifecycle"),
        "resource": "/communications/callRecords",
        "expirationDateTime": ts(chrono::Utc::now() + chrono::Duration::hours(2)),
        "clientState": "secret",
    });
    let resp = s
        .http
        .post(format!("{}/v1.0/subscriptions", s.server.base_url))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .expect("create");
    let a = Answer::from(resp).await;
    assert_eq!(a.status, 201, "{}", a.text);
    a.json["id"].as_str().expect("id").to_string()
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Value>) -> Value {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("a POST arrives")
        .expect("webhook alive")
}

#[tokio::test]
async fn controls_need_the_ingest_key() {
    let s = start().await;
    let resp = s
        .http
        .get(format!("{}/_callhook/clock", s.server.base_url))
        .send()
        .await
        .expect("request");
    let a = Answer::from(resp).await;
    assert_eq!(a.status, 401);
    assert_eq!(a.json["error"]["code"], "InvalidAuthenticationToken");
    s.stop().await;
}

#[tokio::test]
async fn the_clock_moves_only_in_manual_mode() {
    let s = start().await;
    let a = control(
        &s,
        reqwest::Method::POST,
        "/_callhook/clock/advance",
        Some(json!({ "hours": 1 })),
    )
    .await;
    assert_eq!(a.status, 409, "{}", a.text);
    s.stop().await;

    let m = start_manual().await;
    let before = m.server.state.clock.now();
    let a = control(
        &m,
        reqwest::Method::POST,
        "/_callhook/clock/advance",
        Some(json!({ "hours": 5 })),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert!(m.server.state.clock.now() - before >= chrono::Duration::hours(5));
    assert_eq!(a.json["manual"], true);
    let back = control(
        &m,
        reqwest::Method::POST,
        "/_callhook/clock/advance",
        Some(json!({ "seconds": -5 })),
    )
    .await;
    assert_eq!(back.status, 400, "the clock never goes back");
    m.stop().await;
}

/// Advancing by ten years at a time used to overflow the clock (a panic, then empty replies
/// with `/healthz` still 200). Past the last instant Graph's timestamps can write, the advance
/// is refused with Graph's 400 and the server goes on serving.
#[tokio::test]
async fn the_clock_refuses_to_move_past_what_the_server_can_serve() {
    let m = start_manual().await;
    let decade = json!({ "hours": 87_600 });
    let mut refused = None;
    for _ in 0..1_000 {
        let a = control(
            &m,
            reqwest::Method::POST,
            "/_callhook/clock/advance",
            Some(decade.clone()),
        )
        .await;
        if a.status != 200 {
            refused = Some(a);
            break;
        }
    }
    let refused = refused.expect("the clock stops before year 10000");
    assert_graph_error(&refused, 400, "BadRequest");
    assert!(
        refused.message().contains("9999-01-01T00:00:00Z"),
        "{}",
        refused.text
    );
    // Again and again: still a 400, never a panic.
    for _ in 0..5 {
        let a = control(
            &m,
            reqwest::Method::POST,
            "/_callhook/clock/advance",
            Some(decade.clone()),
        )
        .await;
        assert_graph_error(&a, 400, "BadRequest");
    }
    let now = control(&m, reqwest::Method::GET, "/_callhook/clock", None).await;
    assert_eq!(now.status, 200, "{}", now.text);
    assert!(
        now.json["now"].as_str().unwrap_or("").starts_with("99"),
        "{}",
        now.text
    );
    // Requests that read the clock still get answers, and the server says it is healthy.
    let token = m.token().await;
    let list = m.get("/v1.0/communications/callRecords", &token).await;
    assert!(list.status.as_u16() < 500, "{}", list.text);
    let health = m.http.get(m.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    m.stop().await;
}

#[tokio::test]
async fn attempts_are_listed_and_lifecycle_events_fire_on_demand() {
    let s = start().await;
    let (hook, mut rx) = webhook().await;
    let id = subscribe(&s, &hook).await;
    s.put_record(
        "0c000000-0000-4000-8000-000000000001",
        &RecordBuilder::new("0c000000-0000-4000-8000-000000000001").build(),
    )
    .await;
    let body = next(&mut rx).await;
    assert_eq!(body["value"][0]["subscriptionId"], id.as_str());

    let attempts = loop {
        let a = control(
            &s,
            reqwest::Method::GET,
            &format!("/_callhook/subscriptions/{id}/attempts"),
            None,
        )
        .await;
        assert_eq!(a.status, 200);
        if a.json["value"].as_array().is_some_and(|v| !v.is_empty()) {
            break a.json;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let first = &attempts["value"][0];
    assert_eq!(first["outcome"], "delivered");
    assert_eq!(first["status"], 202);
    assert!(first["url"].as_str().unwrap_or("").ends_with("/notify"));

    let fired = control(
        &s,
        reqwest::Method::POST,
        &format!("/_callhook/subscriptions/{id}/lifecycle"),
        Some(json!({ "lifecycleEvent": "subscriptionRemoved" })),
    )
    .await;
    assert_eq!(fired.status, 202, "{}", fired.text);
    let body = next(&mut rx).await;
    assert_eq!(body["value"][0]["lifecycleEvent"], "subscriptionRemoved");
    assert_eq!(body["value"][0]["clientState"], "secret");
    // Once told, the subscription is gone.
    let token = s.token().await;
    loop {
        let a = s.get(&format!("/v1.0/subscriptions/{id}"), &token).await;
        if a.status == 404 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let bad = control(
        &s,
        reqwest::Method::POST,
        "/_callhook/subscriptions/nope/lifecycle",
        Some(json!({ "lifecycleEvent": "missed" })),
    )
    .await;
    assert_eq!(bad.status, 404);
    s.stop().await;
}

#[tokio::test]
async fn metrics_are_served_in_prometheus_text_format() {
    let s = start().await;
    let resp = s
        .http
        .get(format!("{}/metrics", s.server.base_url))
        .send()
        .await
        .expect("metrics");
    assert_eq!(resp.status(), 200);
    assert!(resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .starts_with("text/plain"));
    let text = resp.text().await.expect("body");
    for name in [
        "callhook_notifications_queued 0",
        "callhook_notifications_delivered_total 0",
        "callhook_notifications_retried_total",
        "callhook_notifications_dropped_total",
        "callhook_notification_delivery_latency_seconds_bucket{le=\"+Inf\"} 0",
    ] {
        assert!(text.contains(name), "{name} missing in:\n{text}");
    }
    s.stop().await;
}

#[tokio::test]
async fn paused_delivery_queues_and_resuming_delivers_the_backlog_in_order() {
    let s = start().await;
    let (hook, mut rx) = webhook().await;
    let id = subscribe(&s, &hook).await;
    let paused = control(&s, reqwest::Method::POST, "/_callhook/delivery/pause", None).await;
    assert_eq!(paused.status, 204, "{}", paused.text);
    let ids: Vec<String> = (1..=3)
        .map(|i| format!("0c000000-0000-4000-8000-00000000010{i}"))
        .collect();
    for r in &ids {
        s.put_record(r, &RecordBuilder::new(r).build()).await;
    }
    let state = control(&s, reqwest::Method::GET, "/_callhook/delivery", None).await;
    assert_eq!(state.status, 200);
    assert_eq!(state.json["paused"], true);
    assert_eq!(state.json["queued"], 3);
    let node = state.json["node"].as_str().unwrap_or("");
    assert_eq!(node.len(), 36, "the node's lease-holder id: {}", state.json);

    let resumed = control(
        &s,
        reqwest::Method::POST,
        "/_callhook/delivery/resume",
        None,
    )
    .await;
    assert_eq!(resumed.status, 204);
    let mut got = Vec::new();
    while got.len() < ids.len() {
        let body = next(&mut rx).await;
        for item in body["value"].as_array().into_iter().flatten() {
            assert_eq!(item["subscriptionId"], id.as_str());
            got.push(
                item["resourceData"]["id"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            );
        }
    }
    assert_eq!(got, ids, "the backlog arrives whole and in order");
    let state = control(&s, reqwest::Method::GET, "/_callhook/delivery", None).await;
    assert_eq!(state.json["paused"], false);
    s.stop().await;
}

#[tokio::test]
async fn attempts_page_with_a_next_link() {
    let s = start().await;
    let now = chrono::Utc::now();
    let made: Vec<callhook_store::DeliveryAttempt> = (0..5)
        .map(|i| callhook_store::DeliveryAttempt {
            subscription_id: "paged-subscription".into(),
            notification_ids: vec![format!("n-{i}")],
            url: "http://127.0.0.1:1/notify".into(),
            at: now,
            status: Some(500),
            latency_ms: 1,
            outcome: "retry".into(),
            error: None,
        })
        .collect();
    s.server.state.store.record_attempts(&made).await.unwrap();

    let mut seen = Vec::new();
    let mut path = "/_callhook/subscriptions/paged-subscription/attempts?limit=2".to_string();
    for _ in 0..3 {
        let a = control(&s, reqwest::Method::GET, &path, None).await;
        assert_eq!(a.status, 200, "{}", a.text);
        for v in a.json["value"].as_array().expect("value") {
            seen.push(
                v["notificationIds"][0]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
        }
        match a.json["@odata.nextLink"].as_str() {
            Some(next) => {
                path = next
                    .strip_prefix(s.base())
                    .expect("the next link is on this server")
                    .to_string()
            }
            None => break,
        }
    }
    assert_eq!(seen, ["n-4", "n-3", "n-2", "n-1", "n-0"]);
}
