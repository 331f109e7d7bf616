//! Sends a generated plan to a callhook server through the ingest API, as a platform would:
//! users, call records in batches (several in flight), report rows, then late corrections.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use tokio::task::JoinSet;

use crate::generator::{generate, SimConfig, SimPlan};
use crate::summary::SimSummary;

const USER_BATCH: usize = 1_000;
const RECORD_BATCH: usize = 100;
const ROW_BATCH: usize = 1_000;
const EVENT_BATCH: usize = 1_000;
/// Bodies stay below this size (the ingest API refuses more than 8 MiB).
const MAX_BODY_BYTES: usize = 6 * 1024 * 1024;
/// Attempts for throttled (429/503) answers and for connection failures.
const MAX_THROTTLED: u32 = 10;
const MAX_CONNECT_FAILURES: u32 = 4;
/// A server asking for longer than this is waited on for this long only.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

/// How `callhook simulate` runs.
#[derive(Debug, Clone)]
pub struct SimulateOptions {
    /// Base URL of the callhook server (`http://` or `https://`).
    pub url: String,
    /// Directory holding `credentials.json` (`tenantId`, `ingestKey`, ...).
    pub data_dir: PathBuf,
    /// Extra CA certificate (PEM) to trust, e.g. for a self-signed `https://` server.
    pub ca_cert: Option<PathBuf>,
    pub calls: usize,
    pub seed: u64,
    pub users: usize,
    pub days: u32,
    pub update_fraction: f64,
    pub domain: String,
    /// Emergency calls among `calls`; `None`: rare (see `SimConfig::emergency_call_count`).
    pub emergency_calls: Option<usize>,
    /// Reference time; `None` means the current time.
    pub now: Option<DateTime<Utc>>,
    /// Draw a progress bar on stderr (pass whether stderr is a terminal).
    pub progress: bool,
    /// Requests in flight at once (at least 1).
    pub concurrency: usize,
}

impl Default for SimulateOptions {
    fn default() -> Self {
        let cfg = SimConfig::new("", Utc::now());
        Self {
            url: "http://127.0.0.1:8480".into(),
            data_dir: PathBuf::from("data"),
            ca_cert: None,
            calls: cfg.calls,
            seed: cfg.seed,
            users: cfg.users,
            days: cfg.days,
            update_fraction: cfg.update_fraction,
            domain: cfg.domain,
            emergency_calls: cfg.emergency_calls,
            now: None,
            progress: false,
            concurrency: 4,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Credentials {
    tenant_id: String,
    ingest_key: String,
}

fn read_credentials(data_dir: &Path) -> anyhow::Result<Credentials> {
    let path = data_dir.join("credentials.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Generates the traffic described by `opts` and sends it to the server.
pub async fn run(opts: SimulateOptions) -> anyhow::Result<SimSummary> {
    let creds = read_credentials(&opts.data_dir)?;
    let cfg = SimConfig {
        calls: opts.calls,
        seed: opts.seed,
        users: opts.users,
        days: opts.days,
        update_fraction: opts.update_fraction,
        now: opts.now.unwrap_or_else(Utc::now),
        tenant_id: creds.tenant_id.clone(),
        domain: opts.domain.clone(),
        emergency_calls: opts.emergency_calls,
    };
    let plan = tokio::task::spawn_blocking(move || generate(&cfg))
        .await
        .context("generating the plan")?;
    let ingest = Arc::new(Ingest::new(&opts, &creds)?);
    let started = Instant::now();
    send_plan(&ingest, &plan, opts.concurrency.max(1)).await?;
    ingest.bar.finish_and_clear();
    let elapsed = started.elapsed().as_secs_f64();
    let mut summary = SimSummary::of_plan(&plan);
    summary.requests = ingest.requests.load(Ordering::Relaxed);
    summary.retries = ingest.retries.load(Ordering::Relaxed);
    summary.elapsed_seconds = elapsed;
    summary.records_per_second = if elapsed > 0.0 {
        plan.call_records.len() as f64 / elapsed
    } else {
        0.0
    };
    Ok(summary)
}

/// One HTTP request to make: method, path under the tenant, serialized body.
struct Job {
    method: Method,
    path: String,
    body: Vec<u8>,
    /// Items the request carries (progress) and, for record batches, answers expected.
    items: usize,
    expect_values: Option<usize>,
    content_type: &'static str,
}

const JSON: &str = "application/json";

/// A `PUT` of one JSON body.
fn put_json(path: String, body: &Value) -> anyhow::Result<Job> {
    Ok(Job {
        method: Method::PUT,
        path,
        body: serde_json::to_vec(body)?,
        items: 1,
        expect_values: None,
        content_type: JSON,
    })
}

/// A `PUT` of raw bytes.
fn put_bytes(path: String, body: Vec<u8>, content_type: &'static str) -> Job {
    Job {
        method: Method::PUT,
        path,
        body,
        items: 1,
        expect_values: None,
        content_type,
    }
}

fn id_of(v: &Value) -> anyhow::Result<&str> {
    v.get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("an item without id"))
}

fn batch_jobs(path: &str, items: &[Value], size: usize) -> anyhow::Result<Vec<Job>> {
    let mut jobs = Vec::new();
    let mut body: Vec<u8> = Vec::new();
    let mut count = 0;
    let finish = |body: &mut Vec<u8>, count: &mut usize, jobs: &mut Vec<Job>| {
        if *count > 0 {
            body.extend_from_slice(b"]}");
            jobs.push(Job {
                method: Method::POST,
                path: path.to_string(),
                body: std::mem::take(body),
                items: std::mem::take(count),
                expect_values: None,
                content_type: JSON,
            });
        }
    };
    for item in items {
        let bytes = serde_json::to_vec(item)?;
        // Large meetings make big records: keep every body well under the 8 MiB limit.
        if count == size || (count > 0 && body.len() + bytes.len() + 2 > MAX_BODY_BYTES) {
            finish(&mut body, &mut count, &mut jobs);
        }
        body.extend_from_slice(if count == 0 { b"{\"value\":[" } else { b"," });
        body.extend_from_slice(&bytes);
        count += 1;
    }
    finish(&mut body, &mut count, &mut jobs);
    Ok(jobs)
}

async fn send_plan(ingest: &Arc<Ingest>, plan: &SimPlan, concurrency: usize) -> anyhow::Result<()> {
    let reports: [(&str, &Vec<Value>); 5] = [
        ("pstnCalls", &plan.pstn_calls),
        ("directRoutingCalls", &plan.direct_routing_calls),
        ("smsLog", &plan.sms_log),
        ("pstnBlockedUsersLog", &plan.pstn_blocked_users),
        ("pstnOnlineMeetingDialout", &plan.dialout_usage),
    ];
    let total = plan.users.len()
        + plan.call_records.len()
        + reports.iter().map(|(_, r)| r.len()).sum::<usize>()
        + plan.updates.len()
        + plan.online_meetings.len()
        + plan.adhoc_calls.len()
        + plan.artifacts.len() * 2
        + plan
            .artifacts
            .iter()
            .filter(|a| a.metadata_content.is_some())
            .count()
        + plan.call_events.len()
        + plan.emergency_policies.len()
        + plan.emergency_call_events.len();
    ingest.bar.set_length(total as u64);

    // Emergency events name their policy: it goes first.
    ingest.bar.set_message("emergency policies");
    let mut jobs = Vec::new();
    for p in &plan.emergency_policies {
        let name = p
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("an emergency policy without name"))?;
        let path = format!(
            "emergencyPolicies/{}",
            percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC)
        );
        jobs.push(put_json(path, p)?);
    }
    run_jobs(ingest, jobs, concurrency).await?;

    ingest.bar.set_message("users");
    run_jobs(
        ingest,
        batch_jobs("users", &plan.users, USER_BATCH)?,
        concurrency,
    )
    .await?;

    ingest.bar.set_message("call records");
    let mut jobs = batch_jobs("callRecords", &plan.call_records, RECORD_BATCH)?;
    for j in &mut jobs {
        j.expect_values = Some(j.items);
    }
    run_jobs(ingest, jobs, concurrency).await?;

    ingest.bar.set_message("reports");
    let mut jobs = Vec::new();
    for (report, rows) in reports {
        jobs.extend(batch_jobs(&format!("reports/{report}"), rows, ROW_BATCH)?);
    }
    run_jobs(ingest, jobs, concurrency).await?;

    // Corrections go one by one in time order; a record's next correction waits for the
    // previous one, so versions arrive in order while other records proceed in parallel.
    ingest.bar.set_message("corrections");
    let mut wave: Vec<Job> = Vec::new();
    let mut wave_ids: HashSet<String> = HashSet::new();
    for update in &plan.updates {
        let id = update
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("a correction without id"))?;
        if wave_ids.contains(id) || wave.len() >= concurrency {
            run_jobs(ingest, std::mem::take(&mut wave), concurrency).await?;
            wave_ids.clear();
        }
        wave_ids.insert(id.to_string());
        wave.push(Job {
            method: Method::PUT,
            path: format!("callRecords/{id}"),
            body: serde_json::to_vec(update)?,
            items: 1,
            expect_values: None,
            content_type: JSON,
        });
    }
    run_jobs(ingest, wave, concurrency).await?;
    send_meetings(ingest, plan, concurrency).await
}

/// Meetings and ad hoc calls, then their artifacts in three waves (metadata, metadataContent,
/// content: storing the content publishes an artifact, so it goes last), then call events one
/// batch at a time so they arrive in time order.
async fn send_meetings(
    ingest: &Arc<Ingest>,
    plan: &SimPlan,
    concurrency: usize,
) -> anyhow::Result<()> {
    ingest.bar.set_message("meetings");
    let mut jobs = Vec::new();
    for m in &plan.online_meetings {
        jobs.push(put_json(format!("onlineMeetings/{}", id_of(m)?), m)?);
    }
    for c in &plan.adhoc_calls {
        jobs.push(put_json(format!("adhocCalls/{}", id_of(c)?), c)?);
    }
    run_jobs(ingest, jobs, concurrency).await?;

    ingest.bar.set_message("transcripts and recordings");
    let metadata = plan
        .artifacts
        .iter()
        .map(|a| put_json(a.path.clone(), &a.metadata))
        .collect::<anyhow::Result<Vec<_>>>()?;
    run_jobs(ingest, metadata, concurrency).await?;
    let metadata_content = plan
        .artifacts
        .iter()
        .filter_map(|a| {
            let text = a.metadata_content.as_ref()?;
            let path = format!("{}/metadataContent", a.path);
            Some(put_bytes(path, text.clone().into_bytes(), "text/vtt"))
        })
        .collect();
    run_jobs(ingest, metadata_content, concurrency).await?;
    let content = plan
        .artifacts
        .iter()
        .map(|a| {
            put_bytes(
                format!("{}/content", a.path),
                a.content.clone(),
                a.content_type,
            )
        })
        .collect();
    run_jobs(ingest, content, concurrency).await?;

    ingest.bar.set_message("call events");
    let jobs = batch_jobs("callEvents", &plan.call_events, EVENT_BATCH)?;
    run_jobs(ingest, jobs, 1).await?;

    // After their call records and report rows, so a receiver can correlate at once.
    ingest.bar.set_message("emergency call events");
    let jobs = batch_jobs(
        "emergencyCallEvents",
        &plan.emergency_call_events,
        EVENT_BATCH,
    )?;
    run_jobs(ingest, jobs, 1).await
}

async fn run_jobs(ingest: &Arc<Ingest>, jobs: Vec<Job>, concurrency: usize) -> anyhow::Result<()> {
    let mut set: JoinSet<anyhow::Result<()>> = JoinSet::new();
    for job in jobs {
        while set.len() >= concurrency {
            join_one(&mut set).await?;
        }
        let ingest = Arc::clone(ingest);
        set.spawn(async move { ingest.execute(job).await });
    }
    while !set.is_empty() {
        join_one(&mut set).await?;
    }
    Ok(())
}

async fn join_one(set: &mut JoinSet<anyhow::Result<()>>) -> anyhow::Result<()> {
    match set.join_next().await {
        Some(Ok(result)) => result,
        Some(Err(e)) => Err(anyhow!("request task failed: {e}")),
        None => Ok(()),
    }
}

struct Ingest {
    http: reqwest::Client,
    base: String,
    auth: String,
    bar: ProgressBar,
    requests: AtomicUsize,
    retries: AtomicUsize,
}

impl Ingest {
    fn new(opts: &SimulateOptions, creds: &Credentials) -> anyhow::Result<Self> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(300));
        if let Some(path) = &opts.ca_cert {
            let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let cert = reqwest::Certificate::from_pem(&pem)
                .with_context(|| format!("parsing the certificate in {}", path.display()))?;
            builder = builder.add_root_certificate(cert);
        }
        let http = builder.build().context("building the HTTP client")?;
        let bar = if opts.progress {
            let bar = ProgressBar::new(0);
            let style = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        } else {
            ProgressBar::hidden()
        };
        Ok(Self {
            http,
            base: format!(
                "{}/ingest/v1/tenants/{}",
                opts.url.trim_end_matches('/'),
                creds.tenant_id
            ),
            auth: format!("Bearer {}", creds.ingest_key),
            bar,
            requests: AtomicUsize::new(0),
            retries: AtomicUsize::new(0),
        })
    }

    async fn execute(&self, job: Job) -> anyhow::Result<()> {
        let answer = self.send(&job).await?;
        if let Some(n) = job.expect_values {
            let got = answer.get("value").and_then(Value::as_array).map(Vec::len);
            if got != Some(n) {
                bail!(
                    "{} {}: expected {n} results, the server answered {answer}",
                    job.method,
                    job.path
                );
            }
        }
        self.bar.inc(job.items as u64);
        Ok(())
    }

    async fn send(&self, job: &Job) -> anyhow::Result<Value> {
        let url = format!("{}/{}", self.base, job.path);
        let (mut throttled, mut failed) = (0u32, 0u32);
        loop {
            let sent = self
                .http
                .request(job.method.clone(), &url)
                .header(AUTHORIZATION, &self.auth)
                .header(CONTENT_TYPE, job.content_type)
                .body(job.body.clone())
                .send()
                .await;
            let resp = match sent {
                Ok(r) => r,
                Err(e)
                    if (e.is_connect() || e.is_timeout()) && failed + 1 < MAX_CONNECT_FAILURES =>
                {
                    failed += 1;
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(url, error = %e, "request failed, retrying");
                    tokio::time::sleep(backoff(failed)).await;
                    continue;
                }
                Err(e) => return Err(anyhow!(e).context(format!("{} {url}", job.method))),
            };
            let status = resp.status();
            if status.is_success() {
                self.requests.fetch_add(1, Ordering::Relaxed);
                let bytes = resp
                    .bytes()
                    .await
                    .with_context(|| format!("{} {url}", job.method))?;
                return Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null));
            }
            let retryable = matches!(
                status,
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
            );
            if retryable && throttled + 1 < MAX_THROTTLED {
                throttled += 1;
                self.retries.fetch_add(1, Ordering::Relaxed);
                let wait = retry_after(resp.headers()).unwrap_or_else(|| backoff(throttled));
                tracing::debug!(url, %status, ?wait, "throttled, retrying");
                tokio::time::sleep(wait).await;
                continue;
            }
            let body = resp.text().await.unwrap_or_default();
            bail!("{} {url}: HTTP {status}: {body}", job.method);
        }
    }
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(200u64.saturating_mul(1 << attempt.min(5)))
}

/// `Retry-After` in seconds (the form Graph and callhook use); HTTP dates fall back to backoff.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let secs: f64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    Some(Duration::from_secs_f64(secs).min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};
    use serde_json::json;

    #[test]
    fn retry_after_reads_seconds_and_caps_them() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("86400"));
        assert_eq!(retry_after(&h), Some(MAX_RETRY_AFTER));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("-1"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn batches_respect_count_and_byte_limits() {
        let items: Vec<Value> = (0..250).map(|i| json!({"id": i.to_string()})).collect();
        let jobs = batch_jobs("callRecords", &items, 100).unwrap_or_default();
        let sizes: Vec<usize> = jobs.iter().map(|j| j.items).collect();
        assert_eq!(sizes, vec![100, 100, 50]);
        let body: Value = serde_json::from_slice(&jobs[2].body).unwrap_or_default();
        assert_eq!(body["value"][0]["id"], "200");
        assert_eq!(body["value"].as_array().map(Vec::len), Some(50));
        // Three items of ~2.5 MiB each: at most two fit in one body.
        let big = "x".repeat(5 * 1024 * 1024 / 2);
        let items: Vec<Value> = (0..3).map(|_| json!({"blob": big})).collect();
        let jobs = batch_jobs("callRecords", &items, 100).unwrap_or_default();
        assert_eq!(jobs.iter().map(|j| j.items).collect::<Vec<_>>(), vec![2, 1]);
        assert!(jobs.iter().all(|j| j.body.len() <= MAX_BODY_BYTES));
        assert!(batch_jobs("users", &[], 100).unwrap_or_default().is_empty());
    }

    #[test]
    fn backoff_grows_and_stays_bounded() {
        assert!(backoff(1) < backoff(2));
        assert_eq!(backoff(30), backoff(5));
    }
}
