//! `callhook collect` against an in-process callhook filled by the simulator: the collector's
//! database must end with exactly the records the API serves, at their final versions, with
//! every session, segment, stream and participant, through faults and restarts.

mod common;

use std::sync::Arc;

use callhook::server::{self, ServeOptions};
use callhook_collector::flatten::{self, Val};
use callhook_collector::{Collector, CollectorOptions, Source};
use serde_json::{json, Value};

use common::*;

fn options(s: &TestServer, db: &std::path::Path) -> CollectorOptions {
    let source = Source::callhook(s.base(), s.dir.path()).expect("credentials.json");
    let mut o = CollectorOptions::new(source, db.join("collector.db").display().to_string());
    o.concurrency = 8;
    o
}

async fn collector(s: &TestServer, db: &std::path::Path) -> Arc<Collector> {
    Arc::new(
        Collector::new(options(s, db))
            .await
            .expect("collector starts"),
    )
}

async fn simulate(s: &TestServer, calls: usize, seed: u64) {
    callhook_sim::run(callhook_sim::SimulateOptions {
        url: s.base().to_string(),
        data_dir: s.dir.path().to_path_buf(),
        calls,
        users: 12,
        seed: Some(seed),
        update_fraction: 0.3,
        concurrency: 2,
        ..Default::default()
    })
    .await
    .unwrap_or_else(|e| panic!("simulate: {e:#}"));
}

/// GET that waits out the server's chaos and throttling (429/503 with Retry-After).
async fn get_ok(s: &TestServer, url: &str, token: &str) -> Value {
    for _ in 0..50 {
        let a = s.get(url, token).await;
        match a.status.as_u16() {
            200 => return a.json,
            429 | 503 => {
                let secs = a
                    .header("retry-after")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1);
                tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
            }
            _ => panic!("GET {url}: {} {}", a.status, a.text),
        }
    }
    panic!("GET {url}: still refused after 50 attempts");
}

async fn pages(s: &TestServer, first: &str, token: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut next = Some(first.to_string());
    while let Some(url) = next {
        let page = get_ok(s, &url, token).await;
        items.extend(page["value"].as_array().cloned().unwrap_or_default());
        next = page["@odata.nextLink"].as_str().map(str::to_string);
    }
    items
}

/// Every record the API lists, complete: sessions with segments (nested pages followed) and
/// every participants_v2 page, read with the test's own HTTP client.
async fn api_records(s: &TestServer) -> Vec<Value> {
    let token = s.token().await;
    let list = pages(s, "/v1.0/communications/callRecords?$select=id", &token).await;
    let mut out = Vec::new();
    for item in list {
        let id = item["id"].as_str().expect("id").to_string();
        let mut record = get_ok(
            s,
            &format!("/v1.0/communications/callRecords/{id}?$expand=sessions($expand=segments)"),
            &token,
        )
        .await;
        let mut sessions = record["sessions"].as_array().cloned().unwrap_or_default();
        if let Some(next) = record["sessions@odata.nextLink"].as_str() {
            sessions.extend(pages(s, next, &token).await);
        }
        let participants = pages(
            s,
            &format!("/v1.0/communications/callRecords/{id}/participants_v2"),
            &token,
        )
        .await;
        record["sessions"] = Value::Array(sessions);
        record["participants_v2"] = Value::Array(participants);
        out.push(record);
    }
    out
}

/// Without OData annotations, which differ by request.
fn strip(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.contains("@odata.context") && !k.contains("@odata.nextLink"))
                .map(|(k, v)| (k.clone(), strip(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip).collect()),
        other => other.clone(),
    }
}

fn sorted(mut rows: Vec<Vec<Val>>) -> Vec<String> {
    let mut out: Vec<String> = rows.drain(..).map(|r| format!("{r:?}")).collect();
    out.sort();
    out
}

/// The collector's database holds exactly the API's records, field by field.
async fn assert_same(s: &TestServer, c: &Collector) {
    let tenant = s.tenant().to_string();
    let api = api_records(s).await;
    let counts = c.store.counts(&tenant).await.expect("counts");
    assert_eq!(counts.calls, api.len() as i64, "calls");
    assert_eq!(counts.queued, 0, "queue drained");
    let (mut sessions, mut streams, mut participants) = (0, 0, 0);
    for record in &api {
        let id = record["id"].as_str().expect("id");
        let stored = c
            .store
            .record_json(&tenant, id)
            .await
            .expect("read")
            .expect("stored");
        assert_eq!(
            strip(&stored),
            strip(record),
            "record {id} differs from the API's"
        );
        let flat = flatten::flatten(&tenant, record);
        for (table, cols, rows) in [
            ("call_sessions", flatten::session_columns(), flat.sessions),
            ("call_segments", flatten::segment_columns(), flat.segments),
            ("call_streams", flatten::stream_columns(), flat.streams),
            (
                "call_participants",
                flatten::participant_columns(),
                flat.participants,
            ),
        ] {
            let db = c.store.rows(table, cols, &tenant, id).await.expect("rows");
            assert_eq!(sorted(db), sorted(rows), "{table} of {id}");
        }
        sessions += record["sessions"].as_array().map_or(0, Vec::len);
        participants += record["participants_v2"].as_array().map_or(0, Vec::len);
        streams += flatten::flatten(&tenant, record).streams.len();
    }
    assert_eq!(counts.sessions, sessions as i64);
    assert_eq!(counts.streams, streams as i64);
    assert_eq!(counts.participants, participants as i64);
}

#[tokio::test]
async fn a_backfill_stores_exactly_the_servers_records_and_a_second_one_only_what_changed() {
    let s = start().await;
    simulate(&s, 40, 7).await;
    let db = tempfile::tempdir().expect("tempdir");
    let c = collector(&s, db.path()).await;
    let (swept, drained) = c.backfill().await.expect("backfill");
    assert_eq!(swept.listed, 40);
    assert_eq!(drained.stored, 40);
    assert_same(&s, &c).await;

    // A later version of one record replaces the stored one; nothing else is fetched.
    let api = api_records(&s).await;
    let mut record = api[0].clone();
    let id = record["id"].as_str().expect("id").to_string();
    let old_version = c
        .store
        .version_of(s.tenant(), &id)
        .await
        .expect("v")
        .expect("stored");
    for k in [
        "version",
        "lastModifiedDateTime",
        "@odata.context",
        "organizer_v2",
    ] {
        record.as_object_mut().expect("object").remove(k);
    }
    record["sessions"] = json!([record["sessions"][0].clone()]);
    s.put_record(&id, &record).await.expect_status(200);
    let (swept, drained) = c.backfill().await.expect("second backfill");
    assert_eq!((swept.listed, swept.queued), (40, 1));
    assert_eq!(drained.stored, 1);
    assert!(
        c.store
            .version_of(s.tenant(), &id)
            .await
            .expect("v")
            .expect("stored")
            > old_version
    );
    assert_same(&s, &c).await;
}

#[tokio::test]
async fn calls_with_more_than_60_sessions_and_130_participants_are_fetched_completely() {
    let s = start().await;
    let big = RecordBuilder::new(uuid_like(0xb16, 1))
        .sessions(75)
        .participants(140);
    let small = RecordBuilder::new(uuid_like(0xb16, 2));
    s.put_records(&[big.build(), small.build()]).await;
    let db = tempfile::tempdir().expect("tempdir");
    let c = collector(&s, db.path()).await;
    c.backfill().await.expect("backfill");
    let counts = c.store.counts(s.tenant()).await.expect("counts");
    assert_eq!(counts.calls, 2);
    assert_eq!(counts.sessions, 76);
    assert_eq!(counts.participants, 142);
    assert_same(&s, &c).await;
}

#[tokio::test]
async fn throttling_and_random_503s_are_retried_and_nothing_is_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts: ServeOptions = serve_options(dir.path()).await;
    opts.api.chaos.error_rate = 0.15;
    opts.api.throttle.enabled = true;
    opts.api.throttle.app = callhook_api::throttle::Limit::new(40, 2);
    opts.api.chaos.retry_after_secs = 1;
    let running = server::start(opts).await.expect("server");
    let creds = read_credentials(dir.path());
    let s = TestServer {
        server: running,
        dir,
        creds,
        http: reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client"),
    };
    simulate(&s, 25, 11).await;
    let db = tempfile::tempdir().expect("tempdir");
    let c = collector(&s, db.path()).await;
    c.backfill().await.expect("backfill");
    let retries = c.metrics.retries.load(std::sync::atomic::Ordering::Relaxed);
    assert!(retries > 0, "chaos at 15% must have caused retries");
    assert_same(&s, &c).await;
}

#[tokio::test]
async fn a_collector_killed_with_work_claimed_resumes_it_after_a_restart() {
    let s = start().await;
    simulate(&s, 20, 3).await;
    let db = tempfile::tempdir().expect("tempdir");
    let first = collector(&s, db.path()).await;
    first.sweep(None).await.expect("sweep");
    // The first process claims everything and dies before fetching any of it.
    let claimed = first
        .store
        .claim(
            s.tenant(),
            "killed",
            1_000,
            chrono::Utc::now(),
            chrono::Duration::hours(1),
        )
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 20);
    first.store.close().await;
    drop(first);
    let second = collector(&s, db.path()).await;
    let (_, drained) = second.backfill().await.expect("backfill");
    assert_eq!(drained.stored, 20);
    assert_same(&s, &second).await;
}

/// A webhook-mode collector listening on a free loopback port, subscribed, with sweeps only at
/// start and when asked (so notifications are what brings records in). Returns it with its
/// listener's address and the sender that stops it.
async fn webhook_collector(
    s: &TestServer,
    db: &std::path::Path,
) -> (
    Arc<Collector>,
    std::net::SocketAddr,
    tokio::sync::watch::Sender<bool>,
    tokio::sync::watch::Receiver<bool>,
) {
    let mut o = options(s, db);
    o.listen = Some("127.0.0.1:0".parse().expect("addr"));
    o.sweep_interval = std::time::Duration::from_secs(3600);
    let c = Arc::new(Collector::new(o).await.expect("collector"));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let addr = c.listen(stop_rx.clone()).await.expect("listen");
    callhook_collector::webhook::ensure_subscriptions(&c)
        .await
        .expect("subscribe");
    (c, addr, stop_tx, stop_rx)
}

/// Waits until the store holds `calls` records and nothing is queued: each store bumps
/// `stored`. The timeout only turns a hang into a failure.
async fn wait_stored(s: &TestServer, c: &Collector, calls: i64) {
    let mut stored = c.stored.subscribe();
    tokio::time::timeout(std::time::Duration::from_secs(120), async {
        loop {
            let n = c.store.counts(s.tenant()).await.expect("counts");
            if n.calls == calls && n.queued == 0 {
                break;
            }
            stored.changed().await.expect("watch");
        }
    })
    .await
    .unwrap_or_else(|_| panic!("records not stored: {}", c.metrics.render(-1)));
}

#[tokio::test]
async fn webhook_mode_subscribes_and_stores_what_notifications_announce() {
    let s = start().await;
    let db = tempfile::tempdir().expect("tempdir");
    let (c, addr, stop_tx, stop_rx) = webhook_collector(&s, db.path()).await;
    let subs = c.store.subscriptions().await.expect("subs");
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].status, "active");
    let runner = tokio::spawn(c.clone().run(stop_rx));

    simulate(&s, 15, 5).await;
    let total = api_records(&s).await.len();
    wait_stored(&s, &c, total as i64).await;
    assert!(
        c.metrics
            .notifications_received
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    );
    assert_same(&s, &c).await;

    // Refusals: wrong clientState, unknown subscription, malformed JSON; the handshake echoes.
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let url = format!("http://{addr}/notifications");
    let sub_id = subs[0].subscription_id.clone().expect("id");
    let note = |sub: &str, state: &str| {
        json!({"value": [{"subscriptionId": sub, "clientState": state,
        "changeType": "created", "resource": "communications/callRecords/x",
        "resourceData": {"id": "never-stored"}}]})
    };
    let post = |body: String| {
        http.post(&url)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    assert_eq!(
        post(note(&sub_id, "wrong").to_string())
            .await
            .expect("post")
            .status(),
        403
    );
    assert_eq!(
        post(note("other", &subs[0].client_state).to_string())
            .await
            .expect("post")
            .status(),
        403
    );
    assert_eq!(post("{not json".into()).await.expect("post").status(), 400);
    let h = http
        .post(format!("{url}?validationToken=abc%20def"))
        .send()
        .await
        .expect("post");
    assert_eq!(h.status(), 200);
    assert_eq!(h.text().await.expect("text"), "abc def");
    assert_eq!(c.store.counts(s.tenant()).await.expect("counts").queued, 0);
    let metrics = http
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("metrics");
    let text = metrics.text().await.expect("text");
    assert!(
        text.contains("callhook_collector_notifications_refused_total 3"),
        "{text}"
    );

    stop_tx.send(true).expect("stop");
    runner.await.expect("join").expect("run");
}

#[tokio::test]
async fn report_functions_are_stored_by_day() {
    let s = start().await;
    simulate(&s, 60, 21).await;
    let db = tempfile::tempdir().expect("tempdir");
    let c = collector(&s, db.path()).await;
    let now = chrono::Utc::now();
    let stored = callhook_collector::reports::collect_reports(&c.graph, &c.store, &[], now)
        .await
        .expect("reports");
    let token = s.token().await;
    let from = (now - chrono::Duration::days(89)).format("%Y-%m-%dT00:00:00Z");
    let to = (now + chrono::Duration::days(1)).format("%Y-%m-%dT00:00:00Z");
    let mut total = 0;
    for (function, version, table) in [
        ("getPstnCalls", "v1.0", "pstn_calls"),
        ("getDirectRoutingCalls", "v1.0", "direct_routing_calls"),
        ("getSmsLog", "beta", "sms_log"),
    ] {
        let (rows, _) = s
            .collect_pages(
                &format!("/{version}/communications/callRecords/{function}(fromDateTime={from},toDateTime={to})"),
                &token,
                &[],
            )
            .await;
        let n = c.store.count(table, s.tenant()).await.expect("count");
        assert_eq!(n, rows.len() as i64, "{function}");
        total += rows.len();
    }
    assert!(total > 0, "the simulator made PSTN or direct-routing rows");
    assert!(stored as usize >= total);
    // A second pass stores nothing twice.
    callhook_collector::reports::collect_reports(&c.graph, &c.store, &[], now)
        .await
        .expect("reports again");
    assert_eq!(c.store.count("pstn_calls", s.tenant()).await.expect("count") as usize,
        s.collect_pages(&format!("/v1.0/communications/callRecords/getPstnCalls(fromDateTime={from},toDateTime={to})"), &token, &[]).await.0.len());
}

#[tokio::test]
async fn wrong_credentials_fail_at_start_with_what_is_wrong() {
    let s = start().await;
    let db = tempfile::tempdir().expect("tempdir");
    let mut o = options(&s, db.path());
    o.source.credential = callhook_collector::auth::Credential::Secret("not the secret".into());
    let err = match Collector::new(o).await {
        Ok(_) => panic!("wrong secret accepted"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("secret") || err.contains("credentials"),
        "{err}"
    );
}

#[tokio::test]
async fn two_collectors_on_one_postgresql_database_share_the_work() {
    let Some(url) =
        postgres_database_or_skip("two_collectors_on_one_postgresql_database_share_the_work").await
    else {
        return;
    };
    let s = start().await;
    simulate(&s, 40, 13).await;
    let mut o = options(&s, std::path::Path::new("/nonexistent"));
    o.database = url;
    let a = Arc::new(Collector::new(o.clone()).await.expect("a"));
    let b = Arc::new(Collector::new(o).await.expect("b"));
    a.sweep(None).await.expect("sweep");
    let (_keep, stop) = tokio::sync::watch::channel(false);
    let (ra, rb) = tokio::join!(a.drain(true, stop.clone(), None), b.drain(true, stop, None));
    let (ra, rb) = (ra.expect("a drains"), rb.expect("b drains"));
    assert_eq!(
        ra.stored + rb.stored,
        40,
        "each record stored once: {ra:?} {rb:?}"
    );
    assert_same(&s, &a).await;
}

#[tokio::test]
async fn lifecycle_events_reauthorize_recreate_and_backfill() {
    let s = start().await;
    let db = tempfile::tempdir().expect("tempdir");
    let (c, _, stop_tx, stop_rx) = webhook_collector(&s, db.path()).await;
    let first = c.store.subscriptions().await.expect("subs")[0].clone();
    let first_id = first.subscription_id.clone().expect("id");
    let mut lifecycles = c.lifecycle_done.subscribe();
    let runner = tokio::spawn(c.clone().run(stop_rx));
    let control = |path: String| {
        s.http
            .post(format!("{}/_callhook/{path}", s.base()))
            .bearer_auth(&s.creds.ingest_key)
    };
    let fire = |id: &str, event: &str| {
        control(format!("subscriptions/{id}/lifecycle")).json(&json!({ "lifecycleEvent": event }))
    };

    let a = fire(&first_id, "reauthorizationRequired")
        .send()
        .await
        .expect("fire");
    assert_eq!(a.status().as_u16(), 202);
    lifecycles
        .wait_for(|n| *n >= 1)
        .await
        .expect("reauthorized");
    assert_eq!(
        c.store.subscriptions().await.expect("subs")[0].subscription_id,
        Some(first_id.clone())
    );

    let a = fire(&first_id, "subscriptionRemoved")
        .send()
        .await
        .expect("fire");
    assert_eq!(a.status().as_u16(), 202);
    lifecycles.wait_for(|n| *n >= 2).await.expect("recreated");
    let subs = c.store.subscriptions().await.expect("subs");
    assert_eq!(subs.len(), 1, "{subs:?}");
    let second = subs[0].subscription_id.clone().expect("new id");
    assert_ne!(second, first_id, "a removed subscription is recreated");
    assert_ne!(
        subs[0].client_state, first.client_state,
        "with a new clientState"
    );

    // Delivery paused while calls pile up, then `missed`: the backfill it starts and the
    // resumed notifications race, and each record is still stored exactly once.
    assert!(control("delivery/pause".into())
        .send()
        .await
        .expect("pause")
        .status()
        .is_success());
    simulate(&s, 8, 9).await;
    assert!(control("delivery/resume".into())
        .send()
        .await
        .expect("resume")
        .status()
        .is_success());
    let mut swept = c.swept.subscribe();
    lifecycles.wait_for(|n| *n >= 2).await.expect("recreated");
    let sweeps_before = *swept.borrow_and_update();
    let a = fire(&second, "missed").send().await.expect("fire");
    assert_eq!(a.status().as_u16(), 202);
    wait_stored(&s, &c, 8).await;
    lifecycles
        .wait_for(|n| *n >= 3)
        .await
        .expect("missed handled");
    // `missed` started a sweep (the backfill) that completed.
    swept
        .wait_for(|n| *n > sweeps_before)
        .await
        .expect("a sweep after missed");
    assert_same(&s, &c).await;
    stop_tx.send(true).expect("stop");
    runner.await.expect("join").expect("run");
}

#[tokio::test]
async fn the_command_backfills_from_a_local_callhook_and_status_reports_it() {
    let s = start().await;
    simulate(&s, 12, 17).await;
    let data = tempfile::tempdir().expect("tempdir");
    let run = |args: Vec<String>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_callhook"));
        cmd.arg("collect")
            .args(args)
            .env_remove("CALLHOOK_COLLECT_DATABASE_URL");
        cmd
    };
    let dir = data.path().display().to_string();
    let out = tokio::task::spawn_blocking({
        let mut cmd = run(vec![
            "--callhook-dir".into(),
            s.dir.path().display().to_string(),
            "--callhook-url".into(),
            s.base().to_string(),
            "--data-dir".into(),
            dir.clone(),
            "--once".into(),
        ]);
        move || cmd.output().expect("run callhook collect")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("listed 12 records, queued 12; stored 12"),
        "{stdout}"
    );
    let out = tokio::task::spawn_blocking({
        let mut cmd = run(vec!["status".into(), "--data-dir".into(), dir]);
        move || cmd.output().expect("run status")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("queue: 0 records to fetch"), "{stdout}");
    assert!(
        stdout.contains(&format!("tenant {}: 12 calls", s.tenant())),
        "{stdout}"
    );
    assert!(stdout.contains("sweep:finished"), "{stdout}");
}

#[tokio::test]
async fn an_unreachable_public_url_says_what_to_check() {
    let s = start().await;
    let db = tempfile::tempdir().expect("tempdir");
    let mut o = options(&s, db.path());
    o.listen = Some("127.0.0.1:0".parse().expect("addr"));
    // A port nothing listens on: Graph's validation request cannot reach the collector.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead_port = dead.local_addr().expect("addr").port();
    drop(dead);
    o.public_url = Some(format!("http://127.0.0.1:{dead_port}"));
    let c = Arc::new(Collector::new(o).await.expect("collector"));
    let (_stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    c.listen(stop_rx).await.expect("listen");
    let err = callhook_collector::webhook::ensure_subscriptions(&c)
        .await
        .expect_err("no subscription without a reachable URL")
        .to_string();
    assert!(err.contains("--public-url"), "{err}");
    assert!(
        err.contains(&format!("127.0.0.1:{dead_port}/notifications")),
        "{err}"
    );
    assert!(c.store.subscriptions().await.expect("subs").is_empty());
}

#[tokio::test]
async fn a_record_graph_no_longer_has_is_noted_as_gone() {
    let s = start().await;
    s.put_records(&[RecordBuilder::new(uuid_like(0x90e, 1)).build()])
        .await;
    let db = tempfile::tempdir().expect("tempdir");
    let c = collector(&s, db.path()).await;
    // A notification for a record past retention (or never there): Graph answers 404.
    c.store
        .enqueue(s.tenant(), &[uuid_like(0x90e, 2)], chrono::Utc::now())
        .await
        .expect("enqueue");
    let (_, drained) = c.backfill().await.expect("backfill");
    assert_eq!((drained.stored, drained.gone), (1, 1));
    let counts = c.store.counts(s.tenant()).await.expect("counts");
    assert_eq!((counts.calls, counts.gone, counts.queued), (1, 1, 0));
}
