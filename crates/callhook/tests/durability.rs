//! A 2xx from the ingest API means durable: acknowledged writes survive `kill -9` of the real
//! binary while other writes are still in flight.

mod common;

use std::collections::HashMap;

use common::*;
use serde_json::json;
use tokio::sync::mpsc;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_records_survive_sigkill_of_the_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut child, base) = spawn_server(dir.path()).await;
    let creds = read_credentials(dir.path());

    let (tx, mut rx) = mpsc::unbounded_channel::<(String, u64)>();
    let mut writers = Vec::new();
    // Single-record writers, each rewriting its own 15 ids so versions climb.
    for w in 0..6u32 {
        let (tx, base, creds, http) = (tx.clone(), base.clone(), creds.clone(), client());
        writers.push(tokio::spawn(async move {
            for i in 0u64.. {
                let id = uuid_like(0xd00 + w, i % 15);
                let url = format!(
                    "{base}/ingest/v1/tenants/{}/callRecords/{id}",
                    creds.tenant_id
                );
                let body = RecordBuilder::new(&id)
                    .sessions(1 + (i % 3) as usize)
                    .build();
                let Ok(resp) = http
                    .put(url)
                    .bearer_auth(&creds.ingest_key)
                    .json(&body)
                    .send()
                    .await
                else {
                    return;
                };
                if !resp.status().is_success() {
                    return;
                }
                let Ok(ack) = resp.json::<serde_json::Value>().await else {
                    return;
                };
                let version = ack["version"].as_u64().expect("version");
                if tx.send((id, version)).is_err() {
                    return;
                }
            }
        }));
    }
    // Batch writers: 10 new records per request.
    for w in 0..2u32 {
        let (tx, base, creds, http) = (tx.clone(), base.clone(), creds.clone(), client());
        writers.push(tokio::spawn(async move {
            for b in 0u64.. {
                let recs: Vec<_> = (0..10)
                    .map(|i| record(&uuid_like(0xb00 + w, b * 10 + i)))
                    .collect();
                let url = format!("{base}/ingest/v1/tenants/{}/callRecords", creds.tenant_id);
                let Ok(resp) = http
                    .post(url)
                    .bearer_auth(&creds.ingest_key)
                    .json(&json!({ "value": recs }))
                    .send()
                    .await
                else {
                    return;
                };
                if !resp.status().is_success() {
                    return;
                }
                let Ok(ack) = resp.json::<serde_json::Value>().await else {
                    return;
                };
                for w in ack["value"].as_array().expect("value") {
                    let id = w["id"].as_str().expect("id").to_string();
                    if tx
                        .send((id, w["version"].as_u64().expect("version")))
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }));
    }
    drop(tx);

    // Collect acknowledgements until enough arrived, then kill -9 with writes still in flight.
    let mut acked: HashMap<String, u64> = HashMap::new();
    let mut n = 0;
    // Wait for rewrites too, so versions above 1 are part of what must survive.
    while n < 300 || !acked.values().any(|v| *v > 2) {
        let (id, v) = rx.recv().await.expect("writers stopped early");
        let e = acked.entry(id).or_insert(0);
        *e = (*e).max(v);
        n += 1;
    }
    child.kill().await.expect("SIGKILL");
    for w in writers {
        w.await.expect("writer task");
    }
    while let Some((id, v)) = rx.recv().await {
        let e = acked.entry(id).or_insert(0);
        *e = (*e).max(v);
    }
    assert!(
        acked.values().any(|v| *v > 1),
        "some records were rewritten"
    );

    // Restart on the same data directory and check every acknowledged write.
    let (mut child, base) = spawn_server(dir.path()).await;
    let http = client();
    let token: serde_json::Value = http
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
    let token = token["access_token"]
        .as_str()
        .expect("access_token")
        .to_string();
    for (id, version) in &acked {
        let resp = http
            .get(format!("{base}/v1.0/communications/callRecords/{id}"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("GET");
        assert_eq!(resp.status(), 200, "acknowledged record {id} lost");
        let body: serde_json::Value = resp.json().await.expect("json");
        let stored = body["version"].as_u64().expect("version");
        assert!(
            stored >= *version,
            "{id}: acknowledged version {version}, found {stored} after restart"
        );
    }
    child.kill().await.expect("stop second server");
}

/// SIGTERM (what service managers send) stops the server cleanly: exit status 0, and the data
/// written before is there on the next start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_server_cleanly_and_keeps_its_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut child, base) = spawn_server(dir.path()).await;
    let creds = read_credentials(dir.path());
    let id = uuid_like(0xe00, 1);
    let resp = client()
        .put(format!(
            "{base}/ingest/v1/tenants/{}/callRecords/{id}",
            creds.tenant_id
        ))
        .bearer_auth(&creds.ingest_key)
        .json(&RecordBuilder::new(&id).build())
        .send()
        .await
        .expect("ingest");
    assert_eq!(resp.status(), 201);

    let pid = child.id().expect("pid").to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(sent.success());
    let status = tokio::time::timeout(std::time::Duration::from_secs(20), child.wait())
        .await
        .expect("server stopped within 20 s")
        .expect("wait");
    assert!(status.success(), "exit status {status:?}");

    let (mut again, base) = spawn_server(dir.path()).await;
    let http = client();
    let token: serde_json::Value = http
        .post(format!("{base}/{}/oauth2/v2.0/token", creds.tenant_id))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", creds.client_id.as_str()),
            ("client_secret", creds.client_secret.as_str()),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("token json");
    let token = token["access_token"]
        .as_str()
        .expect("access_token")
        .to_string();
    let got = http
        .get(format!("{base}/v1.0/communications/callRecords/{id}"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("get");
    assert_eq!(got.status(), 200);
    again.kill().await.expect("kill");
}
