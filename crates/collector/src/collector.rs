//! The collector's loop: the work queue's fetchers (bounded concurrency), the reconciliation
//! sweep (poll mode, and in webhook mode the repair of lost notifications), report functions,
//! and in webhook mode the listener and its subscriptions.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use tokio::sync::{watch, Notify, Semaphore};

use crate::auth::{Credential, TokenSource};
use crate::error::{CollectError, Result};
use crate::graph::{GraphClient, RetryPolicy};
use crate::metrics::Metrics;
use crate::store::{PutOutcome, QueueItem, Store};

/// Where the records come from and who the app is.
#[derive(Debug, Clone)]
pub struct Source {
    /// Graph's base URL without a version (`https://graph.microsoft.com`).
    pub graph_url: String,
    /// The token authority (`https://login.microsoftonline.com`).
    pub authority: String,
    pub tenant_id: String,
    pub client_id: String,
    pub credential: Credential,
    /// Extra CA certificate (PEM) to trust (a callhook's self-signed certificate).
    pub ca_cert: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CallhookCredentials {
    tenant_id: String,
    client_id: String,
    client_secret: String,
}

impl Source {
    /// A local callhook at `url` whose data directory is `dir`: the development app of its
    /// `credentials.json`, and its `tls/cert.pem` trusted for `https://`.
    pub fn callhook(url: &str, dir: &Path) -> Result<Self> {
        let path = dir.join("credentials.json");
        let text = std::fs::read_to_string(&path).map_err(|e| {
            CollectError::Config(format!(
                "cannot read {} ({e}): --callhook-dir must be the data directory of the callhook server",
                path.display()
            ))
        })?;
        let c: CallhookCredentials = serde_json::from_str(&text)
            .map_err(|e| CollectError::Config(format!("{}: {e}", path.display())))?;
        let cert = dir.join("tls").join("cert.pem");
        Ok(Self {
            graph_url: url.trim_end_matches('/').to_string(),
            authority: url.trim_end_matches('/').to_string(),
            tenant_id: c.tenant_id,
            client_id: c.client_id,
            credential: Credential::Secret(c.client_secret),
            ca_cert: (url.starts_with("https://") && cert.exists()).then_some(cert),
        })
    }
}

#[derive(Debug, Clone)]
pub struct CollectorOptions {
    pub source: Source,
    /// SQLite file path or `postgres://` URL.
    pub database: String,
    pub db_pool_size: u32,
    /// Records fetched at once.
    pub concurrency: usize,
    /// Records older than this are not listed (Graph keeps 30 days).
    pub retention_days: i64,
    /// Length of one listing window of a sweep.
    pub sweep_window: chrono::Duration,
    /// Time between sweeps (poll mode's period; webhook mode's repair interval).
    pub sweep_interval: Duration,
    /// Webhook mode: the listener's address and the public URL Graph posts to.
    pub listen: Option<SocketAddr>,
    pub public_url: Option<String>,
    /// Report functions to collect (empty: none; `all`: every one).
    pub reports: Vec<String>,
    pub report_interval: Duration,
    pub retry: RetryPolicy,
    /// Show progress bars during a backfill.
    pub progress: bool,
    /// More routes on the listener (the reports' dashboard, which builds on this crate).
    pub extra_routes: Option<axum::Router>,
    /// Webhook mode: emergency policies whose call events to subscribe to (rich, beta).
    pub emergency_policies: Vec<String>,
}

impl CollectorOptions {
    pub fn new(source: Source, database: String) -> Self {
        Self {
            source,
            database,
            db_pool_size: 8,
            concurrency: 16,
            retention_days: 30,
            sweep_window: chrono::Duration::days(1),
            sweep_interval: Duration::from_secs(15 * 60),
            listen: None,
            public_url: None,
            reports: Vec::new(),
            report_interval: Duration::from_secs(3600),
            retry: RetryPolicy::default(),
            progress: false,
            extra_routes: None,
            emergency_policies: Vec::new(),
        }
    }
}

/// What a sweep found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepSummary {
    pub listed: u64,
    pub queued: u64,
}

/// What draining the queue did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DrainSummary {
    pub stored: u64,
    pub unchanged: u64,
    pub gone: u64,
    pub failed: u64,
}

/// Told of what the collector stored (the alerts evaluate their rules on it), after the write
/// committed. Implementations return at once.
pub trait Observer: Send + Sync {
    fn record_stored(&self, tenant_id: &str, record: &serde_json::Value);
    fn emergency_event(&self, tenant_id: &str, event: &serde_json::Value);
}

pub struct Collector {
    /// Set once before `run` (`--alerts`).
    pub observer: std::sync::OnceLock<Arc<dyn Observer>>,
    pub graph: Arc<GraphClient>,
    pub store: Store,
    pub metrics: Arc<Metrics>,
    pub options: CollectorOptions,
    /// Work was queued (by a notification or a sweep).
    pub wake: Arc<Notify>,
    /// A sweep is wanted now (lifecycle `missed`, `subscriptionRemoved`).
    pub sweep_now: Arc<Notify>,
    /// This process's lease holder name.
    pub owner: String,
    /// The listener started by [`Collector::listen`], taken over by [`Collector::run`].
    listener: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Sweeps completed so far (tests wait on it).
    pub swept: watch::Sender<u64>,
    /// Lifecycle events handled so far (tests wait on it).
    pub lifecycle_done: watch::Sender<u64>,
    /// Records stored so far by this process (tests and progress wait on it).
    pub stored: watch::Sender<u64>,
    /// The URL Graph posts to: `--public-url`, or the listener's own address.
    pub public_base: std::sync::OnceLock<String>,
    /// Emergency call events' key and policies (`emergency_policies` set).
    pub emergency: Option<crate::emergency::Receiver>,
}

/// Percent-encodes a query value.
pub fn encode(v: &str) -> String {
    percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn odata_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

impl Collector {
    /// Opens the store and checks the credentials (a token is fetched at once, so wrong ones
    /// fail here with a clear message, not in a background loop).
    pub async fn new(options: CollectorOptions) -> Result<Self> {
        let mut http = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(options.concurrency.max(4) * 2);
        if let Some(ca) = &options.source.ca_cert {
            let pem = std::fs::read(ca)
                .map_err(|e| CollectError::Config(format!("cannot read {}: {e}", ca.display())))?;
            let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| {
                CollectError::Config(format!("{} is not a PEM certificate: {e}", ca.display()))
            })?;
            http = http.add_root_certificate(cert);
        }
        let http = http
            .build()
            .map_err(|e| CollectError::Config(format!("HTTP client: {e}")))?;
        let metrics = Arc::new(Metrics::default());
        let s = &options.source;
        let graph = GraphClient {
            http,
            base: s.graph_url.trim_end_matches('/').to_string(),
            tenant_id: s.tenant_id.clone(),
            tokens: TokenSource::new(
                &s.authority,
                &s.tenant_id,
                &s.client_id,
                s.credential.clone(),
            ),
            retry: options.retry.clone(),
            metrics: metrics.clone(),
        };
        graph.tokens.token(&graph.http).await?;
        let store = Store::open(&options.database, options.db_pool_size).await?;
        if !store.is_postgres() {
            // SQLite is one process's store: whatever a killed run had claimed is free again.
            store.release_leases(None).await?;
        }
        let emergency = if options.emergency_policies.is_empty() {
            None
        } else {
            Some(
                crate::emergency::Receiver::load(
                    &store,
                    &options.source.tenant_id,
                    options.emergency_policies.clone(),
                )
                .await?,
            )
        };
        Ok(Self {
            emergency,
            observer: std::sync::OnceLock::new(),
            graph: Arc::new(graph),
            store,
            metrics,
            options,
            wake: Arc::new(Notify::new()),
            sweep_now: Arc::new(Notify::new()),
            owner: format!("collector-{}", uuid::Uuid::new_v4().simple()),
            listener: std::sync::Mutex::new(None),
            stored: watch::channel(0).0,
            lifecycle_done: watch::channel(0).0,
            swept: watch::channel(0).0,
            public_base: std::sync::OnceLock::new(),
        })
    }

    /// Starts the webhook listener on `--listen` and returns its address (port 0 picks one).
    /// Without `--public-url`, Graph is told to post to that address (a callhook on this host).
    pub async fn listen(self: &Arc<Self>, stop: watch::Receiver<bool>) -> Result<SocketAddr> {
        let addr = self
            .options
            .listen
            .ok_or_else(|| CollectError::Config("webhook mode needs --listen".into()))?;
        let (local, task) = crate::webhook::bind(self.clone(), addr, stop).await?;
        let base = self
            .options
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{local}"));
        let _ = self.public_base.set(base.trim_end_matches('/').to_string());
        if let Ok(mut l) = self.listener.lock() {
            *l = Some(task);
        }
        Ok(local)
    }

    pub fn tenant_id(&self) -> &str {
        &self.graph.tenant_id
    }

    /// Lists every record of the retention window (`id`, `version`, `lastModifiedDateTime`
    /// only), one `startDateTime` window at a time, and queues those that are new or have a
    /// higher version than the store's.
    pub async fn sweep(&self, bar: Option<&indicatif::ProgressBar>) -> Result<SweepSummary> {
        let now = Utc::now();
        let tenant = self.tenant_id().to_string();
        self.store
            .set_state(&tenant, "sweep:started", &now.to_rfc3339())
            .await?;
        let oldest = now - chrono::Duration::days(self.options.retention_days);
        let window = self.options.sweep_window.max(chrono::Duration::minutes(1));
        let mut summary = SweepSummary::default();
        let mut from = oldest;
        // Up to an hour past now: a record whose start is a little ahead of our clock counts.
        let end = now + chrono::Duration::hours(1);
        while from < end {
            let to = (from + window).min(end);
            let filter = format!(
                "startDateTime ge {} and startDateTime lt {}",
                odata_time(from),
                odata_time(to)
            );
            let url = format!(
                "/v1.0/communications/callRecords?$select=id,version,lastModifiedDateTime&$filter={}",
                encode(&filter)
            );
            let listed = self.graph.get_all(&url).await?.unwrap_or_default();
            let known = self.store.versions_between(&tenant, from, to).await?;
            let mut wanted = Vec::new();
            for item in &listed {
                let Some(id) = item["id"].as_str() else {
                    continue;
                };
                let version = item["version"].as_i64().unwrap_or(0);
                if known.get(id).is_none_or(|v| *v < version) {
                    wanted.push(id.to_string());
                }
            }
            summary.listed += listed.len() as u64;
            summary.queued += wanted.len() as u64;
            self.store.enqueue(&tenant, &wanted, Utc::now()).await?;
            if !wanted.is_empty() {
                self.wake.notify_waiters();
            }
            if let Some(b) = bar {
                b.inc_length(wanted.len() as u64);
            }
            from = to;
        }
        self.metrics.sweeps.fetch_add(1, Ordering::Relaxed);
        self.swept.send_modify(|n| *n += 1);
        self.store
            .set_state(&tenant, "sweep:finished", &Utc::now().to_rfc3339())
            .await?;
        Ok(summary)
    }

    /// Fetches one claimed record and stores it (or notes it gone, or puts it back).
    async fn process(&self, item: QueueItem, summary: &std::sync::Mutex<DrainSummary>) {
        let result = match self.graph.fetch_record(&item.id).await {
            Ok(Some(record)) => {
                self.metrics.records_fetched.fetch_add(1, Ordering::Relaxed);
                let put = self
                    .store
                    .put_record(&item.tenant_id, &record, Some(&item))
                    .await;
                if let (Ok(PutOutcome::Stored), Some(o)) = (&put, self.observer.get()) {
                    o.record_stored(&item.tenant_id, &record);
                }
                put.map(Some)
            }
            Ok(None) => self.store.mark_gone(&item, Utc::now()).await.map(|_| None),
            Err(e) => Err(e),
        };
        let count =
            |f: fn(&mut DrainSummary)| f(&mut summary.lock().unwrap_or_else(|p| p.into_inner()));
        match result {
            Ok(Some(PutOutcome::Stored)) => {
                count(|s| s.stored += 1);
                self.stored.send_modify(|n| *n += 1);
                self.metrics.records_stored.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Some(PutOutcome::Unchanged)) => {
                count(|s| s.unchanged += 1);
                self.metrics
                    .records_unchanged
                    .fetch_add(1, Ordering::Relaxed);
            }
            Ok(None) => {
                count(|s| s.gone += 1);
                self.metrics.records_gone.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                count(|s| s.failed += 1);
                self.metrics.fetch_failures.fetch_add(1, Ordering::Relaxed);
                // Transient faults come back soon; others (a missing permission) slowly, and loudly.
                let secs = if e.is_transient() {
                    (1i64 << item.attempts.clamp(0, 8)).min(300)
                } else {
                    tracing::error!(id = %item.id, error = %e, "fetching a call record failed");
                    600
                };
                let due = Utc::now() + chrono::Duration::seconds(secs);
                if let Err(e2) = self.store.retry_later(&item, &e.to_string(), due).await {
                    tracing::error!(id = %item.id, error = %e2, "cannot put a work item back; its lease will expire");
                }
            }
        }
    }

    /// Works the queue: up to `concurrency` fetches at once. With `until_empty` it returns once
    /// the queue is empty (items put back for later are waited for); otherwise it runs until
    /// `stop` turns true.
    pub async fn drain(
        self: &Arc<Self>,
        until_empty: bool,
        mut stop: watch::Receiver<bool>,
        bar: Option<indicatif::ProgressBar>,
    ) -> Result<DrainSummary> {
        let summary = Arc::new(std::sync::Mutex::new(DrainSummary::default()));
        let slots = Arc::new(Semaphore::new(self.options.concurrency.max(1)));
        let lease =
            chrono::Duration::seconds((self.options.retry.timeout.as_secs() as i64 * 2).max(120));
        let mut tasks = tokio::task::JoinSet::new();
        loop {
            if *stop.borrow() {
                break;
            }
            let free = slots.available_permits();
            let claimed = if free > 0 {
                self.store
                    .claim(
                        self.tenant_id(),
                        &self.owner,
                        free as i64,
                        Utc::now(),
                        lease,
                    )
                    .await?
            } else {
                Vec::new()
            };
            if claimed.is_empty() {
                if until_empty
                    && tasks.is_empty()
                    && self.store.queue_depth_of(self.tenant_id()).await? == 0
                {
                    break;
                }
                // Woken by new work or a finished fetch; at the latest when an item put back
                // for later is due.
                tokio::select! {
                    _ = self.wake.notified() => {}
                    Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            for item in claimed {
                let permit = slots
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|e| CollectError::Other(e.to_string()))?;
                let me = self.clone();
                let summary = summary.clone();
                let bar = bar.clone();
                tasks.spawn(async move {
                    me.process(item, &summary).await;
                    if let Some(b) = bar {
                        b.inc(1);
                    }
                    drop(permit);
                });
            }
            // Reap finished tasks without waiting.
            while let Some(r) = tasks.try_join_next() {
                if let Err(e) = r {
                    tracing::error!(error = %e, "a fetch task failed");
                }
            }
        }
        while tasks.join_next().await.is_some() {}
        let s = summary.lock().unwrap_or_else(|p| p.into_inner()).clone();
        Ok(s)
    }

    /// Poll mode's one pass: sweep, then fetch everything queued (with progress bars when asked).
    pub async fn backfill(self: &Arc<Self>) -> Result<(SweepSummary, DrainSummary)> {
        let bar = self.options.progress.then(|| {
            let b = indicatif::ProgressBar::new(0);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} {elapsed_precise} [{bar:40}] {pos}/{len} records ({per_sec}, eta {eta})",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b
        });
        let (early_stop, rx) = watch::channel(false);
        let me = self.clone();
        let drain_bar = bar.clone();
        // Fetching starts while the sweep still lists later windows.
        let early = tokio::spawn(async move { me.drain(false, rx, drain_bar).await });
        let swept = self.sweep(bar.as_ref()).await;
        let _ = early_stop.send(true);
        let first = early
            .await
            .map_err(|e| CollectError::Other(e.to_string()))?;
        let (_keep, stop_rx) = watch::channel(false);
        let rest = self.drain(true, stop_rx, bar.clone()).await;
        let drained = first.and_then(|a| {
            rest.map(|b| DrainSummary {
                stored: a.stored + b.stored,
                unchanged: a.unchanged + b.unchanged,
                gone: a.gone + b.gone,
                failed: a.failed + b.failed,
            })
        });
        if let Some(b) = bar {
            b.finish();
        }
        Ok((swept?, drained?))
    }

    /// Runs until `stop`: webhook mode when `listen` is set, poll mode otherwise; sweeps every
    /// `sweep_interval`, reports every `report_interval`.
    pub async fn run(self: Arc<Self>, stop: watch::Receiver<bool>) -> Result<()> {
        if self.options.listen.is_some() && self.public_base.get().is_none() {
            self.listen(stop.clone()).await?;
        }
        let listener = self.listener.lock().ok().and_then(|mut l| l.take());
        if listener.is_some() {
            crate::webhook::ensure_subscriptions(&self).await?;
        }
        let mut tasks = tokio::task::JoinSet::new();
        {
            let me = self.clone();
            let stop = stop.clone();
            tasks.spawn(async move { me.drain(false, stop, None).await.map(|_| ()) });
        }
        {
            let me = self.clone();
            let mut stop = stop.clone();
            tasks.spawn(async move {
                loop {
                    if let Err(e) = me.sweep(None).await {
                        tracing::error!(error = %e, "sweep failed");
                        let _ = me
                            .store
                            .set_state(me.tenant_id(), "sweep:error", &e.to_string())
                            .await;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(me.options.sweep_interval) => {}
                        _ = me.sweep_now.notified() => {}
                        _ = stop.changed() => {}
                    }
                    if *stop.borrow() {
                        return Ok(());
                    }
                }
            });
        }
        if !self.options.reports.is_empty() {
            let me = self.clone();
            let mut stop = stop.clone();
            tasks.spawn(async move {
                let which: Vec<String> = if me.options.reports.iter().any(|r| r == "all") {
                    Vec::new()
                } else {
                    me.options.reports.clone()
                };
                loop {
                    if let Err(e) =
                        crate::reports::collect_reports(&me.graph, &me.store, &which, Utc::now())
                            .await
                    {
                        tracing::error!(error = %e, "report functions failed");
                        let _ = me
                            .store
                            .set_state(me.tenant_id(), "reports:error", &e.to_string())
                            .await;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(me.options.report_interval) => {}
                        _ = stop.changed() => {}
                    }
                    if *stop.borrow() {
                        return Ok(());
                    }
                }
            });
        }
        if listener.is_some() {
            let me = self.clone();
            let stop = stop.clone();
            tasks.spawn(async move { crate::webhook::renew_loop(me, stop).await });
        }
        let mut first_error = None;
        while let Some(r) = tasks.join_next().await {
            match r {
                Ok(Err(e)) if first_error.is_none() => first_error = Some(e),
                Err(e) if first_error.is_none() => {
                    first_error = Some(CollectError::Other(e.to_string()))
                }
                _ => {}
            }
        }
        if let Some(l) = listener {
            l.await.ok();
        }
        self.store.close().await;
        first_error.map_or(Ok(()), Err)
    }
}
