//! `callhook bench-alerts`: how fast an alert reaches its webhook through a callhook server and
//! the collector, on loopback. (1) Emergency call event ingested → alert POST received, each of
//! `events` events in turn (ceiling 2 s). (2) A simulator-staged degraded building ingested →
//! its poor-stream-rate alert received (ceiling: one evaluation interval plus the record's
//! notification and fetch), timed from the start of the simulator's ingest.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::watch;

use callhook_alerts::{Alerter, AlertsConfig};
use callhook_collector::{Collector, CollectorOptions, Source};

use crate::server::{self, ServeOptions};

const POLICY: &str = "Bench HQ";

#[derive(Clone)]
struct Hook {
    /// (arrival, body) of every POST.
    posts: Arc<Mutex<Vec<(Instant, Value)>>>,
    count: watch::Sender<usize>,
}

impl Hook {
    /// When the latest POST arrived.
    fn last_arrival(&self) -> Instant {
        self.posts
            .lock()
            .ok()
            .and_then(|p| p.last().map(|x| x.0))
            .unwrap_or_else(Instant::now)
    }
}

async fn receive(State(h): State<Hook>, body: Bytes) -> &'static str {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Ok(mut p) = h.posts.lock() {
        p.push((Instant::now(), v));
    }
    h.count.send_modify(|n| *n += 1);
    "ok"
}

/// What one run measured.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertsBench {
    pub events: usize,
    pub emergency_ms: Vec<f64>,
    pub emergency_p50_ms: f64,
    pub emergency_p95_ms: f64,
    pub emergency_max_ms: f64,
    pub emergency_ceiling_ms: f64,
    pub evaluation_interval_ms: f64,
    /// From the start of the simulator's ingest (30 calls, 20 of them in the degraded
    /// building) to the alert's POST.
    pub building_breach_ms: f64,
    /// How long that ingest took.
    pub simulate_ms: f64,
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub async fn run(events: usize, interval: Duration) -> anyhow::Result<AlertsBench> {
    let temp = tempfile::tempdir()?;
    let dir = temp.path().join("server");
    let running = server::start(ServeOptions::new("127.0.0.1:0".parse()?, dir.clone())).await?;
    let creds: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("credentials.json"))?)?;
    let tenant = creds["tenantId"].as_str().context("tenantId")?.to_string();
    let key = creds["ingestKey"]
        .as_str()
        .context("ingestKey")?
        .to_string();
    let http = reqwest::Client::builder().no_proxy().build()?;
    let ingest = |path: &str| format!("{}/ingest/v1/tenants/{tenant}/{path}", running.base_url);
    let policy = http
        .put(ingest(&format!(
            "emergencyPolicies/{}",
            POLICY.replace(' ', "%20")
        )))
        .bearer_auth(&key)
        .json(&json!({"dialStrings": ["911"]}))
        .send()
        .await?;
    anyhow::ensure!(
        policy.status().is_success(),
        "emergency policy: {}",
        policy.status()
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook_url = format!("http://{}/alerts", listener.local_addr()?);
    let hook = Hook {
        posts: Arc::default(),
        count: watch::channel(0).0,
    };
    let app = Router::new()
        .route("/alerts", post(receive))
        .with_state(hook.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    // The scenario's building file, for the breach half.
    let now = chrono::Utc::now();
    let scenario = callhook_sim::scenario::Scenario::parse(
        "[[building]]\nname = \"Bench HQ\"\nnetworks = [\"10.50.0.0/16\"]\n\
         [[incident]]\nkind = \"network\"\nbuilding = \"Bench HQ\"\nstart = \"+1320m\"\n\
         duration = \"30m\"\ncalls = 20\npacket_loss = 0.2\njitter_ms = 60\n",
    )?;
    let buildings = temp.path().join("buildings.csv");
    if let Some(b) = scenario.building_file()? {
        std::fs::write(&buildings, b.to_csv())?;
    }

    let source = Source::callhook(&running.base_url, &dir)?;
    let mut o = CollectorOptions::new(
        source,
        temp.path().join("collector.db").display().to_string(),
    );
    o.listen = Some("127.0.0.1:0".parse()?);
    o.sweep_interval = Duration::from_secs(3600);
    o.emergency_policies = vec![POLICY.to_string()];
    let c = Arc::new(Collector::new(o).await?);
    let config = AlertsConfig::parse(&format!(
        "evaluation_interval = \"{}ms\"\nbuilding_file = \"{}\"\n\
         [[channel]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{hook_url}\"\n\
         [[rule]]\nname = \"emergency\"\nkind = \"emergency\"\n\
         [[rule]]\nname = \"building\"\nkind = \"poor-stream-rate\"\nscope = \"building\"\n\
         threshold = 0.3\nwindow = \"3h\"\nmin_samples = 20\n",
        interval.as_millis(),
        buildings.display()
    ))?;
    let alerter = Alerter::new(config, c.store.clone()).await?;
    let _ = c.observer.set(alerter.clone());
    let (stop_tx, stop_rx) = watch::channel(false);
    c.listen(stop_rx.clone()).await?;
    callhook_collector::webhook::ensure_subscriptions(&c).await?;
    let runner = tokio::spawn(c.clone().run(stop_rx.clone()));
    let alerts = tokio::spawn(alerter.clone().run(stop_rx));

    let mut seen = hook.count.subscribe();
    let mut emergency_ms = Vec::new();
    for i in 0..events {
        let before = *seen.borrow_and_update();
        let event = json!({
            "id": format!("bench-{i}"), "callEventType": "callStarted",
            "eventDateTime": chrono::Utc::now().to_rfc3339(), "emergencyNumberDialed": "911",
            "callerInfo": {"displayName": format!("Caller {i}"), "upn": format!("caller{i}@contoso.example")}
        });
        let t0 = Instant::now();
        let r = http
            .post(ingest("emergencyCallEvents"))
            .bearer_auth(&key)
            .json(&json!({"value": [event]}))
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "emergency event: {}", r.status());
        tokio::time::timeout(Duration::from_secs(30), seen.wait_for(|n| *n > before))
            .await
            .context("no alert within 30 s")??;
        emergency_ms.push(hook.last_arrival().duration_since(t0).as_secs_f64() * 1000.0);
    }

    // The degraded building: the simulator ingests it, the collector is notified and fetches,
    // and the next evaluation raises the alert.
    let before = *seen.borrow_and_update();
    let t0 = Instant::now();
    callhook_sim::run(callhook_sim::SimulateOptions {
        url: running.base_url.clone(),
        data_dir: dir.clone(),
        calls: 30,
        users: 12,
        days: 1,
        seed: Some(7),
        now: Some(now),
        update_fraction: 0.0,
        emergency_calls: Some(0),
        scenario: Some(scenario),
        concurrency: 4,
        ..Default::default()
    })
    .await?;
    let simulate_ms = t0.elapsed().as_secs_f64() * 1000.0;
    tokio::time::timeout(Duration::from_secs(120), seen.wait_for(|n| *n > before))
        .await
        .context("no building alert within 120 s")??;
    let building_breach_ms = hook.last_arrival().duration_since(t0).as_secs_f64() * 1000.0;

    let _ = stop_tx.send(true);
    let _ = runner.await;
    let _ = alerts.await;
    running.shutdown().await?;
    let mut sorted = emergency_ms.clone();
    sorted.sort_by(f64::total_cmp);
    Ok(AlertsBench {
        events,
        emergency_p50_ms: quantile(&sorted, 0.5),
        emergency_p95_ms: quantile(&sorted, 0.95),
        emergency_max_ms: sorted.last().copied().unwrap_or(0.0),
        emergency_ms,
        emergency_ceiling_ms: 2000.0,
        evaluation_interval_ms: interval.as_secs_f64() * 1000.0,
        building_breach_ms,
        simulate_ms,
    })
}
