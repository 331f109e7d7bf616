//! The driver against a tiny recording server on loopback: batching, auth, order, retries,
//! seeds, and error reporting.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use callhook_sim::{generate, run, SimConfig, SimPlan, SimulateOptions};
use chrono::{TimeZone, Utc};
use serde_json::{json, Value};

mod common;

use common::{data_dir, serve, KEY, TENANT};

#[derive(Clone, Debug)]
struct Seen {
    method: Method,
    path: String,
    auth: String,
    body: Value,
}

#[derive(Clone, Default)]
struct Server {
    seen: Arc<Mutex<Vec<Seen>>>,
    /// How many record batches to refuse with 429 before accepting.
    throttle: Arc<AtomicUsize>,
    /// Refuse report uploads with a 400 error body.
    reject_reports: bool,
}

async fn handle(
    state: axum::extract::State<Server>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let path = uri.path().to_string();
    if path == "/healthz" || path == format!("/_callhook/admin/tenants/{TENANT}") {
        return axum::Json(json!({"id": TENANT})).into_response();
    }
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let prefix = format!("/ingest/v1/tenants/{TENANT}/");
    let Some(rest) = path.strip_prefix(&prefix).map(str::to_string) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if rest == "callRecords" && method == Method::POST {
        let left = state.throttle.load(Ordering::SeqCst);
        if left > 0 {
            state.throttle.store(left - 1, Ordering::SeqCst);
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "0")],
                "slow down",
            )
                .into_response();
        }
    }
    if rest.starts_with("reports/") && state.reject_reports {
        let err = json!({"error": {"code": "BadRequest",
            "message": "value[0].startDateTime: missing required property"}});
        return (StatusCode::BAD_REQUEST, axum::Json(err)).into_response();
    }
    let n = body
        .get("value")
        .and_then(Value::as_array)
        .map(Vec::len)
        .unwrap_or(0);
    let answer = if rest == "callRecords" {
        let ids: Vec<Value> = body["value"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| json!({"id": r["id"], "version": 1, "lastModifiedDateTime": "2026-03-12T15:30:00Z"}))
            .collect();
        json!({ "value": ids })
    } else if rest.starts_with("reports/") {
        json!({ "accepted": n })
    } else {
        json!({})
    };
    state
        .seen
        .lock()
        .map(|mut s| {
            s.push(Seen {
                method,
                path: rest,
                auth,
                body,
            })
        })
        .ok();
    axum::Json(answer).into_response()
}

async fn start(server: Server) -> String {
    serve(Router::new().fallback(handle).with_state(server)).await
}

fn options(url: String, dir: PathBuf) -> SimulateOptions {
    SimulateOptions {
        url,
        data_dir: dir,
        calls: 250,
        users: 1_100,
        seed: Some(4),
        update_fraction: 0.4,
        now: Utc.with_ymd_and_hms(2026, 3, 12, 15, 30, 0).single(),
        concurrency: 3,
        ..SimulateOptions::default()
    }
}

fn plan_of(opts: &SimulateOptions) -> SimPlan {
    generate(&SimConfig {
        calls: opts.calls,
        seed: opts.seed.unwrap_or_default(),
        users: opts.users,
        days: opts.days,
        update_fraction: opts.update_fraction,
        now: opts.now.unwrap_or_default(),
        tenant_id: TENANT.into(),
        domain: opts.domain.clone(),
        emergency_calls: opts.emergency_calls,
    })
}

/// Every call record body the server saw, in arrival order.
fn record_bodies(seen: &[Seen]) -> Vec<&Value> {
    seen.iter()
        .filter(|s| s.path == "callRecords" && s.method == Method::POST)
        .flat_map(|s| s.body["value"].as_array().into_iter().flatten())
        .collect()
}

#[tokio::test]
async fn sends_users_first_then_everything_in_batches_with_auth_and_versions_in_order() {
    let server = Server {
        throttle: Arc::new(AtomicUsize::new(2)),
        ..Server::default()
    };
    let url = start(server.clone()).await;
    let opts = options(url, data_dir("ok"));
    let summary = run(opts.clone()).await.unwrap_or_else(|e| panic!("{e:#}"));
    let seen = server.seen.lock().map(|s| s.clone()).unwrap_or_default();

    assert!(seen.iter().all(|s| s.auth == format!("Bearer {KEY}")));
    // The directory is complete before anything refers to it.
    let first_other = seen
        .iter()
        .position(|s| s.path != "users" && !s.path.starts_with("emergencyPolicies/"));
    let last_user = seen.iter().rposition(|s| s.path == "users");
    assert!(last_user < first_other, "users after other requests");

    let batches = |p: &str| {
        seen.iter()
            .filter(|s| s.path == p)
            .map(|s| s.body["value"].as_array().map(Vec::len).unwrap_or(0))
            .collect::<Vec<_>>()
    };
    let mut users = batches("users");
    users.sort_unstable();
    assert_eq!(users, vec![100, 1000]);
    let plan = plan_of(&opts);
    let record_batches = batches("callRecords");
    assert!(record_batches.iter().all(|n| *n <= 100));
    // Versions 1 and the corrections all go through the batch route: no single PUTs.
    assert_eq!(
        record_batches.iter().sum::<usize>(),
        plan.call_records.len() + plan.updates.len()
    );
    assert!(!seen
        .iter()
        .any(|s| s.method == Method::PUT && s.path.starts_with("callRecords/")));
    assert!(record_batches.len() < (250 + plan.updates.len()) / 50);

    // What arrived is exactly the plan the same configuration generates, and each record's
    // versions arrived in order: version 1, then its corrections as generated.
    let mut got: HashMap<&str, Vec<&Value>> = HashMap::new();
    for r in record_bodies(&seen) {
        got.entry(r["id"].as_str().unwrap_or_default())
            .or_default()
            .push(r);
    }
    let mut want: HashMap<&str, Vec<&Value>> = HashMap::new();
    for r in plan.call_records.iter().chain(&plan.updates) {
        want.entry(r["id"].as_str().unwrap_or_default())
            .or_default()
            .push(r);
    }
    assert_eq!(got.len(), 250);
    assert!(
        got == want,
        "records or their versions differ from the plan"
    );

    let rows = |r: &str| batches(&format!("reports/{r}")).iter().sum::<usize>();
    assert_eq!(rows("pstnCalls"), plan.pstn_calls.len());
    assert_eq!(rows("directRoutingCalls"), plan.direct_routing_calls.len());
    assert_eq!(rows("smsLog"), plan.sms_log.len());
    assert_eq!(rows("pstnBlockedUsersLog"), plan.pstn_blocked_users.len());
    assert_eq!(rows("pstnOnlineMeetingDialout"), plan.dialout_usage.len());

    // 250 calls: one is an emergency call, its policy sent first and its event last.
    assert_eq!(plan.emergency_call_events.len(), 1);
    let policies: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.path.starts_with("emergencyPolicies/"))
        .collect();
    assert_eq!(policies.len(), 1);
    assert_eq!(policies[0].method, Method::PUT);
    assert_eq!(policies[0].path, "emergencyPolicies/Global");
    assert_eq!(policies[0].body, plan.emergency_policies[0]);
    assert_eq!(
        seen.first().map(|s| s.path.as_str()),
        Some("emergencyPolicies/Global")
    );
    assert_eq!(batches("emergencyCallEvents"), vec![1]);
    assert_eq!(
        seen.last().map(|s| &s.body["value"][0]),
        Some(&plan.emergency_call_events[0])
    );

    // Call events arrive in batches, in time order.
    let events: Vec<&Value> = seen
        .iter()
        .filter(|s| s.path == "callEvents")
        .flat_map(|s| s.body["value"].as_array().into_iter().flatten())
        .collect();
    assert_eq!(events, plan.call_events.iter().collect::<Vec<_>>());
    // A meeting is stored before its transcripts and recordings, and an artifact's metadata
    // before its content.
    let at = |p: &str| seen.iter().position(|s| s.path == p);
    for a in &plan.artifacts {
        let parent: Vec<&str> = a.path.splitn(3, '/').take(2).collect();
        let (parent, meta, content) = (
            at(&parent.join("/")),
            at(&a.path),
            at(&format!("{}/content", a.path)),
        );
        assert!(
            parent.is_some() && parent < meta && meta < content,
            "{}",
            a.path
        );
    }

    assert_eq!(summary.records.total, 250);
    assert_eq!(summary.updates, plan.updates.len());
    assert_eq!(summary.retries, 2);
    assert_eq!(summary.seed, 4);
    assert_eq!(summary.tenant_id, TENANT);
    // The two checks before the run (health and tenant) are not counted.
    assert_eq!(summary.requests, seen.len());
    assert!(summary.to_string().contains("250 call records"));
    assert!(summary.to_string().contains("--seed 4"));
}

#[tokio::test]
async fn runs_without_a_seed_make_new_calls_and_a_seed_repeats_them() {
    let ids_of = |server: &Server| -> Vec<String> {
        let seen = server.seen.lock().map(|s| s.clone()).unwrap_or_default();
        let mut ids: Vec<String> = record_bodies(&seen)
            .iter()
            .filter_map(|r| r["id"].as_str().map(str::to_string))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    };
    let mut runs = Vec::new();
    for seed in [None, None, Some(99), Some(99)] {
        let server = Server::default();
        let url = start(server.clone()).await;
        let mut opts = options(url, data_dir("seeds"));
        opts.calls = 40;
        opts.users = 20;
        opts.seed = seed;
        let summary = run(opts).await.unwrap_or_else(|e| panic!("{e:#}"));
        if let Some(s) = seed {
            assert_eq!(summary.seed, s);
        }
        runs.push((summary.seed, ids_of(&server)));
    }
    assert_eq!(runs[0].1.len(), 40);
    assert_ne!(runs[0].0, runs[1].0, "two runs drew the same seed");
    assert!(
        runs[0].1.iter().all(|id| !runs[1].1.contains(id)),
        "a re-run without --seed repeated record ids"
    );
    assert_eq!(runs[2].1, runs[3].1);
    assert!(!runs[2].1.is_empty());
}

#[tokio::test]
async fn the_summary_time_covers_the_whole_run_generation_included() {
    let server = Server::default();
    let url = start(server.clone()).await;
    let mut opts = options(url, data_dir("time"));
    opts.calls = 1_500;
    opts.users = 100;
    let opts_calls = opts.calls;
    let wall = std::time::Instant::now();
    let summary = run(opts).await.unwrap_or_else(|e| panic!("{e:#}"));
    let wall = wall.elapsed().as_secs_f64();
    // More calls than one part: every part's records arrived, each once.
    assert!(opts_calls > callhook_sim::PART_CALLS);
    let seen = server.seen.lock().map(|s| s.clone()).unwrap_or_default();
    let ids: std::collections::HashSet<&str> = record_bodies(&seen)
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(ids.len(), opts_calls);
    assert_eq!(summary.records.total, opts_calls);
    assert!(summary.generate_seconds > 0.0);
    assert!(summary.elapsed_seconds > summary.generate_seconds);
    assert!(summary.elapsed_seconds <= wall);
    assert!(
        wall - summary.elapsed_seconds < 0.2,
        "the summary says {:.2} s of a {wall:.2} s run",
        summary.elapsed_seconds
    );
    let json = serde_json::to_value(&summary).unwrap_or_default();
    assert_eq!(json["elapsedSeconds"], json!(summary.elapsed_seconds));
    assert!(json["generateSeconds"].as_f64().is_some());
}

#[tokio::test]
async fn a_refused_connection_asks_whether_the_server_runs() {
    // A port nobody listens on: bound, then released.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let port = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("{e}"))
        .port();
    drop(listener);
    let url = format!("http://127.0.0.1:{port}");
    let err = run(options(url.clone(), data_dir("refused")))
        .await
        .err()
        .map(|e| format!("{e:#}"))
        .unwrap_or_default();
    assert!(
        err.contains(&format!("is `callhook serve` running at {url}?")),
        "{err}"
    );
}

#[tokio::test]
async fn a_client_error_stops_the_run_and_reports_the_server_body() {
    let server = Server {
        reject_reports: true,
        ..Server::default()
    };
    let url = start(server.clone()).await;
    let err = run(options(url, data_dir("bad")))
        .await
        .err()
        .map(|e| format!("{e:#}"))
        .unwrap_or_default();
    assert!(err.contains("400"), "{err}");
    assert!(err.contains("missing required property"), "{err}");
}

#[tokio::test]
async fn missing_credentials_are_reported_with_their_path() {
    let dir = std::env::temp_dir().join(format!("callhook-sim-none-{}", std::process::id()));
    let opts = options("http://127.0.0.1:9".into(), dir);
    let err = run(opts)
        .await
        .err()
        .map(|e| format!("{e:#}"))
        .unwrap_or_default();
    assert!(err.contains("credentials.json"), "{err}");
    assert!(err.contains("--data-dir"), "{err}");
}
