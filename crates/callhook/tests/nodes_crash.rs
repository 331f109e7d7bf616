//! Three nodes (real binaries) on one PostgreSQL database deliver a stream of notifications to
//! three subscriptions. Only node 1 delivers at first (the others' delivery is paused), so it
//! holds every subscription's lease; it is killed with SIGKILL mid-stream and the others resume.
//! Once its leases run out (30 s) they take its subscriptions over: every acknowledged record
//! reaches every subscription (repeats only as redeliveries under the same notification id), and
//! each subscription's first deliveries come in ingest order.

mod common;
mod webhook;

use std::collections::{HashMap, HashSet};
use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use serde_json::{json, Value};

use common::{form, read_credentials, spawn_server_on, ts, uuid_like, RecordBuilder, GRAPH_SCOPE};
use webhook::{record_of, Post, Webhook};

const RECORDS: u64 = 150;
const KILL_AFTER: u64 = 60;
const SUBSCRIPTIONS: [&str; 3] = ["/s0", "/s1", "/s2"];
const CHANGE_TYPES: [&str; 3] = ["created", "updated", "created,updated"];

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

fn record_id(i: u64) -> String {
    uuid_like(0x0de5_0000, i)
}

/// `POST /_callhook/delivery/{action}` on one node.
async fn control(http: &reqwest::Client, base: &str, key: &str, action: &str) {
    let resp = http
        .post(format!("{base}/_callhook/delivery/{action}"))
        .bearer_auth(key)
        .send()
        .await
        .expect("control");
    assert!(resp.status().is_success(), "{action}: {}", resp.status());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_record_reaches_every_subscription_in_order_when_a_node_is_killed() {
    let Some(url) = common::postgres_database_or_skip(
        "nodes_crash::every_record_reaches_every_subscription_in_order_when_a_node_is_killed",
    )
    .await
    else {
        return;
    };
    let dirs: Vec<_> = (0..3)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    // The first node creates the installation (credentials.json in its directory).
    let first = spawn_server_on(dirs[0].path(), Some(&url)).await;
    let creds = read_credentials(dirs[0].path());
    let mut nodes = vec![first];
    for dir in &dirs[1..] {
        nodes.push(spawn_server_on(dir.path(), Some(&url)).await);
    }
    let bases: Vec<String> = nodes.iter().map(|(_, b)| b.clone()).collect();
    let http = client();

    let token: Value = http
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            bases[1], creds.tenant_id
        ))
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
    let mut sub_of_path = HashMap::new();
    for (n, path) in SUBSCRIPTIONS.iter().enumerate() {
        let resp = http
            .post(format!("{}/v1.0/subscriptions", bases[n]))
            .bearer_auth(token)
            .json(&json!({
                // One app may not watch one resource twice with the same change types; each of
                // these is told once of every new record.
                "changeType": CHANGE_TYPES[n],
                "notificationUrl": rx.url(path),
                "resource": "communications/callRecords",
                "expirationDateTime": ts(Utc::now() + Duration::minutes(50)),
                "clientState": format!("state{n}"),
            }))
            .send()
            .await
            .expect("POST subscription");
        assert_eq!(resp.status(), 201);
        let sub: Value = resp.json().await.expect("subscription json");
        sub_of_path.insert(
            path.to_string(),
            sub["id"].as_str().expect("id").to_string(),
        );
    }

    // Nodes 0 and 2 hold their deliveries: node 1 claims every subscription.
    for n in [0, 2] {
        control(&http, &bases[n], &creds.ingest_key, "pause").await;
    }

    // One writer, acknowledged record by record, through the nodes in turn; node 1 dies after
    // KILL_AFTER records (once it has delivered to every subscription) and the writer carries on
    // through the others, whose deliveries resume.
    let mut alive = [true; 3];
    let mut acked = Vec::new();
    for i in 0..RECORDS {
        if i == KILL_AFTER {
            rx.wait_until(
                StdDuration::from_secs(30),
                || {},
                |seen| {
                    SUBSCRIPTIONS
                        .iter()
                        .all(|path| seen.iter().any(|p| p.path == *path && p.acknowledged()))
                },
            )
            .await;
            nodes[1].0.kill().await.expect("SIGKILL");
            alive[1] = false;
            for n in [0, 2] {
                control(&http, &bases[n], &creds.ingest_key, "resume").await;
            }
        }
        let id = record_id(i);
        let mut n = (i % 3) as usize;
        while !alive[n] {
            n = (n + 1) % 3;
        }
        let resp = http
            .put(format!(
                "{}/ingest/v1/tenants/{}/callRecords/{id}",
                bases[n], creds.tenant_id
            ))
            .bearer_auth(&creds.ingest_key)
            .json(&RecordBuilder::new(&id).build())
            .send()
            .await
            .expect("ingest");
        assert!(resp.status().is_success(), "{}", resp.status());
        acked.push(id);
        tokio::time::sleep(StdDuration::from_millis(10)).await;
    }

    // Every record reaches every subscription; the killed node's leases run out and the
    // survivors take its subscriptions over.
    let want: HashSet<String> = acked.iter().cloned().collect();
    rx.wait_until(
        StdDuration::from_secs(150),
        || {},
        |seen| {
            SUBSCRIPTIONS.iter().all(|path| {
                let got: HashSet<String> = seen
                    .iter()
                    .filter(|p| p.path == *path && p.acknowledged())
                    .flat_map(Post::items)
                    .map(|i| record_of(&i))
                    .collect();
                want.iter().all(|r| got.contains(r))
            })
        },
    )
    .await;
    for (child, _) in &mut nodes {
        let _ = child.kill().await;
    }
    rx.drain();

    for path in SUBSCRIPTIONS {
        let posts: Vec<&Post> = rx.seen.iter().filter(|p| p.path == path).collect();
        let items: Vec<Value> = posts.iter().flat_map(|p| p.items()).collect();
        // Exactly the acknowledged records; a repeat is a redelivery under the same id and body.
        let mut ids_of: HashMap<String, HashSet<String>> = HashMap::new();
        let mut body_of: HashMap<String, Value> = HashMap::new();
        for i in &items {
            assert_eq!(i["subscriptionId"], sub_of_path[path].as_str(), "{i}");
            let id = i["id"].as_str().expect("notification id").to_string();
            ids_of.entry(record_of(i)).or_default().insert(id.clone());
            let before = body_of.entry(id.clone()).or_insert_with(|| i.clone());
            assert_eq!(before, i, "a redelivery of {id} differs");
        }
        assert_eq!(
            ids_of.keys().cloned().collect::<HashSet<_>>(),
            want,
            "{path}: exactly the acknowledged records"
        );
        assert!(
            ids_of.values().all(|ids| ids.len() == 1),
            "{path}: a record notified under several ids"
        );
        // First deliveries in ingest order.
        let mut seen = HashSet::new();
        let order: Vec<String> = items
            .iter()
            .filter(|i| seen.insert(i["id"].as_str().unwrap_or_default().to_string()))
            .map(record_of)
            .collect();
        assert_eq!(order, acked, "{path}: first deliveries in ingest order");
    }
}
