//! The benchmark: a load generator that measures a running callhook over HTTP, as a client
//! would see it. It knows nothing of callhook's internals; `callhook bench` starts servers
//! in-process (one per backend and volume) and points this at them.
//!
//! - [`suite`]: the one-command suite (ingest, read latency under load, notifications basic and
//!   rich to 1 and 100 subscriptions, a second node), each figure next to the loopback ceiling.
//! - [`ceiling`]: that ceiling: a minimal HTTP server answering the same requests with the
//!   bytes callhook answered, and a bare sender of the same notification POSTs.
//! - [`load`]: the read load generator (sequential and closed-loop concurrent clients).
//! - [`notifications`]: the delivery engine's scenarios, also run alone by
//!   `callhook bench-notifications`.

pub mod ceiling;
pub mod load;
pub mod notifications;
mod record;
mod stats;
pub mod suite;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::Serialize;
use tokio::sync::Semaphore;

pub use stats::LatencySummary;

/// A server under test, as its clients know it.
#[derive(Debug, Clone)]
pub struct Target {
    pub base_url: String,
    pub tenant_id: String,
    pub ingest_key: String,
    /// Bearer token of an app holding the read permissions (`CallRecords.Read.All`, …).
    pub access_token: String,
}

impl Target {
    /// The same server's credentials at another address (a second node, or the ceiling).
    pub fn at(&self, base_url: &str) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_string(),
            ..self.clone()
        }
    }

    fn ingest_url(&self, path: &str) -> String {
        format!(
            "{}/ingest/v1/tenants/{}/{path}",
            self.base_url, self.tenant_id
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct IngestFigures {
    pub records: usize,
    pub batch: usize,
    pub concurrency: usize,
    pub seconds: f64,
    pub records_per_second: f64,
}

pub(crate) fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(120))
        .build()?)
}

/// One prepared ingest request: its path below the tenant and its serialized body.
pub(crate) struct Prepared {
    path: String,
    put: bool,
    /// Serialized before the clock starts, so the timed window measures the server, not the
    /// client building JSON.
    body: Vec<u8>,
    /// The resources the request's notifications will name (empty where none are awaited).
    resources: Vec<String>,
}

impl Prepared {
    /// A `POST` of `body` to the ingest route `path`, whose notifications name `resources`.
    pub(crate) fn post(path: &str, body: Vec<u8>, resources: Vec<String>) -> Self {
        Self {
            path: path.to_string(),
            put: false,
            body,
            resources,
        }
    }
}

/// When each request was acknowledged, with the resources it carried.
pub(crate) struct Sent {
    pub(crate) started: Instant,
    pub(crate) finished: Instant,
    pub(crate) acks: Vec<(Vec<String>, Instant)>,
}

/// Call-record ingest requests for records `first..first + count`, `batch` per request
/// (1 = single `PUT`s).
pub(crate) fn prepare_records(
    first: usize,
    count: usize,
    batch: usize,
) -> anyhow::Result<Vec<Prepared>> {
    let batch = batch.clamp(1, 100);
    let now = chrono::Utc::now();
    let mut prepared = Vec::with_capacity(count / batch + 1);
    let mut i = first;
    while i < first + count {
        let n = batch.min(first + count - i);
        prepared.push(if batch == 1 {
            Prepared {
                path: format!("callRecords/{}", record::id_of(i)),
                put: true,
                body: serde_json::to_vec(&record::two_by_two(i, now))?,
                resources: Vec::new(),
            }
        } else {
            let records: Vec<serde_json::Value> =
                (i..i + n).map(|k| record::two_by_two(k, now)).collect();
            Prepared::post(
                "callRecords",
                serde_json::to_vec(&serde_json::json!({ "value": records }))?,
                Vec::new(),
            )
        });
        i += n;
    }
    Ok(prepared)
}

/// PSTN call report rows `first..first + count`, spread evenly over the `days` days before
/// now, 1,000 per request (the ingest API's maximum).
pub(crate) fn prepare_pstn_rows(
    first: usize,
    count: usize,
    days: i64,
) -> anyhow::Result<Vec<Prepared>> {
    let now = chrono::Utc::now();
    let span = chrono::Duration::days(days.max(1)).num_seconds();
    let step = (span / count.max(1) as i64).max(1);
    let mut prepared = Vec::with_capacity(count / 1000 + 1);
    let mut i = first;
    while i < first + count {
        let n = 1000.min(first + count - i);
        let rows: Vec<serde_json::Value> = (i..i + n)
            .map(|k| {
                record::pstn_row(
                    k,
                    now - chrono::Duration::seconds(span - step * (k - first) as i64),
                )
            })
            .collect();
        prepared.push(Prepared::post(
            "reports/pstnCalls",
            serde_json::to_vec(&serde_json::json!({ "value": rows }))?,
            Vec::new(),
        ));
        i += n;
    }
    Ok(prepared)
}

/// Sends `prepared` to the ingest API, request `j` to `targets[j % len]`, with at most
/// `concurrency` in flight; with `interval`, request `j` is sent at `j × interval` after the
/// start (paced), whatever the earlier ones are doing.
pub(crate) async fn send(
    targets: &[Target],
    prepared: Vec<Prepared>,
    concurrency: usize,
    interval: Option<Duration>,
) -> anyhow::Result<Sent> {
    if targets.is_empty() {
        bail!("no server to ingest into");
    }
    let http = client()?;
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut acks = Vec::with_capacity(prepared.len());
    for (j, req) in prepared.into_iter().enumerate() {
        if let Some(step) = interval {
            let at = started + step.saturating_mul(u32::try_from(j).unwrap_or(u32::MAX));
            tokio::time::sleep_until(at.into()).await;
        }
        let permit = permits.clone().acquire_owned().await?;
        let target = &targets[j % targets.len()];
        let (http, url, key) = (
            http.clone(),
            target.ingest_url(&req.path),
            target.ingest_key.clone(),
        );
        tasks.spawn(async move {
            let _permit = permit;
            let builder = if req.put {
                http.put(url)
            } else {
                http.post(url)
            };
            let resp = builder
                .bearer_auth(&key)
                .header("content-type", "application/json")
                .body(req.body)
                .send()
                .await?;
            let status = resp.status();
            // Read to the end, as a client waiting for the acknowledgment does.
            let body = resp.bytes().await?;
            let acked = Instant::now();
            if !status.is_success() {
                bail!("ingest failed: {status} {}", String::from_utf8_lossy(&body));
            }
            Ok((req.resources, acked))
        });
        while let Some(done) = tasks.try_join_next() {
            acks.push(done.context("ingest task panicked")??);
        }
    }
    while let Some(done) = tasks.join_next().await {
        acks.push(done.context("ingest task panicked")??);
    }
    Ok(Sent {
        started,
        finished: Instant::now(),
        acks,
    })
}

/// [`send`] as fast as the server takes it; `records` is what the requests carry, for the rate.
pub(crate) async fn send_ingest(
    targets: &[Target],
    prepared: Vec<Prepared>,
    records: usize,
    concurrency: usize,
) -> anyhow::Result<IngestFigures> {
    let batch = records / prepared.len().max(1);
    let sent = send(targets, prepared, concurrency, None).await?;
    let seconds = (sent.finished - sent.started).as_secs_f64();
    Ok(IngestFigures {
        records,
        batch,
        concurrency,
        seconds,
        records_per_second: records as f64 / seconds.max(1e-9),
    })
}

/// Ingests call records `first..first + count`, `batch` per request, spread over `targets`.
pub async fn ingest(
    targets: &[Target],
    first: usize,
    count: usize,
    batch: usize,
    concurrency: usize,
) -> anyhow::Result<IngestFigures> {
    let prepared = prepare_records(first, count, batch)?;
    let mut figures = send_ingest(targets, prepared, count, concurrency).await?;
    figures.batch = batch.clamp(1, 100);
    Ok(figures)
}
