//! Several nodes on one PostgreSQL database: started together on an empty database they share
//! one signing key and one development tenant, and any node answers any request (tokens, page
//! tokens and records written through another node), and a node learns at once, through the
//! database, of notifications queued through another. Needs PostgreSQL (see
//! `common::postgres_database_or_skip`).

mod common;
mod webhook;

use std::net::SocketAddr;
use std::time::Duration as StdDuration;

use callhook::server::{self, RunningServer, ServeOptions};
use chrono::{Duration, Utc};
use common::*;
use serde_json::json;
use tempfile::TempDir;
use webhook::{record_of, Webhook};

async fn node(dir: &TempDir, url: &str) -> RunningServer {
    node_with(dir, url, callhook_notify::NotifyConfig::default()).await
}

async fn node_with(
    dir: &TempDir,
    url: &str,
    notify: callhook_notify::NotifyConfig,
) -> RunningServer {
    let listen: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let mut opts = ServeOptions::new(listen, dir.path().to_path_buf());
    opts.database_url = Some(url.to_string());
    opts.db_pool_size = 4;
    opts.notify = notify;
    server::start(opts).await.expect("node starts")
}

/// A started node as a [`TestServer`] with the installation's credentials.
fn test_server(server: RunningServer, dir: TempDir, creds: &callhook::Credentials) -> TestServer {
    TestServer {
        server,
        dir,
        creds: creds.clone(),
        http: reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("http client"),
    }
}

/// `POST /_callhook/delivery/{action}` on one node.
async fn delivery_control(node: &TestServer, action: &str) {
    let resp = node
        .http
        .post(node.url(&format!("/_callhook/delivery/{action}")))
        .bearer_auth(&node.creds.ingest_key)
        .send()
        .await
        .expect("delivery control");
    assert!(resp.status().is_success(), "{action}: {}", resp.status());
}

#[tokio::test]
async fn nodes_started_together_share_one_installation_and_answer_any_request() {
    let Some(url) = postgres_database_or_skip(
        "nodes::nodes_started_together_share_one_installation_and_answer_any_request",
    )
    .await
    else {
        return;
    };
    let dirs: Vec<TempDir> = (0..3)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    let (a, b, c) = tokio::join!(
        node(&dirs[0], &url),
        node(&dirs[1], &url),
        node(&dirs[2], &url)
    );
    let servers = [a, b, c];
    let created: Vec<_> = servers.iter().filter_map(|s| s.created.clone()).collect();
    assert_eq!(created.len(), 1, "one node creates the development tenant");
    let creds = created[0].clone();
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("http client");
    let nodes: Vec<TestServer> = servers
        .into_iter()
        .zip(dirs)
        .map(|(server, dir)| TestServer {
            server,
            dir,
            creds: creds.clone(),
            http: http.clone(),
        })
        .collect();

    // A token from node 0 works on every node.
    let token = nodes[0].token().await;
    for n in &nodes {
        n.get("/v1.0/communications/callRecords", &token)
            .await
            .expect_status(200);
    }
    // Records written through node 1 (batch) and node 2 (single PUT) are read on node 0.
    let recs = records(0x0de, 70, 30);
    nodes[1].post_records(&recs[..69]).await.expect_status(200);
    let last = ids(&recs[69..])[0].clone();
    nodes[2]
        .put_record(&last, &recs[69])
        .await
        .expect_status(201);
    let first = nodes[0]
        .get("/v1.0/communications/callRecords", &token)
        .await;
    first.expect_status(200);
    assert_eq!(first.values().len(), 60);
    // The page token sealed by node 0 opens on node 2.
    let next = first.next_link().expect("next link");
    let on_node_2 = next.replacen(nodes[0].base(), nodes[2].base(), 1);
    assert_ne!(next, on_node_2);
    let second = nodes[2].get(&on_node_2, &token).await;
    second.expect_status(200);
    let mut seen = ids(&first.values());
    seen.extend(ids(&second.values()));
    seen.sort();
    let mut want = ids(&recs);
    want.sort();
    assert_eq!(seen, want);
    // Replacing through another node continues the version sequence.
    let again = nodes[0].put_record(&last, &recs[69]).await;
    again.expect_status(200);
    assert_eq!(again.json["version"], 2);

    for n in nodes {
        n.stop().await;
    }
}

/// Waits (at most ten seconds, far less than the idle poll of [`leased_to_a`]'s nodes) until
/// `rx` has acknowledged a notification of the record `id`.
async fn delivered_soon(rx: &mut Webhook, id: &str) {
    rx.wait_until(
        StdDuration::from_secs(10),
        || {},
        |seen| {
            seen.iter()
                .any(|p| p.acknowledged() && p.items().iter().any(|i| record_of(i) == id))
        },
    )
    .await;
}

/// Two nodes, A and B, on a fresh database, whose idle poll (2 min) and delivery lease (10 min)
/// are far longer than any wait here (so only a wake-up through the database delivers in
/// time), a receiver and a call-record subscription to it, whose lease A holds: A has delivered
/// a first record (B's delivery paused meanwhile). `None` without PostgreSQL.
async fn leased_to_a(test: &str) -> Option<(TestServer, TestServer, Webhook)> {
    let url = postgres_database_or_skip(test).await?;
    let slow = callhook_notify::NotifyConfig {
        idle_poll: StdDuration::from_secs(120),
        delivery_lease: Duration::minutes(10),
        ..callhook_notify::NotifyConfig::default()
    };
    let (dir_a, dir_b) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    // A starts first and creates the installation; B joins it.
    let a = node_with(&dir_a, &url, slow.clone()).await;
    let creds = a
        .created
        .clone()
        .expect("the first node creates the installation");
    let b = node_with(&dir_b, &url, slow).await;
    let (a, b) = (test_server(a, dir_a, &creds), test_server(b, dir_b, &creds));

    let mut rx = Webhook::start().await;
    let token = a.token().await;
    let resp = a
        .http
        .post(a.url("/v1.0/subscriptions"))
        .bearer_auth(&token)
        .json(&json!({
            "changeType": "created",
            "notificationUrl": rx.url("/hook"),
            "resource": "communications/callRecords",
            "expirationDateTime": ts(Utc::now() + Duration::minutes(50)),
            "clientState": "wake",
        }))
        .send()
        .await
        .expect("POST subscription");
    let created = Answer::from(resp).await;
    created.expect_status(201);
    let subscription = created.json["id"].as_str().unwrap_or_default().to_string();

    delivery_control(&b, "pause").await;
    let first = uuid_like(0x0a3e, 1);
    a.put_record(&first, &record(&first))
        .await
        .expect_status(201);
    delivered_soon(&mut rx, &first).await;
    delivery_control(&b, "resume").await;
    // `GET /_callhook/delivery` names the node as the lease table does, so an operator can
    // tell which node delivers a subscription.
    let holders: Vec<String> = {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&url).await.expect("connect");
        sqlx::query_scalar("SELECT node_id FROM delivery_leases WHERE subscription_id = $1")
            .bind(&subscription)
            .fetch_all(&mut conn)
            .await
            .expect("leases")
    };
    assert_eq!(holders, vec![node_name(&a).await]);
    assert_ne!(node_name(&a).await, node_name(&b).await);
    Some((a, b, rx))
}

async fn node_name(node: &TestServer) -> String {
    let resp = node
        .http
        .get(node.url("/_callhook/delivery"))
        .bearer_auth(&node.creds.ingest_key)
        .send()
        .await
        .expect("delivery state");
    let state: serde_json::Value = resp.json().await.expect("json");
    state["node"].as_str().expect("node id").to_string()
}

#[tokio::test]
async fn a_record_ingested_on_one_node_is_delivered_at_once_by_the_node_holding_the_lease() {
    let Some((a, b, mut rx)) = leased_to_a(
        "nodes::a_record_ingested_on_one_node_is_delivered_at_once_by_the_node_holding_the_lease",
    )
    .await
    else {
        return;
    };
    // Queued through B, whose own wake-up finds the subscription leased to A: it arrives in time
    // only because A hears of it through the database.
    let second = uuid_like(0x0a3e, 2);
    b.put_record(&second, &record(&second))
        .await
        .expect_status(201);
    delivered_soon(&mut rx, &second).await;
    a.stop().await;
    b.stop().await;
}
