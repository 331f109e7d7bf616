//! The driver against a tiny recording server on loopback: batching, auth, order, retries,
//! and error reporting.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use callhook_sim::{generate, run, SimConfig, SimulateOptions};
use chrono::{TimeZone, Utc};
use serde_json::{json, Value};

const TENANT: &str = "11111111-2222-3333-4444-555555555555";
const KEY: &str = "test-ingest-key";

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
    // The real server accepts bodies up to 8 MiB.
    let app = Router::new()
        .fallback(handle)
        .layer(axum::extract::DefaultBodyLimit::max(8 * 1024 * 1024))
        .with_state(server);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("addr: {e}"));
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    format!("http://{addr}")
}

fn data_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("callhook-sim-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let creds = json!({"tenantId": TENANT, "clientId": "c", "clientSecret": "s", "ingestKey": KEY});
    std::fs::write(dir.join("credentials.json"), creds.to_string())
        .unwrap_or_else(|e| panic!("{e}"));
    dir
}

fn options(url: String, dir: PathBuf) -> SimulateOptions {
    SimulateOptions {
        url,
        data_dir: dir,
        calls: 250,
        users: 1_100,
        seed: 4,
        update_fraction: 0.4,
        now: Utc.with_ymd_and_hms(2026, 3, 12, 15, 30, 0).single(),
        concurrency: 3,
        ..SimulateOptions::default()
    }
}

#[tokio::test]
async fn sends_users_records_reports_then_corrections_in_batches_with_auth() {
    let server = Server {
        throttle: Arc::new(AtomicUsize::new(2)),
        ..Server::default()
    };
    let url = start(server.clone()).await;
    let opts = options(url, data_dir("ok"));
    let summary = run(opts.clone()).await.unwrap_or_else(|e| panic!("{e:#}"));
    let seen = server.seen.lock().map(|s| s.clone()).unwrap_or_default();

    assert!(seen.iter().all(|s| s.auth == format!("Bearer {KEY}")));
    // Phases in order: emergency policies, users, records, reports, corrections (and the
    // rest), emergency call events last.
    let phase = |s: &Seen| match s.path.as_str() {
        p if p.starts_with("emergencyPolicies/") => 0,
        "users" => 1,
        "callRecords" => 2,
        p if p.starts_with("reports/") => 3,
        "emergencyCallEvents" => 5,
        _ => 4,
    };
    assert!(seen.windows(2).all(|w| phase(&w[0]) <= phase(&w[1])));

    let batches = |p: &str| {
        seen.iter()
            .filter(|s| s.path == p)
            .map(|s| s.body["value"].as_array().map(Vec::len).unwrap_or(0))
            .collect::<Vec<_>>()
    };
    let mut users = batches("users");
    users.sort_unstable();
    assert_eq!(users, vec![100, 1000]);
    let record_batches = batches("callRecords");
    assert!(record_batches.iter().all(|n| *n <= 100));
    assert_eq!(record_batches.iter().sum::<usize>(), 250);

    // What arrived is exactly the plan the same configuration generates.
    let plan = generate(&SimConfig {
        calls: opts.calls,
        seed: opts.seed,
        users: opts.users,
        days: opts.days,
        update_fraction: opts.update_fraction,
        now: opts.now.unwrap_or_default(),
        tenant_id: TENANT.into(),
        domain: opts.domain.clone(),
        emergency_calls: opts.emergency_calls,
    });
    let mut sent_ids: Vec<&str> = seen
        .iter()
        .filter(|s| s.path == "callRecords")
        .flat_map(|s| s.body["value"].as_array().into_iter().flatten())
        .filter_map(|r| r["id"].as_str())
        .collect();
    let mut plan_ids: Vec<&str> = plan
        .call_records
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    sent_ids.sort_unstable();
    plan_ids.sort_unstable();
    assert_eq!(sent_ids, plan_ids);

    let puts: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.method == Method::PUT && s.path.starts_with("callRecords/"))
        .collect();
    assert_eq!(puts.len(), plan.updates.len());
    for p in &puts {
        assert_eq!(
            p.path,
            format!("callRecords/{}", p.body["id"].as_str().unwrap_or_default())
        );
    }
    // A record's corrections arrive in the order they were generated.
    for (i, u) in plan.updates.iter().enumerate() {
        let id = &u["id"];
        let nth = plan.updates[..i].iter().filter(|x| &x["id"] == id).count();
        let got: Vec<&&Seen> = puts.iter().filter(|p| &p.body["id"] == id).collect();
        assert_eq!(got.get(nth).map(|p| &p.body), Some(u));
    }

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
    assert_eq!(batches("emergencyCallEvents"), vec![1]);
    assert_eq!(
        seen.last().map(|s| &s.body["value"][0]),
        Some(&plan.emergency_call_events[0])
    );

    assert_eq!(summary.records.total, 250);
    assert_eq!(summary.updates, plan.updates.len());
    assert_eq!(summary.retries, 2);
    assert_eq!(summary.requests, seen.len());
    assert!(summary.to_string().contains("250 call records"));
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
    let seen = server.seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert!(
        !seen
            .iter()
            .any(|s| s.method == Method::PUT && s.path.starts_with("callRecords/")),
        "corrections sent after a failure"
    );
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
}
