//! The benchmark: a load generator that measures a running callhook over HTTP, as a client
//! would see it. It knows nothing of callhook's internals; `callhook bench` starts a server
//! in-process and points this at it.
//!
//! Scenarios (issue "call records service"): ingest throughput over HTTP of records with
//! 2 sessions × 2 streams each; latency of one expanded GET and of one 60-record list page at
//! the stored volume.

pub mod notifications;
mod record;
mod stats;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rand::{Rng, SeedableRng};
use serde::Serialize;
use tokio::sync::Semaphore;

pub use stats::LatencySummary;

/// What to run against which server.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub base_url: String,
    pub tenant_id: String,
    pub ingest_key: String,
    pub access_token: String,
    /// Records to store before measuring reads.
    pub records: usize,
    /// Records per ingest request (1 = single `PUT`s, up to 100 = batch `POST`s).
    pub batch: usize,
    /// Ingest requests in flight.
    pub concurrency: usize,
    /// Requests per latency scenario.
    pub samples: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct IngestFigures {
    pub records: usize,
    pub batch: usize,
    pub concurrency: usize,
    pub seconds: f64,
    pub records_per_second: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub stored_records: usize,
    pub sessions_per_record: usize,
    pub streams_per_session: usize,
    pub ingest: Vec<IngestFigures>,
    pub expanded_get: LatencySummary,
    pub list_page_60: LatencySummary,
}

impl BenchReport {
    /// A readable table of the figures.
    pub fn table(&self) -> String {
        let mut out = format!(
            "callhook benchmark — {} stored records ({} sessions × {} streams each)\n\n",
            self.stored_records, self.sessions_per_record, self.streams_per_session
        );
        out.push_str("scenario                               result\n");
        for i in &self.ingest {
            out.push_str(&format!(
                "ingest, {:>3} per request, {:>3} in flight  {:>10.0} records/s  ({} records in {:.2} s)\n",
                i.batch, i.concurrency, i.records_per_second, i.records, i.seconds
            ));
        }
        for (name, l) in [
            ("GET record ?$expand=sessions(segments)", &self.expanded_get),
            ("GET list page (60 records)", &self.list_page_60),
        ] {
            out.push_str(&format!(
                "{name:<38} p50 {:.3} ms  p99 {:.3} ms  max {:.3} ms  ({} requests)\n",
                l.p50_ms, l.p99_ms, l.max_ms, l.samples
            ));
        }
        out
    }
}

fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(60))
        .build()?)
}

/// One prepared ingest request: its path below the tenant and its serialized body.
struct Prepared {
    path: String,
    put: bool,
    /// Serialized before the clock starts, so the timed window measures the server, not the
    /// client building JSON.
    body: Vec<u8>,
}

/// Ingests `count` records starting at `first` and returns the figures.
pub async fn ingest(
    opts: &BenchOptions,
    first: usize,
    count: usize,
    batch: usize,
) -> anyhow::Result<IngestFigures> {
    let http = client()?;
    let batch = batch.clamp(1, 100);
    let now = chrono::Utc::now();
    let mut prepared = Vec::with_capacity(count / batch + 1);
    let mut i = first;
    while i < first + count {
        let n = batch.min(first + count - i);
        let records: Vec<serde_json::Value> =
            (i..i + n).map(|k| record::two_by_two(k, now)).collect();
        prepared.push(if n == 1 {
            Prepared {
                path: format!("callRecords/{}", record::id_of(i)),
                put: true,
                body: serde_json::to_vec(&records[0])?,
            }
        } else {
            Prepared {
                path: "callRecords".into(),
                put: false,
                body: serde_json::to_vec(&serde_json::json!({ "value": records }))?,
            }
        });
        i += n;
    }

    let permits = Arc::new(Semaphore::new(opts.concurrency.max(1)));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for req in prepared {
        let permit = permits.clone().acquire_owned().await?;
        let http = http.clone();
        let url = format!(
            "{}/ingest/v1/tenants/{}/{}",
            opts.base_url, opts.tenant_id, req.path
        );
        let key = opts.ingest_key.clone();
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
            if !resp.status().is_success() {
                bail!(
                    "ingest failed: {} {}",
                    resp.status(),
                    resp.text().await.unwrap_or_default()
                );
            }
            Ok(())
        });
        while let Some(done) = tasks.try_join_next() {
            done.context("ingest task panicked")??;
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.context("ingest task panicked")??;
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(IngestFigures {
        records: count,
        batch,
        concurrency: opts.concurrency,
        seconds,
        records_per_second: count as f64 / seconds.max(1e-9),
    })
}

async fn timed_get(http: &reqwest::Client, url: &str, token: &str) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let resp = http.get(url).bearer_auth(token).send().await?;
    let status = resp.status();
    let body = resp.bytes().await?;
    let took = t.elapsed();
    if !status.is_success() {
        bail!(
            "GET {url} failed: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(took)
}

/// Runs every scenario and returns the report.
pub async fn run(
    opts: &BenchOptions,
    mut progress: impl FnMut(&str),
) -> anyhow::Result<BenchReport> {
    // Ingest scenarios: batches (how a platform or the simulator feeds), then single PUTs.
    progress(&format!(
        "ingesting {} records in batches of {}",
        opts.records, opts.batch
    ));
    let batched = ingest(opts, 0, opts.records, opts.batch).await?;
    let singles_n = (opts.records / 10).clamp(1, 10_000);
    progress(&format!(
        "ingesting {singles_n} more records with single PUTs"
    ));
    let singles = ingest(opts, opts.records, singles_n, 1).await?;
    let stored = opts.records + singles_n;

    let http = client()?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let v1 = format!("{}/v1.0/communications/callRecords", opts.base_url);

    progress("measuring expanded GETs");
    let mut get_lat = Vec::with_capacity(opts.samples);
    for _ in 0..opts.samples {
        let id = record::id_of(rng.gen_range(0..stored));
        let url = format!("{v1}/{id}?$expand=sessions($expand=segments)");
        get_lat.push(timed_get(&http, &url, &opts.access_token).await?);
    }

    progress("measuring list pages");
    // Page through the list from the start, as a client does, restarting when it runs out.
    let mut list_lat = Vec::with_capacity(opts.samples);
    let mut next: Option<String> = None;
    for _ in 0..opts.samples {
        let url = next.take().unwrap_or_else(|| v1.clone());
        let t = Instant::now();
        let resp = http
            .get(&url)
            .bearer_auth(&opts.access_token)
            .send()
            .await?;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await?;
        list_lat.push(t.elapsed());
        if !status.is_success() {
            bail!("list failed: {status} {body}");
        }
        next = body["@odata.nextLink"].as_str().map(str::to_string);
    }

    Ok(BenchReport {
        stored_records: stored,
        sessions_per_record: 2,
        streams_per_session: 2,
        ingest: vec![batched, singles],
        expanded_get: LatencySummary::of(&get_lat),
        list_page_60: LatencySummary::of(&list_lat),
    })
}
