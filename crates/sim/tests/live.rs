//! Live mode against a loopback server whose manual clock moves one minute each time the
//! simulator reads it: what arrives, in which order, at which server time. Deterministic: the
//! clock moves only when read, never with wall time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use callhook_sim::{run, Delay, LiveOptions, SimulateOptions};
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{json, Value};

mod common;

use common::{data_dir, serve, TENANT};

#[derive(Clone, Debug)]
struct Arrival {
    path: String,
    body: Value,
    /// The server's time when the request came in.
    at: DateTime<Utc>,
}

#[derive(Clone)]
struct Server {
    now: Arc<Mutex<DateTime<Utc>>>,
    seen: Arc<Mutex<Vec<Arrival>>>,
}

async fn handle(
    state: axum::extract::State<Server>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let mut now = state.now.lock().unwrap_or_else(|e| e.into_inner());
    if path == "/_callhook/clock" {
        *now += Duration::minutes(1);
        return axum::Json(json!({"now": now.to_rfc3339(), "manual": true})).into_response();
    }
    if path == "/healthz" || path == format!("/_callhook/admin/tenants/{TENANT}") {
        return axum::Json(json!({"id": TENANT})).into_response();
    }
    let rest = path
        .strip_prefix(&format!("/ingest/v1/tenants/{TENANT}/"))
        .unwrap_or(&path)
        .to_string();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let answer = if rest == "callRecords" && method == Method::POST {
        let ids: Vec<Value> = body["value"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| json!({"id": r["id"], "version": 1}))
            .collect();
        json!({ "value": ids })
    } else {
        json!({})
    };
    let at = *now;
    drop(now);
    state
        .seen
        .lock()
        .map(|mut s| {
            s.push(Arrival {
                path: rest,
                body,
                at,
            })
        })
        .ok();
    axum::Json(answer).into_response()
}

async fn start(server: Server) -> String {
    serve(Router::new().fallback(handle).with_state(server)).await
}

/// Where a record version arrived: request index, server time, the call's end.
type Seen = (usize, DateTime<Utc>, DateTime<Utc>);

fn time(v: &Value, key: &str) -> DateTime<Utc> {
    v[key]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{key} in {v}"))
}

fn items(a: &Arrival) -> Vec<&Value> {
    match a.body.get("value").and_then(Value::as_array) {
        Some(v) => v.iter().collect(),
        None => vec![&a.body],
    }
}

#[tokio::test]
async fn a_live_run_follows_the_server_clock_with_graphs_delays_and_order() {
    let t0 = Utc
        .with_ymd_and_hms(2026, 3, 10, 9, 0, 0)
        .single()
        .unwrap_or_default();
    let server = Server {
        now: Arc::new(Mutex::new(t0)),
        seen: Arc::new(Mutex::new(Vec::new())),
    };
    let url = start(server.clone()).await;
    let record_delay = Delay {
        min_minutes: 5.0,
        mean_minutes: 15.0,
        max_minutes: 40.0,
    };
    let version_delay = Delay {
        min_minutes: 10.0,
        mean_minutes: 20.0,
        max_minutes: 60.0,
    };
    let opts = SimulateOptions {
        url,
        data_dir: data_dir("live"),
        users: 20,
        seed: Some(9),
        update_fraction: 0.5,
        concurrency: 2,
        live: Some(LiveOptions {
            rate_per_minute: 1.0,
            duration: Some(Duration::minutes(30)),
            record_delay,
            version_delay,
            tick: std::time::Duration::ZERO,
            ..LiveOptions::default()
        }),
        ..SimulateOptions::default()
    };
    let summary = run(opts).await.unwrap_or_else(|e| panic!("{e:#}"));
    let seen = server.seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert!(summary.records.total >= 10, "{}", summary.records.total);

    // Calls start in the run's 30 minutes; the directory comes first.
    assert_eq!(seen.first().map(|a| a.path.as_str()), Some("users"));
    // Per record: (request index, arrival, the call's end) of each version.
    let mut position: HashMap<String, Vec<Seen>> = HashMap::new();
    let mut record_times = std::collections::BTreeSet::new();
    for (i, a) in seen.iter().enumerate() {
        for item in items(a) {
            match a.path.as_str() {
                "callEvents" => {
                    // Never before it happened.
                    assert!(a.at >= time(item, "eventDateTime"), "{item}");
                }
                "callRecords" => {
                    let id = item["id"].as_str().unwrap_or_default().to_string();
                    let start = time(item, "startDateTime");
                    assert!(
                        start >= t0 - Duration::minutes(3) && start < t0 + Duration::minutes(32),
                        "{start}"
                    );
                    position
                        .entry(id)
                        .or_default()
                        .push((i, a.at, time(item, "endDateTime")));
                    record_times.insert(a.at);
                }
                p if p.starts_with("reports/") => {
                    let t = ["endDateTime", "failureDateTime", "startDateTime"]
                        .iter()
                        .find_map(|k| {
                            item[*k]
                                .as_str()
                                .and_then(|s| s.parse::<DateTime<Utc>>().ok())
                        });
                    if let Some(t) = t {
                        assert!(
                            a.at >= t + Duration::minutes(60),
                            "{p} row at {} for {t}",
                            a.at
                        );
                    }
                }
                _ => {}
            }
        }
    }
    assert!(!position.is_empty());
    let mut versions = 0;
    for (id, arrivals) in &position {
        let (first, at, end) = arrivals[0];
        // Version 1 after Graph's latency, within the configured range (the clock moves a
        // minute per read, so arrival is up to two minutes after the moment it was due).
        let delay = at - end;
        assert!(delay >= Duration::minutes(5), "{id}: {delay}");
        assert!(delay <= Duration::minutes(42), "{id}: {delay}");
        // Every event of the call came first.
        for (j, a) in seen.iter().enumerate().skip(first) {
            if a.path == "callEvents" {
                for e in items(a) {
                    let t = time(e, "eventDateTime");
                    assert!(t > end || j < first, "{id}: event at {t} after its record");
                }
            }
        }
        // Later versions after that, each after the configured delay.
        for w in arrivals.windows(2) {
            assert!(w[1].0 > w[0].0);
            assert!(w[1].1 - w[0].1 >= Duration::minutes(10), "{id}");
            versions += 1;
        }
    }
    assert!(versions > 0, "some records get later versions");
    // Not all at once.
    assert!(record_times.len() >= 5, "{record_times:?}");
}
