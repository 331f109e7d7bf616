//! Alerts end to end: an emergency call event ingested into a callhook server reaches the
//! collector (webhook mode, its own emergency subscription, rich and encrypted), which stores it
//! and posts the alert to a loopback alert webhook at once. (Deduplication of a redelivered
//! event is proven in crates/alerts/tests.)

mod common;

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::Router;
use callhook_alerts::{Alerter, AlertsConfig};
use callhook_collector::{Collector, CollectorOptions, Source};
use reqwest::Method;
use serde_json::{json, Value};
use tokio::sync::watch;

use common::*;

const POLICY: &str = "Redmond HQ";

#[derive(Clone)]
struct Hook {
    posts: Arc<Mutex<Vec<Value>>>,
    count: watch::Sender<usize>,
}

async fn receive(State(h): State<Hook>, body: Bytes) -> &'static str {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    h.posts.lock().expect("lock").push(v);
    h.count.send_modify(|n| *n += 1);
    "ok"
}

async fn alert_hook() -> (Hook, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/alerts", listener.local_addr().expect("addr"));
    let h = Hook {
        posts: Arc::default(),
        count: watch::channel(0).0,
    };
    let app = Router::new()
        .route("/alerts", post(receive))
        .with_state(h.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (h, url)
}

fn event(id: &str) -> Value {
    json!({
        "id": id, "callEventType": "callStarted", "eventDateTime": "2026-03-02T09:15:00Z",
        "emergencyNumberDialed": "933",
        "callerInfo": {"displayName": "Adele Vance", "upn": "adele@contoso.example",
            "phoneNumber": "+14255550123",
            "location": {"address": {"street": "1 Microsoft Way", "city": "Redmond", "state": "WA",
                "countryOrRegion": "US", "postalCode": "98052"}}}
    })
}

#[tokio::test]
async fn an_emergency_call_event_reaches_the_alert_webhook_through_the_collector_once() {
    let s = start().await;
    s.ingest_raw(
        Method::PUT,
        &s.ingest_url(&format!("emergencyPolicies/{}", enc(POLICY))),
        serde_json::to_vec(&json!({"dialStrings": ["911", "933"]})).expect("json"),
    )
    .await
    .expect_status(201);

    let (hook, hook_url) = alert_hook().await;
    let db = tempfile::tempdir().expect("tempdir");
    let source = Source::callhook(s.base(), s.dir.path()).expect("credentials.json");
    let mut o = CollectorOptions::new(source, db.path().join("c.db").display().to_string());
    o.listen = Some("127.0.0.1:0".parse().expect("addr"));
    o.sweep_interval = std::time::Duration::from_secs(3600);
    o.emergency_policies = vec![POLICY.to_string()];
    let c = Arc::new(Collector::new(o).await.expect("collector"));
    let config = AlertsConfig::parse(&format!(
        "[[channel]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{hook_url}\"\n\
         [[rule]]\nname = \"emergency\"\nkind = \"emergency\"\n"
    ))
    .expect("config");
    let alerter = Alerter::new(config, c.store.clone())
        .await
        .expect("alerter");
    assert!(c.observer.set(alerter.clone()).is_ok());
    let (stop_tx, stop_rx) = watch::channel(false);
    let addr = c.listen(stop_rx.clone()).await.expect("listen");
    callhook_collector::webhook::ensure_subscriptions(&c)
        .await
        .expect("subscribe");
    let subs = c.store.subscriptions().await.expect("subs");
    assert!(
        subs.iter()
            .any(|s| callhook_collector::emergency::is_emergency(&s.resource)
                && s.status == "active"),
        "{subs:?}"
    );
    let runner = tokio::spawn(c.clone().run(stop_rx.clone()));
    let alerts = tokio::spawn(alerter.clone().run(stop_rx));

    let mut seen = hook.count.subscribe();
    let posted = s
        .ingest_raw(
            Method::POST,
            &s.ingest_url("emergencyCallEvents"),
            serde_json::to_vec(&json!({"value": [event("em-1")]})).expect("json"),
        )
        .await;
    posted.expect_status(200);
    // The timeout only turns a hang into a failure; the test awaits the POST itself.
    tokio::time::timeout(
        std::time::Duration::from_secs(60),
        seen.wait_for(|n| *n >= 1),
    )
    .await
    .expect("the alert webhook was called")
    .expect("watch");
    let first = hook.posts.lock().expect("lock")[0].clone();
    assert_eq!(first["ruleName"], "emergency");
    assert_eq!(first["ruleType"], "emergency");
    assert_eq!(first["severity"], "critical");
    assert_eq!(first["late"], false);
    assert_eq!(first["tenantId"], s.tenant());
    assert_eq!(first["details"]["emergencyNumberDialed"], "933");
    assert_eq!(
        first["details"]["callerInfo"]["upn"],
        "adele@contoso.example"
    );
    assert!(first["alertTitle"].as_str().unwrap_or("").contains("933"));

    assert_eq!(*alerter.raised.borrow(), 1);
    assert_eq!(
        c.store
            .count("emergency_events", s.tenant())
            .await
            .expect("count"),
        1
    );
    let list = alerter
        .outbox
        .list(chrono::Utc::now() - chrono::Duration::hours(1), 10)
        .await
        .expect("list");
    assert_eq!(list.len(), 1);
    assert!(list[0].deliveries.iter().all(|d| d.delivered_at.is_some()));

    // Forged rich deliveries are refused and store nothing: no validation token, or one that
    // does not verify.
    let sub_id = subs
        .iter()
        .find(|s| callhook_collector::emergency::is_emergency(&s.resource))
        .and_then(|s| s.subscription_id.clone())
        .expect("subscription id");
    let forged = |tokens: Value| {
        json!({"value": [{"subscriptionId": sub_id, "clientState": "guess", "changeType": "updated",
            "resource": "communications/calls/getEmergencyEventsByPolicy(policyName='Redmond%20HQ')",
            "encryptedContent": {"data": "AAAA", "dataKey": "AAAA", "dataSignature": "AAAA",
                "encryptionCertificateId": "callhook-collector", "encryptionCertificateThumbprint": "00"}}],
            "validationTokens": tokens})
    };
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    for tokens in [Value::Null, json!(["not.a.token"])] {
        let answer = http
            .post(format!("http://{addr}/notifications"))
            .json(&forged(tokens))
            .send()
            .await
            .expect("post");
        assert_eq!(answer.status().as_u16(), 401);
    }
    assert_eq!(
        c.store
            .count("emergency_events", s.tenant())
            .await
            .expect("count"),
        1
    );

    let _ = stop_tx.send(true);
    let _ = runner.await;
    let _ = alerts.await;
}
