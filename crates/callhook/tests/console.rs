//! The console at `/_callhook/ui` and the kept webhook POSTs behind it: sign-in, CSRF, and the
//! stored request and response against what a loopback webhook really received.

mod common;

use std::time::Duration;

use axum::body::Bytes;
use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use common::*;
use serde_json::{json, Value};
use tokio::sync::mpsc;

/// One request as the webhook received it.
struct Received {
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

/// The answer the webhook gives every notification (not JSON, with a header of its own), so the
/// kept response can be compared with it.
const ANSWER: &str = "thanks \u{2713}";

/// A webhook that answers validation requests and forwards every other request as received.
async fn webhook() -> (String, mpsc::UnboundedReceiver<Received>) {
    let (tx, rx) = mpsc::unbounded_channel::<Received>();
    async fn handle(
        State(tx): State<mpsc::UnboundedSender<Received>>,
        uri: Uri,
        Query(q): Query<HashMap<String, String>>,
        headers: HeaderMap,
        body: Bytes,
    ) -> axum::response::Response {
        if let Some(token) = q.get("validationToken") {
            return (
                StatusCode::OK,
                [("content-type", "text/plain")],
                token.clone(),
            )
                .into_response();
        }
        let _ = tx.send(Received {
            path: uri.path().to_string(),
            headers,
            body,
        });
        (
            StatusCode::ACCEPTED,
            [
                ("content-type", "text/plain; charset=utf-8"),
                ("x-hook", "seen"),
            ],
            ANSWER,
        )
            .into_response()
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

async fn next(rx: &mut mpsc::UnboundedReceiver<Received>) -> Received {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("a POST arrives")
        .expect("webhook alive")
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
    let a = s.post_subscription("v1.0", &token, &body).await;
    assert_eq!(a.status, 201, "{}", a.text);
    a.json["id"].as_str().expect("id").to_string()
}

/// A browser without redirects followed, so each answer can be looked at.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// The value of `name="csrf"` in a page.
fn csrf_in(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token");
    let rest = &html[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').expect("end of value")].to_string()
}

/// Signs in with `key`; the session cookie (`name=value`) when it worked.
async fn sign_in(s: &TestServer, http: &reqwest::Client, key: &str) -> Option<String> {
    let page = http
        .get(s.url("/_callhook/ui/login"))
        .send()
        .await
        .expect("login page");
    assert_eq!(page.status(), 200);
    let token = csrf_in(&page.text().await.expect("body"));
    let resp = http
        .post(s.url("/_callhook/ui/login"))
        .form(&[("csrf", token.as_str()), ("key", key)])
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), 303);
    resp.headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_string)
}

async fn page(s: &TestServer, http: &reqwest::Client, cookie: &str, path: &str) -> (u16, String) {
    let resp = http
        .get(s.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .expect("page");
    (resp.status().as_u16(), resp.text().await.expect("body"))
}

async fn action(
    s: &TestServer,
    http: &reqwest::Client,
    cookie: Option<&str>,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = http.post(s.url(path)).form(form);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    req.send().await.expect("action")
}

/// `GET` a control route with the ingest key.
async fn control(s: &TestServer, path: &str) -> reqwest::Response {
    s.http
        .get(s.url(path))
        .bearer_auth(&s.creds.ingest_key)
        .send()
        .await
        .expect("control route")
}

async fn control_json(s: &TestServer, path: &str) -> Answer {
    Answer::from(control(s, path).await).await
}

/// The POSTs kept (of all subscriptions), once the settler has recorded at least one.
async fn kept_posts(s: &TestServer, path: &str) -> Vec<Value> {
    for _ in 0..200 {
        let a = control_json(s, path).await;
        a.expect_status(200);
        if !a.values().is_empty() {
            return a.values();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no POST kept at {path}");
}

async fn delivery_paused(s: &TestServer) -> bool {
    let a = control_json(s, "/_callhook/delivery").await;
    a.json["paused"].as_bool().expect("paused")
}

#[tokio::test]
async fn the_console_wants_the_ingest_key_and_a_session() {
    let s = start().await;
    let http = browser();
    // `/` leads to the console on a loopback listener; the console to its login page.
    let root = http.get(s.url("/")).send().await.expect("root");
    assert_eq!(root.status(), 303);
    assert_eq!(root.headers()["location"], "/_callhook/ui");
    for path in [
        "/_callhook/ui",
        "/_callhook/ui/subscriptions",
        "/_callhook/ui/tail/events",
    ] {
        let resp = http.get(s.url(path)).send().await.expect("page");
        assert_eq!(resp.status(), 303, "{path}");
        assert_eq!(resp.headers()["location"], "/_callhook/ui/login", "{path}");
    }
    // An action without a session does nothing.
    let resp = action(
        &s,
        &http,
        None,
        "/_callhook/ui/delivery/pause",
        &[("csrf", "x")],
    )
    .await;
    assert_eq!(resp.status(), 401);
    assert!(!delivery_paused(&s).await);
    // A wrong key, or a cookie this server did not seal, opens nothing.
    assert!(sign_in(&s, &http, "not-the-key").await.is_none());
    let (status, _) = page(
        &s,
        &http,
        "callhook_console=c2Vzc2lvbnw5OTk5OTk5OTk5fGE.AAAA",
        "/_callhook/ui",
    )
    .await;
    assert_eq!(status, 303);
    // The ingest key does.
    let cookie = sign_in(&s, &http, &s.creds.ingest_key)
        .await
        .expect("signed in");
    for path in [
        "/_callhook/ui",
        "/_callhook/ui/tenants",
        "/_callhook/ui/subscriptions",
        "/_callhook/ui/outbox",
        "/_callhook/ui/posts",
        "/_callhook/ui/tail",
        "/_callhook/ui/clock",
        "/_callhook/ui/simulator",
    ] {
        let (status, html) = page(&s, &http, &cookie, path).await;
        assert_eq!(status, 200, "{path}: {html}");
        assert!(html.contains("callhook console"), "{path}");
    }
    let (_, tenants) = page(&s, &http, &cookie, "/_callhook/ui/tenants").await;
    assert!(
        tenants.contains(&s.creds.client_id),
        "the development app is listed"
    );
    s.stop().await;
}

#[tokio::test]
async fn actions_need_their_sessions_csrf_token() {
    let s = start().await;
    let http = browser();
    let cookie = sign_in(&s, &http, &s.creds.ingest_key)
        .await
        .expect("signed in");
    let other = sign_in(&s, &http, &s.creds.ingest_key)
        .await
        .expect("second session");
    let (_, html) = page(&s, &http, &other, "/_callhook/ui/outbox").await;
    let others_token = csrf_in(&html);
    // No token, a made-up one, another session's: 403 and nothing done.
    for form in [
        vec![],
        vec![("csrf", "abc.def")],
        vec![("csrf", others_token.as_str())],
    ] {
        let resp = action(
            &s,
            &http,
            Some(&cookie),
            "/_callhook/ui/delivery/pause",
            &form,
        )
        .await;
        assert_eq!(resp.status(), 403);
        let a = Answer::from(resp).await;
        assert_eq!(a.code(), "Forbidden", "{}", a.text);
        assert!(!delivery_paused(&s).await);
    }
    // The session's own token: done.
    let (_, html) = page(&s, &http, &cookie, "/_callhook/ui/outbox").await;
    let token = csrf_in(&html);
    let resp = action(
        &s,
        &http,
        Some(&cookie),
        "/_callhook/ui/delivery/pause",
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(resp.status(), 303);
    assert!(delivery_paused(&s).await);
    let resp = action(
        &s,
        &http,
        Some(&cookie),
        "/_callhook/ui/delivery/resume",
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(resp.status(), 303);
    assert!(!delivery_paused(&s).await);
    // A login posted without the login page's token is refused.
    let resp = action(
        &s,
        &http,
        None,
        "/_callhook/ui/login",
        &[("key", &s.creds.ingest_key)],
    )
    .await;
    assert_eq!(resp.status(), 303);
    assert!(resp.headers().get("set-cookie").is_none());
    s.stop().await;
}

#[tokio::test]
async fn a_kept_post_is_what_the_webhook_received_byte_for_byte() {
    let s = start().await;
    let (hook, mut rx) = webhook().await;
    let sub = subscribe(&s, &hook).await;
    s.put_record(
        "a1b2c3d4-0000-4000-8000-000000000001",
        &record("a1b2c3d4-0000-4000-8000-000000000001"),
    )
    .await
    .expect_status(201);
    let got = next(&mut rx).await;
    assert_eq!(got.path, "/notify");

    // The POST is kept once the settler has recorded the delivery.
    let posts = kept_posts(&s, &format!("/_callhook/subscriptions/{sub}/posts")).await;
    assert_eq!(posts.len(), 1, "one POST kept");
    let id = posts[0]["id"].as_str().expect("id").to_string();

    let raw = control(&s, &format!("/_callhook/posts/{id}/request/body")).await;
    assert_eq!(raw.status(), 200);
    assert_eq!(
        raw.bytes().await.expect("bytes"),
        got.body,
        "request body byte for byte"
    );

    let full = control_json(&s, &format!("/_callhook/posts/{id}")).await;
    full.expect_status(200);
    let p = &full.json;
    assert_eq!(p["subscriptionIds"], json!([sub]));
    assert_eq!(p["outcome"], "delivered");
    assert_eq!(p["request"]["method"], "POST");
    assert_eq!(p["request"]["url"], format!("{hook}/notify"));
    assert_eq!(
        p["request"]["body"]["text"].as_str().map(str::as_bytes),
        Some(&got.body[..])
    );
    assert_eq!(p["request"]["body"]["truncated"], false);
    // Every header kept is one the webhook got, with the same value.
    let kept: Vec<(String, String)> =
        serde_json::from_value(p["request"]["headers"].clone()).expect("header pairs");
    for name in ["host", "content-type", "content-length", "user-agent"] {
        assert!(kept.iter().any(|(n, _)| n == name), "{name} kept: {kept:?}");
    }
    for (name, value) in &kept {
        assert_eq!(
            got.headers.get(name).and_then(|v| v.to_str().ok()),
            Some(value.as_str()),
            "header {name}"
        );
    }
    assert_eq!(p["response"]["status"], 202);
    assert_eq!(p["response"]["body"]["text"], ANSWER);
    let answer_headers: Vec<(String, String)> =
        serde_json::from_value(p["response"]["headers"].clone()).expect("header pairs");
    assert!(answer_headers.contains(&("x-hook".into(), "seen".into())));
    let raw_answer = control(&s, &format!("/_callhook/posts/{id}/response/body")).await;
    assert_eq!(raw_answer.bytes().await.expect("bytes"), ANSWER.as_bytes());

    // The console shows it, and its replay reaches the webhook again with the same bytes.
    let http = browser();
    let cookie = sign_in(&s, &http, &s.creds.ingest_key)
        .await
        .expect("signed in");
    let (status, html) = page(&s, &http, &cookie, &format!("/_callhook/ui/posts/{id}")).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("x-hook"), "response headers shown");
    let token = csrf_in(&html);
    let resp = action(
        &s,
        &http,
        Some(&cookie),
        &format!("/_callhook/ui/posts/{id}/replay"),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(resp.status(), 303);
    let again = next(&mut rx).await;
    assert_eq!(again.body, got.body, "a replay sends the same bytes");
    let all = control_json(&s, "/_callhook/posts").await;
    assert_eq!(all.values()[0]["outcome"], "replay");

    // The subscription as the overview route sees it.
    let subs = control_json(&s, "/_callhook/subscriptions").await;
    let row = &subs.values()[0];
    assert_eq!(row["id"], sub);
    assert_eq!(row["endpointState"], "healthy");
    assert_eq!(row["queued"], 0);
    assert!(row["lastDeliveryDateTime"].is_string(), "{row}");
    s.stop().await;
}

#[tokio::test]
async fn lifecycle_events_and_deletion_from_the_console() {
    let s = start().await;
    let (hook, mut rx) = webhook().await;
    let sub = subscribe(&s, &hook).await;
    let http = browser();
    let cookie = sign_in(&s, &http, &s.creds.ingest_key)
        .await
        .expect("signed in");
    let (status, html) = page(
        &s,
        &http,
        &cookie,
        &format!("/_callhook/ui/subscriptions/{sub}"),
    )
    .await;
    assert_eq!(status, 200, "{html}");
    let token = csrf_in(&html);
    for event in ["reauthorizationRequired", "missed"] {
        let resp = action(
            &s,
            &http,
            Some(&cookie),
            &format!("/_callhook/ui/subscriptions/{sub}/lifecycle"),
            &[("csrf", &token), ("event", event)],
        )
        .await;
        assert_eq!(resp.status(), 303);
        let got = next(&mut rx).await;
        assert_eq!(got.path, "/lifecycle");
        let body: Value = serde_json::from_slice(&got.body).expect("json");
        assert_eq!(body["value"][0]["lifecycleEvent"], event);
    }
    let resp = action(
        &s,
        &http,
        Some(&cookie),
        &format!("/_callhook/ui/subscriptions/{sub}/delete"),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(resp.status(), 303);
    let subs = control_json(&s, "/_callhook/subscriptions").await;
    assert!(subs.values().is_empty(), "{}", subs.text);
    s.stop().await;
}

#[tokio::test]
async fn a_rich_post_is_decrypted_with_the_pasted_key_and_the_key_is_not_kept() {
    let s = start().await;
    let (hook, mut rx) = webhook().await;
    let key = receiver_key();
    let user = "8b081ef6-4792-4def-b2c9-c363a1bf41d5";
    let body = json!({
        "changeType": "updated",
        "notificationUrl": format!("{hook}/notify"),
        "lifecycleNotificationUrl": format!("{hook}/lifecycle"),
        "resource": format!("/users/{user}/communications/callEvents"),
        "expirationDateTime": ts(chrono::Utc::now() + chrono::Duration::hours(2)),
        "clientState": "rich-secret",
        "includeResourceData": true,
        "encryptionCertificate": key.certificate,
        "encryptionCertificateId": "receiver-cert-1",
    });
    let token = s.token().await;
    let created = s.post_subscription("beta", &token, &body).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let events = json!({"value": [
        {"id": "ev-start", "callEventType": "callStarted", "eventDateTime": ts(chrono::Utc::now()),
         "userId": user, "direction": "outgoing", "callId": "call-console"}
    ]});
    s.ingest_raw(
        reqwest::Method::POST,
        &s.ingest_url("callEvents"),
        serde_json::to_vec(&events).expect("json"),
    )
    .await
    .expect_status(200);
    let got = next(&mut rx).await;
    assert!(String::from_utf8_lossy(&got.body).contains("encryptedContent"));

    let posts = kept_posts(&s, "/_callhook/posts").await;
    let id = posts[0]["id"].as_str().expect("id").to_string();
    let http = browser();
    let cookie = sign_in(&s, &http, &s.creds.ingest_key)
        .await
        .expect("signed in");
    let (status, html) = page(&s, &http, &cookie, &format!("/_callhook/ui/posts/{id}")).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("decrypt-form"),
        "a rich POST offers decryption"
    );
    assert!(!html.contains("call-console"), "shown encrypted, as sent");
    let token = csrf_in(&html);
    let pem = key.pem.clone();
    let resp = action(
        &s,
        &http,
        Some(&cookie),
        &format!("/_callhook/ui/posts/{id}/decrypt"),
        &[("csrf", &token), ("key", &pem)],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.expect("page");
    assert!(
        html.contains("call-console"),
        "the decrypted call event is shown"
    );
    // A wrong key says so instead.
    let other = receiver_key();
    let resp = action(
        &s,
        &http,
        Some(&cookie),
        &format!("/_callhook/ui/posts/{id}/decrypt"),
        &[("csrf", &token), ("key", &other.pem)],
    )
    .await;
    let html = resp.text().await.expect("page");
    assert!(!html.contains("call-console"));
    assert!(html.contains("flash error"));
    let dir = s.stop().await;
    // The key went nowhere near the data directory.
    let needle = pem.lines().nth(1).expect("a PEM line").to_string();
    for entry in std::fs::read_dir(dir.path()).expect("data dir").flatten() {
        if entry.path().is_file() {
            let bytes = std::fs::read(entry.path()).expect("file");
            assert!(
                !String::from_utf8_lossy(&bytes).contains(&needle),
                "{} holds the key",
                entry.path().display()
            );
        }
    }
}
