//! Sends a generated plan to a callhook server through the ingest API, as a platform would.
//!
//! The emergency policy and the directory users go first; then four lanes run at once,
//! sharing `concurrency` requests in flight: call records (version 1 in batches, then the
//! corrections in batches, each record's versions in order), report rows, meetings with their
//! transcripts and recordings, and call events (one batch at a time, so they arrive in time
//! order); emergency call events last. Request bodies are serialized as each lane reaches them.
//! A large run goes in parts of [`PART_CALLS`] calls, the next generated while one is sent.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use chrono::{DateTime, Utc};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

mod live;

pub use live::{arrivals, profile_factor, Delay, LiveOptions};

use crate::connect::{connect, Endpoint};
use crate::generator::{generate_staged, SimArtifact, SimConfig, SimPlan};
use crate::progress::{Progress, ProgressMode};
use crate::scenario::Scenario;
use crate::summary::SimSummary;
use crate::truth::Truth;

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
    /// The server's data directory: its `credentials.json` (`tenantId`, `ingestKey`) fills in
    /// what `tenant` and `ingest_key` leave open, and its `tls/cert.pem` is trusted for an
    /// `https://` URL when `ca_cert` is not given.
    pub data_dir: PathBuf,
    /// Extra CA certificate (PEM) to trust, e.g. for a self-signed `https://` server.
    pub ca_cert: Option<PathBuf>,
    /// The tenant to feed; `None`: the development tenant of `credentials.json`.
    pub tenant: Option<String>,
    /// The server's ingest key; `None`: the one in `credentials.json`.
    pub ingest_key: Option<String>,
    /// Create `tenant` through the admin API when the server does not know it.
    pub create_tenant: bool,
    pub calls: usize,
    /// `None`: a fresh random seed, so a re-run makes new calls (the summary says which).
    pub seed: Option<u64>,
    pub users: usize,
    pub days: u32,
    pub update_fraction: f64,
    pub domain: String,
    /// Emergency calls among `calls`; `None`: rare (see `SimConfig::emergency_call_count`).
    pub emergency_calls: Option<usize>,
    /// Reference time; `None` means the current time.
    pub now: Option<DateTime<Utc>>,
    pub progress: ProgressMode,
    /// Requests in flight at once (at least 1).
    pub concurrency: usize,
    /// Incidents to stage (`--scenario`).
    pub scenario: Option<Scenario>,
    /// Where to write the ground truth (`--truth`); the building file goes alongside.
    pub truth: Option<PathBuf>,
    /// Live mode (`--live`): traffic unfolding in time instead of a backfill.
    pub live: Option<LiveOptions>,
}

impl SimulateOptions {
    /// The generator's configuration for this run, with its seed, reference time and tenant
    /// resolved: the one mapping from options to a plan (a test regenerates a run's plan with it).
    pub fn config(&self, seed: u64, now: DateTime<Utc>, tenant_id: &str) -> SimConfig {
        SimConfig {
            calls: self.calls,
            seed,
            users: self.users,
            days: self.days,
            update_fraction: self.update_fraction,
            now,
            tenant_id: tenant_id.to_string(),
            domain: self.domain.clone(),
            emergency_calls: self.emergency_calls,
        }
    }
}

impl Default for SimulateOptions {
    fn default() -> Self {
        let cfg = SimConfig::new("", Utc::now());
        Self {
            url: "http://127.0.0.1:8480".into(),
            data_dir: PathBuf::from("data"),
            ca_cert: None,
            tenant: None,
            ingest_key: None,
            create_tenant: false,
            calls: cfg.calls,
            seed: None,
            users: cfg.users,
            days: cfg.days,
            update_fraction: cfg.update_fraction,
            domain: cfg.domain,
            emergency_calls: cfg.emergency_calls,
            now: None,
            progress: ProgressMode::Off,
            concurrency: 8,
            scenario: None,
            truth: None,
            live: None,
        }
    }
}

/// A seed for a run that was given none.
pub fn random_seed() -> u64 {
    rand::random()
}

/// Calls generated at once: a part's plan takes a few hundred MB (the JSON values of its
/// records, corrections and events), so a large run is generated and sent part by part, the
/// next part generated while the previous one is sent.
pub const PART_CALLS: usize = 1_000;

/// Checks the server, generates the traffic described by `opts` and sends it. The summary's
/// time is the whole run's, generation included.
pub async fn run(opts: SimulateOptions) -> anyhow::Result<SimSummary> {
    let started = Instant::now();
    let seed = opts.seed.unwrap_or_else(random_seed);
    let endpoint = connect(&opts).await?;
    let progress = Progress::new(opts.progress, started);
    if let Some(live) = &opts.live {
        let sender = Arc::new(Sender::new(endpoint, progress, opts.concurrency.max(1)));
        let ran = live::run_live(&opts, live, Arc::clone(&sender), seed).await;
        sender.progress.finish();
        let (mut summary, truth) = ran?;
        if let (Some(t), Some(path)) = (truth, &opts.truth) {
            t.write(path)?;
        }
        finish_summary(&mut summary, &sender, seed, started, 0.0);
        return Ok(summary);
    }
    progress.add_total(opts.calls);
    let cfg = opts.config(seed, opts.now.unwrap_or_else(Utc::now), &endpoint.tenant_id);
    let parts = opts.calls.div_ceil(PART_CALLS).max(1);
    let emergency = cfg.emergency_call_count();
    let window = (
        cfg.now - chrono::Duration::days(i64::from(cfg.days.max(1))),
        cfg.now,
    );
    let staging = match &opts.scenario {
        // Incidents end an hour before now, so their calls are over.
        Some(s) => Some(s.resolve(window.0, window.1 - chrono::Duration::hours(1), seed)?),
        None => None,
    };
    let mut truth = staging
        .as_ref()
        .map(|s| Truth::new(s, seed, &endpoint.tenant_id, window));
    // One part waits in the channel while the previous one is sent.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(SimPlan, f64, SimSummary)>(1);
    let generator = tokio::task::spawn_blocking(move || {
        for part in 0..parts {
            let mut c = cfg.clone();
            let share = |n: usize| n / parts + usize::from(part < n % parts);
            c.calls = share(opts.calls);
            // The run's emergency calls are dealt over its parts.
            c.emergency_calls = Some(share(emergency));
            let t = Instant::now();
            let part = u32::try_from(part).unwrap_or(u32::MAX);
            let plan = generate_staged(&c, part, staging.as_ref());
            if let Some(truth) = &mut truth {
                truth.add_part(&plan);
            }
            // Counting (it classifies every stream) stays off the sending side too.
            let counts = SimSummary::of_plan(&plan);
            if tx
                .blocking_send((plan, t.elapsed().as_secs_f64(), counts))
                .is_err()
            {
                return None; // the run stopped
            }
        }
        truth
    });
    let sender = Arc::new(Sender::new(endpoint, progress, opts.concurrency.max(1)));
    let mut summary: Option<SimSummary> = None;
    let mut generate_seconds = 0.0;
    let mut part = 0;
    let sent = async {
        while let Some((plan, seconds, counts)) = rx.recv().await {
            generate_seconds += seconds;
            part += 1;
            sender.progress.part(part, parts);
            let plan = Arc::new(plan);
            send_plan(&sender, &plan, part == 1).await?;
            match &mut summary {
                None => summary = Some(counts),
                Some(s) => s.add_part(&counts),
            }
        }
        anyhow::Ok(())
    }
    .await;
    sender.progress.finish();
    drop(rx);
    sent?;
    let truth = generator.await.context("generating the plan")?;
    if let (Some(truth), Some(path)) = (truth, &opts.truth) {
        truth.write(path)?;
    }
    let mut summary = summary.ok_or_else(|| anyhow!("nothing was generated"))?;
    finish_summary(&mut summary, &sender, seed, started, generate_seconds);
    Ok(summary)
}

/// Fills in what the run itself measured.
fn finish_summary(
    summary: &mut SimSummary,
    sender: &Sender,
    seed: u64,
    started: Instant,
    generate_seconds: f64,
) {
    summary.seed = seed;
    summary.tenant_id = sender.endpoint.tenant_id.clone();
    summary.requests = sender.requests.load(Ordering::Relaxed);
    summary.retries = sender.retries.load(Ordering::Relaxed);
    summary.generate_seconds = generate_seconds;
    summary.bytes_sent = sender.bytes.load(Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    summary.elapsed_seconds = elapsed;
    if elapsed > 0.0 {
        summary.records_per_second = summary.records.total as f64 / elapsed;
        summary.megabytes_per_second = summary.bytes_sent as f64 / 1e6 / elapsed;
    }
}

/// One HTTP request to make: method, path under the tenant, serialized body.
struct Job {
    method: Method,
    path: String,
    body: Vec<u8>,
    /// Items the request carries and, for record batches, answers expected.
    items: usize,
    expect_values: Option<usize>,
    /// Version-1 records (calls) it stores, for the progress bar.
    calls: usize,
    content_type: &'static str,
}

const JSON: &str = "application/json";

/// A `PUT` of one JSON body.
fn put_json(path: String, body: &Value) -> anyhow::Result<Job> {
    Ok(put_bytes(path, serde_json::to_vec(body)?, JSON))
}

/// A `PUT` of raw bytes.
fn put_bytes(path: String, body: Vec<u8>, content_type: &'static str) -> Job {
    Job {
        method: Method::PUT,
        path,
        body,
        items: 1,
        expect_values: None,
        calls: 0,
        content_type,
    }
}

fn id_of(v: &Value) -> anyhow::Result<&str> {
    v.get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("an item without id"))
}

/// `POST path` bodies `{"value":[…]}` of at most `size` items and [`MAX_BODY_BYTES`], built
/// one at a time as the lane asks for the next.
struct Batches<'a> {
    path: &'a str,
    items: std::iter::Peekable<std::slice::Iter<'a, Value>>,
    size: usize,
}

impl<'a> Batches<'a> {
    fn new(path: &'a str, items: &'a [Value], size: usize) -> Self {
        Self {
            path,
            items: items.iter().peekable(),
            size,
        }
    }

    fn next_job(&mut self) -> anyhow::Result<Option<Job>> {
        let mut body: Vec<u8> = Vec::new();
        let mut count = 0;
        while let Some(item) = self.items.peek() {
            let at = body.len();
            body.extend_from_slice(if count == 0 { b"{\"value\":[" } else { b"," });
            serde_json::to_writer(&mut body, item)?;
            // Large meetings make big records: keep every body well under the 8 MiB limit.
            if count > 0 && body.len() + 2 > MAX_BODY_BYTES {
                body.truncate(at);
                break;
            }
            self.items.next();
            count += 1;
            if count == self.size {
                break;
            }
        }
        if count == 0 {
            return Ok(None);
        }
        body.extend_from_slice(b"]}");
        Ok(Some(Job {
            method: Method::POST,
            path: self.path.to_string(),
            body,
            items: count,
            expect_values: None,
            calls: 0,
            content_type: JSON,
        }))
    }
}

async fn send_plan(
    sender: &Arc<Sender>,
    plan: &Arc<SimPlan>,
    with_users: bool,
) -> anyhow::Result<()> {
    // Emergency events name their policy: it goes first.
    send_policies(sender, plan).await?;
    // The directory next: a consumer told of a record can look its participants up. Every
    // part has the same users.
    if with_users {
        sender.progress.stage("users");
        let mut users = Batches::new("users", &plan.users, USER_BATCH);
        let mut lane = Lane::new(sender);
        while let Some(job) = users.next_job()? {
            lane.spawn(job).await?;
        }
        lane.finish().await?;
    }
    sender
        .progress
        .stage("call records, reports, meetings and events");
    tokio::try_join!(
        send_records(sender, plan),
        send_reports(sender, plan),
        send_meetings(sender, plan),
        send_events(sender, plan),
    )?;
    // After their call records and report rows, so a receiver can correlate at once.
    let mut batches = Batches::new(
        "emergencyCallEvents",
        &plan.emergency_call_events,
        EVENT_BATCH,
    );
    while let Some(job) = batches.next_job()? {
        sender.execute(job).await?;
    }
    Ok(())
}

/// The tenant's emergency policies (a part without emergency calls has none; a repeated
/// `PUT` of the same policy changes nothing).
async fn send_policies(sender: &Arc<Sender>, plan: &SimPlan) -> anyhow::Result<()> {
    let mut lane = Lane::new(sender);
    for p in &plan.emergency_policies {
        let name = p
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("an emergency policy without name"))?;
        let path = format!(
            "emergencyPolicies/{}",
            percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC)
        );
        lane.spawn(put_json(path, p)?).await?;
    }
    lane.finish().await
}

fn report_lanes(plan: &SimPlan) -> [(&'static str, &Vec<Value>); 5] {
    [
        ("reports/pstnCalls", &plan.pstn_calls),
        ("reports/directRoutingCalls", &plan.direct_routing_calls),
        ("reports/smsLog", &plan.sms_log),
        ("reports/pstnBlockedUsersLog", &plan.pstn_blocked_users),
        ("reports/pstnOnlineMeetingDialout", &plan.dialout_usage),
    ]
}

/// Version-1 records in batches, then the corrections in batches in the order a platform
/// sends them. A correction batch waits while an earlier batch holding one of its records is
/// in flight, so each record's versions are stored in order.
async fn send_records(sender: &Arc<Sender>, plan: &Arc<SimPlan>) -> anyhow::Result<()> {
    let mut records = Batches::new("callRecords", &plan.call_records, RECORD_BATCH);
    let mut lane = Lane::new(sender);
    while let Some(mut job) = records.next_job()? {
        job.expect_values = Some(job.items);
        job.calls = job.items;
        lane.spawn(job).await?;
    }
    lane.finish().await?;

    let mut in_flight: HashMap<usize, HashSet<&str>> = HashMap::new();
    let mut set: JoinSet<(usize, anyhow::Result<()>)> = JoinSet::new();
    for (n, chunk) in plan.updates.chunks(RECORD_BATCH).enumerate() {
        let ids = chunk
            .iter()
            .map(id_of)
            .collect::<anyhow::Result<HashSet<_>>>()?;
        while set.len() >= sender.concurrency
            || in_flight.values().any(|busy| !busy.is_disjoint(&ids))
        {
            let done = set.join_next().await;
            in_flight.remove(&finished(done)?);
        }
        // Corrections are few and small next to the limit: one chunk, one body.
        let mut batch = Batches::new("callRecords", chunk, RECORD_BATCH);
        let mut jobs = Vec::new();
        while let Some(mut job) = batch.next_job()? {
            job.expect_values = Some(job.items);
            jobs.push(job);
        }
        let s = Arc::clone(sender);
        set.spawn(async move {
            for job in jobs {
                if let Err(e) = s.execute(job).await {
                    return (n, Err(e));
                }
            }
            (n, Ok(()))
        });
        in_flight.insert(n, ids);
    }
    while let Some(done) = set.join_next().await {
        finished(Some(done))?;
    }
    Ok(())
}

fn finished(
    done: Option<Result<(usize, anyhow::Result<()>), tokio::task::JoinError>>,
) -> anyhow::Result<usize> {
    match done {
        Some(Ok((n, Ok(())))) => Ok(n),
        Some(Ok((_, Err(e)))) => Err(e),
        Some(Err(e)) => Err(anyhow!("request task failed: {e}")),
        None => Err(anyhow!("no request in flight")),
    }
}

async fn send_reports(sender: &Arc<Sender>, plan: &Arc<SimPlan>) -> anyhow::Result<()> {
    let mut lane = Lane::new(sender);
    for (path, rows) in report_lanes(plan) {
        let mut batches = Batches::new(path, rows, ROW_BATCH);
        while let Some(job) = batches.next_job()? {
            lane.spawn(job).await?;
        }
    }
    lane.finish().await
}

/// Each meeting or ad hoc call, then its artifacts, each in three steps (metadata,
/// metadataContent, content: storing the content publishes an artifact, so it goes last).
async fn send_meetings(sender: &Arc<Sender>, plan: &Arc<SimPlan>) -> anyhow::Result<()> {
    let mut artifacts: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, a) in plan.artifacts.iter().enumerate() {
        artifacts.entry(parent_of(&a.path)).or_default().push(i);
    }
    let parents = plan
        .online_meetings
        .iter()
        .map(|m| ("onlineMeetings", m))
        .chain(plan.adhoc_calls.iter().map(|c| ("adhocCalls", c)));
    let mut set: JoinSet<anyhow::Result<()>> = JoinSet::new();
    for (kind, body) in parents {
        let path = format!("{kind}/{}", id_of(body)?);
        let parent = put_json(path.clone(), body)?;
        let mine = artifacts.get(path.as_str()).cloned().unwrap_or_default();
        while set.len() >= sender.concurrency {
            join_one(&mut set).await?;
        }
        let (s, plan) = (Arc::clone(sender), Arc::clone(plan));
        set.spawn(async move {
            s.execute(parent).await?;
            for i in mine {
                if let Some(a) = plan.artifacts.get(i) {
                    for job in artifact_jobs(a)? {
                        s.execute(job).await?;
                    }
                }
            }
            Ok(())
        });
    }
    while !set.is_empty() {
        join_one(&mut set).await?;
    }
    Ok(())
}

/// `onlineMeetings/{id}` of `onlineMeetings/{id}/transcripts/{artifactId}`.
fn parent_of(path: &str) -> &str {
    let mut cut = path.match_indices('/').map(|(i, _)| i);
    match (cut.next(), cut.next()) {
        (Some(_), Some(end)) => &path[..end],
        _ => path,
    }
}

fn artifact_jobs(a: &SimArtifact) -> anyhow::Result<Vec<Job>> {
    let mut jobs = vec![put_json(a.path.clone(), &a.metadata)?];
    if let Some(text) = &a.metadata_content {
        jobs.push(put_bytes(
            format!("{}/metadataContent", a.path),
            text.clone().into_bytes(),
            "text/vtt",
        ));
    }
    jobs.push(put_bytes(
        format!("{}/content", a.path),
        a.content.clone(),
        a.content_type,
    ));
    Ok(jobs)
}

async fn send_events(sender: &Arc<Sender>, plan: &Arc<SimPlan>) -> anyhow::Result<()> {
    let mut batches = Batches::new("callEvents", &plan.call_events, EVENT_BATCH);
    while let Some(job) = batches.next_job()? {
        sender.execute(job).await?;
    }
    Ok(())
}

/// Requests of one lane, at most the run's concurrency in flight.
struct Lane<'a> {
    sender: &'a Arc<Sender>,
    set: JoinSet<anyhow::Result<()>>,
}

impl<'a> Lane<'a> {
    fn new(sender: &'a Arc<Sender>) -> Self {
        Self {
            sender,
            set: JoinSet::new(),
        }
    }

    async fn spawn(&mut self, job: Job) -> anyhow::Result<()> {
        while self.set.len() >= self.sender.concurrency {
            join_one(&mut self.set).await?;
        }
        let s = Arc::clone(self.sender);
        self.set.spawn(async move { s.execute(job).await });
        Ok(())
    }

    async fn finish(mut self) -> anyhow::Result<()> {
        while !self.set.is_empty() {
            join_one(&mut self.set).await?;
        }
        Ok(())
    }
}

async fn join_one(set: &mut JoinSet<anyhow::Result<()>>) -> anyhow::Result<()> {
    match set.join_next().await {
        Some(Ok(result)) => result,
        Some(Err(e)) => Err(anyhow!("request task failed: {e}")),
        None => Ok(()),
    }
}

/// The HTTP side of a run: the endpoint, the requests in flight across all lanes, counters.
struct Sender {
    endpoint: Endpoint,
    base: String,
    auth: String,
    progress: Arc<Progress>,
    concurrency: usize,
    /// Requests in flight across the lanes.
    permits: Semaphore,
    requests: AtomicUsize,
    retries: AtomicUsize,
    /// Request body bytes the server accepted.
    bytes: AtomicUsize,
}

impl Sender {
    fn new(endpoint: Endpoint, progress: Arc<Progress>, concurrency: usize) -> Self {
        Self {
            base: endpoint.ingest_base(),
            auth: endpoint.auth(),
            endpoint,
            progress,
            concurrency,
            permits: Semaphore::new(concurrency),
            requests: AtomicUsize::new(0),
            retries: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
        }
    }

    async fn execute(&self, job: Job) -> anyhow::Result<()> {
        let answer = {
            let _permit = self
                .permits
                .acquire()
                .await
                .map_err(|_| anyhow!("the run was stopped"))?;
            self.send(&job).await?
        };
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
        self.progress.inc(job.calls);
        Ok(())
    }

    async fn send(&self, job: &Job) -> anyhow::Result<Value> {
        let url = format!("{}/{}", self.base, job.path);
        let (mut throttled, mut failed) = (0u32, 0u32);
        loop {
            let sent = self
                .endpoint
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
                    if (e.is_connect() || e.is_timeout() || closed_idle(&e))
                        && failed + 1 < MAX_CONNECT_FAILURES =>
                {
                    failed += 1;
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(url, error = %e, "request failed, retrying");
                    tokio::time::sleep(backoff(failed)).await;
                    continue;
                }
                Err(e) if e.is_connect() => {
                    return Err(anyhow!(e).context(format!(
                        "{} {url}: the server at {} stopped answering; is `callhook serve` still running?",
                        job.method, self.endpoint.url
                    )))
                }
                Err(e) => return Err(anyhow!(e).context(format!("{} {url}", job.method))),
            };
            let status = resp.status();
            if status.is_success() {
                self.requests.fetch_add(1, Ordering::Relaxed);
                self.bytes.fetch_add(job.body.len(), Ordering::Relaxed);
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

/// A kept-alive connection the server closed just as the request went out on it (hyper's
/// "connection closed before message completed"): the server did not take the request, so it
/// is sent again on a new connection. A 100,000-call run met it once in 12 minutes.
fn closed_idle(e: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.to_string()
            .contains("connection closed before message completed")
        {
            return true;
        }
        source = s.source();
    }
    false
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

    fn all_jobs(path: &str, items: &[Value], size: usize) -> Vec<Job> {
        let mut b = Batches::new(path, items, size);
        let mut jobs = Vec::new();
        while let Ok(Some(j)) = b.next_job() {
            jobs.push(j);
        }
        jobs
    }

    #[test]
    fn batches_respect_count_and_byte_limits() {
        let items: Vec<Value> = (0..250).map(|i| json!({"id": i.to_string()})).collect();
        let jobs = all_jobs("callRecords", &items, 100);
        let sizes: Vec<usize> = jobs.iter().map(|j| j.items).collect();
        assert_eq!(sizes, vec![100, 100, 50]);
        let body: Value = serde_json::from_slice(&jobs[2].body).unwrap_or_default();
        assert_eq!(body["value"][0]["id"], "200");
        assert_eq!(body["value"].as_array().map(Vec::len), Some(50));
        // Three items of ~2.5 MiB each: at most two fit in one body.
        let big = "x".repeat(5 * 1024 * 1024 / 2);
        let items: Vec<Value> = (0..3).map(|_| json!({"blob": big})).collect();
        let jobs = all_jobs("callRecords", &items, 100);
        assert_eq!(jobs.iter().map(|j| j.items).collect::<Vec<_>>(), vec![2, 1]);
        assert!(jobs.iter().all(|j| j.body.len() <= MAX_BODY_BYTES));
        for j in &jobs {
            let v: Value = serde_json::from_slice(&j.body).unwrap_or_default();
            assert_eq!(v["value"].as_array().map(Vec::len), Some(j.items));
        }
        assert!(all_jobs("users", &[], 100).is_empty());
    }

    #[test]
    fn an_artifact_belongs_to_the_first_two_segments_of_its_path() {
        assert_eq!(
            parent_of("onlineMeetings/M1/transcripts/T1"),
            "onlineMeetings/M1"
        );
        assert_eq!(parent_of("adhocCalls/C1/recordings/R1"), "adhocCalls/C1");
        assert_eq!(parent_of("odd"), "odd");
    }

    #[test]
    fn backoff_grows_and_stays_bounded() {
        assert!(backoff(1) < backoff(2));
        assert_eq!(backoff(30), backoff(5));
    }
}
