//! The outbox survives `kill -9` of the real binary: with a subscriber whose webhook is failing,
//! records ingested before and after a SIGKILL all reach it, at least once each, each under one
//! stable notification id, first deliveries in ingest order — the restarted server retries what
//! was due by itself.

mod common;
mod webhook;

use std::collections::{HashMap, HashSet};
use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use common::{form, read_credentials, spawn_server, ts, uuid_like, RecordBuilder, GRAPH_SCOPE};
use webhook::{record_of, Post, Webhook};

const RECORDS: u64 = 200;
const KILL_AFTER: u64 = 100;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

fn record_id(i: u64) -> String {
    uuid_like(0xc4a5_0000, i)
}

/// PUTs records `from..RECORDS` one at a time, in order, reporting each acknowledged index.
/// Returns the first index not acknowledged (RECORDS when all were).
async fn ingest(
    base: String,
    tenant: String,
    key: String,
    from: u64,
    acks: mpsc::UnboundedSender<u64>,
) -> u64 {
    let http = client();
    for i in from..RECORDS {
        let id = record_id(i);
        let url = format!("{base}/ingest/v1/tenants/{tenant}/callRecords/{id}");
        let sent = http
            .put(url)
            .bearer_auth(&key)
            .json(&RecordBuilder::new(&id).build())
            .send()
            .await;
        match sent {
            Ok(resp) if resp.status().is_success() => {
                let _ = acks.send(i);
            }
            _ => return i,
        }
        // Spread the stream over a couple of seconds so the kill lands mid-stream.
        tokio::time::sleep(StdDuration::from_millis(10)).await;
    }
    RECORDS
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_record_is_notified_in_order_across_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut child, base) = spawn_server(dir.path()).await;
    let creds = read_credentials(dir.path());
    let http = client();

    let token: Value = http
        .post(format!("{base}/{}/oauth2/v2.0/token", creds.tenant_id))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &creds.client_id),
            ("client_secret", &creds.client_secret),
            ("scope", GRAPH_SCOPE),
        ]))
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("token json");
    let token = token["access_token"].as_str().expect("access_token");

    let mut rx = Webhook::start().await;
    let resp = http
        .post(format!("{base}/v1.0/subscriptions"))
        .bearer_auth(token)
        .json(&json!({
            "changeType": "created",
            "notificationUrl": rx.url("/crash"),
            "resource": "communications/callRecords",
            "expirationDateTime": ts(Utc::now() + Duration::minutes(50)),
            "clientState": "survives",
        }))
        .send()
        .await
        .expect("POST subscription");
    assert_eq!(resp.status(), 201);
    let sub: Value = resp.json().await.expect("subscription json");
    let sub_id = sub["id"].as_str().expect("subscription id").to_string();
    // The webhook is down for its first three deliveries.
    rx.fail_next(3, 503);

    let (tx, mut acks) = mpsc::unbounded_channel();
    let writer = tokio::spawn(ingest(
        base.clone(),
        creds.tenant_id.clone(),
        creds.ingest_key.clone(),
        0,
        tx,
    ));
    let mut acked = 0;
    while acked < KILL_AFTER {
        acks.recv().await.expect("the writer stopped early");
        acked += 1;
    }
    rx.drain();
    let posts_before_kill = rx.seen.len();
    child.kill().await.expect("SIGKILL");
    let resume = writer.await.expect("writer task");
    while acks.recv().await.is_some() {}
    assert!(
        (KILL_AFTER..RECORDS).contains(&resume),
        "the kill landed mid-ingest (resumed at {resume})"
    );
    assert!(
        posts_before_kill >= 1,
        "the webhook was being called when the server died"
    );

    // Restart on the same data directory and ingest the rest (the record in flight at the kill,
    // if it was stored, just gets a second version: no new `created` notification).
    let (mut child, base) = spawn_server(dir.path()).await;
    let (tx, mut acks) = mpsc::unbounded_channel();
    let done = ingest(
        base,
        creds.tenant_id.clone(),
        creds.ingest_key.clone(),
        resume,
        tx,
    )
    .await;
    assert_eq!(done, RECORDS, "the restarted server took every record");
    while acks.recv().await.is_some() {}

    let all: Vec<String> = (0..RECORDS).map(record_id).collect();
    let want: HashSet<&str> = all.iter().map(String::as_str).collect();
    rx.wait_until(
        StdDuration::from_secs(60),
        || {},
        |seen| {
            let got: HashSet<String> = seen
                .iter()
                .filter(|p| p.acknowledged())
                .flat_map(Post::items)
                .map(|i| record_of(&i))
                .collect();
            want.iter().all(|r| got.contains(*r))
        },
    )
    .await;
    child.kill().await.expect("stop second server");
    rx.drain();

    assert_eq!(
        rx.seen.iter().filter(|p| p.status == 503).count(),
        3,
        "three POSTs failed"
    );
    let items: Vec<Value> = rx.seen.iter().flat_map(Post::items).collect();
    let resources: HashSet<String> = items.iter().map(record_of).collect();
    assert_eq!(
        resources,
        want.iter().map(|s| s.to_string()).collect::<HashSet<_>>(),
        "exactly the acknowledged records were notified"
    );
    // One notification per record: a repeat is a redelivery under the same id, with the same body.
    let mut by_record: HashMap<String, HashSet<String>> = HashMap::new();
    let mut first: HashMap<String, Value> = HashMap::new();
    for i in &items {
        assert_eq!(i["subscriptionId"], sub_id.as_str(), "{i}");
        assert_eq!(i["changeType"], "created", "{i}");
        assert_eq!(i["clientState"], "survives", "{i}");
        assert_eq!(i["tenantId"], creds.tenant_id.as_str(), "{i}");
        let id = i["id"].as_str().expect("notification id").to_string();
        by_record
            .entry(record_of(i))
            .or_default()
            .insert(id.clone());
        let before = first.entry(id.clone()).or_insert_with(|| i.clone());
        assert_eq!(before, i, "a redelivery of {id} differs");
    }
    for (record, ids) in &by_record {
        assert_eq!(
            ids.len(),
            1,
            "{record} was notified under several ids: {ids:?}"
        );
    }
    // First deliveries follow the outbox, which follows ingest order.
    let order: Vec<String> = rx.first_seen().iter().map(record_of).collect();
    assert_eq!(order, all, "first deliveries are in ingest order");
}
