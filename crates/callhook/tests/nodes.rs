//! Several nodes on one PostgreSQL database: started together on an empty database they share
//! one signing key and one development tenant, and any node answers any request (tokens, page
//! tokens and records written through another node). Needs PostgreSQL (see
//! `common::postgres_database_or_skip`).

mod common;

use std::net::SocketAddr;

use callhook::server::{self, RunningServer, ServeOptions};
use common::*;
use tempfile::TempDir;

async fn node(dir: &TempDir, url: &str) -> RunningServer {
    let listen: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let mut opts = ServeOptions::new(listen, dir.path().to_path_buf());
    opts.database_url = Some(url.to_string());
    opts.db_pool_size = 4;
    server::start(opts).await.expect("node starts")
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
