//! `callhook-alerts`: alert rules evaluated on the collector's data as it arrives, a durable
//! outbox of alerts in the collector's database, and their delivery.
//!
//! - [`config`]: the alerts file (channels, rules, evaluation interval).
//! - [`rules`]: the rules' evaluation (emergency calls at once or late, poor-stream rate of a
//!   building or subnet, poor streaks, direct-routing failures per gateway).
//! - [`outbox`]: alerts and deliveries (dedup key, cooldown, retries), both backends.
//! - [`channels`]: generic webhook, Teams Workflows (Adaptive Card), log.
//!
//! [`Alerter`] ties them to the collector: it is the collector's
//! [`callhook_collector::collector::Observer`], evaluates windowed rules every interval and
//! delivers due alerts with backoff until each channel accepted them.

/// Runs `$body` once per backend with `$pool` bound to that backend's pool (the collector
/// store's pattern: SQL written once).
macro_rules! with_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            callhook_collector::store::Db::Sqlite($pool) => $body,
            callhook_collector::store::Db::Postgres($pool) => $body,
        }
    };
}

pub mod channels;
pub mod config;
pub mod outbox;
pub mod rules;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use callhook_collector::collector::Observer;
use callhook_collector::store::Store;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::Row;
use tokio::sync::{mpsc, watch, Notify};

pub use config::AlertsConfig;
pub use outbox::{Alert, Outbox, Raised};
use rules::{Candidate, Evaluator, ReportRow};

#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("alerts file: {0}")]
    Config(String),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("{0}")]
    Other(String),
}

/// How long an attempt holds its delivery before another may retry it.
const LEASE: chrono::Duration = chrono::Duration::seconds(60);

enum Input {
    Record(String, Value),
    Emergency(String, Value),
}

/// The alerts of one collector process.
pub struct Alerter {
    pub outbox: Outbox,
    evaluator: Mutex<Evaluator>,
    http: reqwest::Client,
    deliver_now: Notify,
    inputs: mpsc::UnboundedSender<Input>,
    inbox: Mutex<Option<mpsc::UnboundedReceiver<Input>>>,
    /// Alerts this process raised (new ones, not duplicates) so far; tests wait on it.
    pub raised: watch::Sender<u64>,
    /// Deliveries this process completed so far.
    pub delivered: watch::Sender<u64>,
}

impl Alerter {
    /// Reads the building file the config names and remembers the calls of the last window
    /// from the store (so a restarted collector judges windows as before).
    pub async fn new(config: AlertsConfig, store: Store) -> Result<Arc<Self>, AlertError> {
        let buildings = match &config.building_file {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| AlertError::Config(format!("cannot read {}: {e}", p.display())))?;
                Some(
                    callhook_quality::BuildingFile::parse(&text)
                        .map_err(|e| AlertError::Config(format!("{}: {e}", p.display())))?,
                )
            }
            None => None,
        };
        let http = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| AlertError::Other(e.to_string()))?;
        let (tx, rx) = mpsc::unbounded_channel();
        let me = Arc::new(Self {
            outbox: Outbox::new(store),
            evaluator: Mutex::new(Evaluator::new(config, buildings)),
            http,
            deliver_now: Notify::new(),
            inputs: tx,
            inbox: Mutex::new(Some(rx)),
            raised: watch::channel(0).0,
            delivered: watch::channel(0).0,
        });
        me.prime(Utc::now()).await?;
        Ok(me)
    }

    fn eval(&self) -> std::sync::MutexGuard<'_, Evaluator> {
        self.evaluator.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn config(&self) -> AlertsConfig {
        self.eval().config().clone()
    }

    async fn prime(&self, now: DateTime<Utc>) -> Result<(), AlertError> {
        let from = now - self.eval().horizon();
        let rows: Vec<(String, String)> = with_db(&self.outbox.store, from).await?;
        for (tenant, json) in rows {
            if let Ok(v) = serde_json::from_str::<Value>(&json) {
                let found = self.eval().record(&tenant, &v, now);
                self.raise_all(found).await?;
            }
        }
        // An event stored just before a crash still alerts (its id keeps it to one alert).
        let events: Vec<(String, String)> = with_pool!(&self.outbox.store.db, pool => {
            sqlx::query_as(
                "SELECT tenant_id, event_json FROM emergency_events WHERE received_at >= $1",
            )
            .bind(now - chrono::Duration::days(1))
            .fetch_all(pool)
            .await?
        });
        for (tenant, json) in events {
            if let Ok(v) = serde_json::from_str::<Value>(&json) {
                let found = self.eval().emergency_event(&tenant, &v, now);
                self.raise_all(found).await?;
            }
        }
        Ok(())
    }

    async fn raise_all(&self, found: Vec<Candidate>) -> Result<usize, AlertError> {
        let mut new = 0;
        for c in found {
            match self.outbox.raise(&c.alert, &c.channels, c.cooldown).await? {
                Raised::New => {
                    new += 1;
                    tracing::info!(rule = %c.alert.rule_name, scope = %c.alert.scope, "alert raised");
                }
                Raised::Duplicate | Raised::CoolingDown => {}
            }
        }
        if new > 0 {
            self.raised.send_modify(|n| *n += new as u64);
            self.deliver_now.notify_one();
        }
        Ok(new)
    }

    /// Evaluates an emergency call event now and raises its alert (delivery starts at once).
    pub async fn emergency_event(
        &self,
        tenant_id: &str,
        event: &Value,
    ) -> Result<usize, AlertError> {
        let found = self.eval().emergency_event(tenant_id, event, Utc::now());
        self.raise_all(found).await
    }

    /// Evaluates a stored call record's record-level rules and keeps its streams for windows.
    pub async fn record(&self, tenant_id: &str, record: &Value) -> Result<usize, AlertError> {
        let found = self.eval().record(tenant_id, record, Utc::now());
        self.raise_all(found).await
    }

    /// One evaluation of the windowed rules and the report tables, as of `now`.
    pub async fn evaluate(&self, now: DateTime<Utc>) -> Result<usize, AlertError> {
        let mut found = self.eval().windows(now);
        let config = self.config();
        let tenants = self.tenants().await?;
        for rule in &config.rules {
            match rule.kind {
                config::RuleKind::DirectRoutingFailures => {
                    let from = now - chrono::Duration::from_std(rule.window).unwrap_or_default();
                    for t in &tenants {
                        let counts = self.gateway_counts(t, from, now).await?;
                        found.extend(self.eval().gateways(t, rule, &counts, now));
                    }
                }
                config::RuleKind::Emergency => {
                    // Report rows arrive a day at a time: look two days back (dedup keeps it once).
                    let from = now - chrono::Duration::days(2);
                    for t in &tenants {
                        for table in ["direct_routing_calls", "pstn_calls"] {
                            for row in self.report_rows(table, t, from).await? {
                                found.extend(self.eval().late_emergency_row(t, table, &row, now));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        self.raise_all(found).await
    }

    async fn tenants(&self) -> Result<Vec<String>, AlertError> {
        with_pool!(&self.outbox.store.db, pool => {
            Ok(sqlx::query_scalar(
                "SELECT DISTINCT tenant_id FROM direct_routing_calls UNION \
                 SELECT DISTINCT tenant_id FROM pstn_calls",
            )
            .fetch_all(pool)
            .await?)
        })
    }

    async fn gateway_counts(
        &self,
        tenant: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(String, i64, i64)>, AlertError> {
        with_pool!(&self.outbox.store.db, pool => {
            let rows = sqlx::query(
                "SELECT trunk_fully_qualified_domain_name AS gw, COUNT(*) AS n, \
                 SUM(CASE WHEN successful_call THEN 0 ELSE 1 END) AS failed \
                 FROM direct_routing_calls WHERE tenant_id = $1 AND start_date_time >= $2 \
                 AND start_date_time <= $3 AND trunk_fully_qualified_domain_name IS NOT NULL \
                 GROUP BY trunk_fully_qualified_domain_name ORDER BY 1",
            )
            .bind(tenant)
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| Ok((r.try_get("gw")?, r.try_get("n")?, r.try_get::<Option<i64>, _>("failed")?.unwrap_or(0))))
                .collect()
        })
    }

    async fn report_rows(
        &self,
        table: &str,
        tenant: &str,
        from: DateTime<Utc>,
    ) -> Result<Vec<ReportRow>, AlertError> {
        let sql = format!(
            "SELECT id, user_principal_name, call_type, callee_number, start_date_time \
             FROM {table} WHERE tenant_id = $1 AND start_date_time >= $2"
        );
        with_pool!(&self.outbox.store.db, pool => {
            let rows = sqlx::query(&sql).bind(tenant).bind(from).fetch_all(pool).await?;
            rows.iter()
                .map(|r| {
                    Ok(ReportRow {
                        id: r.try_get("id")?,
                        user: r.try_get("user_principal_name")?,
                        call_type: r.try_get("call_type")?,
                        callee_number: r.try_get("callee_number")?,
                        start: r.try_get("start_date_time")?,
                    })
                })
                .collect()
        })
    }

    /// Attempts every due delivery once; returns how many channels accepted.
    pub async fn deliver_due(&self, now: DateTime<Utc>) -> Result<usize, AlertError> {
        let config = self.config();
        let claimed = self.outbox.claim(now, LEASE, 32).await?;
        let mut ok = 0;
        for d in claimed {
            let Some(alert) = self.outbox.alert(&d.alert_id).await? else {
                continue;
            };
            let result = match config.channels.iter().find(|c| c.name == d.channel) {
                Some(ch) => channels::send(&self.http, ch, &alert).await,
                // A channel removed from the file since: nothing will ever take it.
                None => Err(format!(
                    "no channel named '{}' in the alerts file",
                    d.channel
                )),
            };
            match result {
                Ok(()) => {
                    self.outbox.delivered(&d, Utc::now()).await?;
                    self.delivered.send_modify(|n| *n += 1);
                    ok += 1;
                }
                Err(e) => {
                    let wait = backoff(&config, d.attempts);
                    tracing::warn!(alert = %d.alert_id, channel = %d.channel, attempt = d.attempts + 1,
                        retry_in = ?wait, error = %e, "alert delivery failed");
                    let due = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
                    self.outbox.failed(&d, &e, due).await?;
                }
            }
        }
        Ok(ok)
    }

    /// Runs until `stop`: takes what the collector stored, evaluates windows every interval and
    /// delivers alerts as they become due.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let inbox = self.inbox.lock().ok().and_then(|mut i| i.take());
        let mut tasks = tokio::task::JoinSet::new();
        if let Some(mut inbox) = inbox {
            let me = self.clone();
            let mut stop = stop.clone();
            tasks.spawn(async move {
                loop {
                    let input = tokio::select! {
                        i = inbox.recv() => i,
                        _ = stop.changed() => None,
                    };
                    let Some(input) = input else { return };
                    let r = match input {
                        Input::Emergency(t, e) => me.emergency_event(&t, &e).await,
                        Input::Record(t, r) => me.record(&t, &r).await,
                    };
                    if let Err(e) = r {
                        tracing::error!(error = %e, "evaluating alert rules failed");
                    }
                }
            });
        }
        {
            let me = self.clone();
            let mut stop = stop.clone();
            tasks.spawn(async move {
                let every = me
                    .config()
                    .evaluation_interval
                    .max(Duration::from_millis(10));
                loop {
                    if let Err(e) = me.evaluate(Utc::now()).await {
                        tracing::error!(error = %e, "evaluating alert windows failed");
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(every) => {}
                        _ = stop.changed() => return,
                    }
                }
            });
        }
        loop {
            let failed = match self.deliver_due(Utc::now()).await {
                Ok(_) => false,
                Err(e) => {
                    tracing::error!(error = %e, "delivering alerts failed");
                    true
                }
            };
            let wait = match self.outbox.next_due().await {
                // A database that fails is not asked again at once.
                _ if failed => Duration::from_secs(1),
                Ok(Some(due)) => (due - Utc::now()).to_std().unwrap_or(Duration::ZERO),
                _ => Duration::from_secs(60),
            }
            .min(Duration::from_secs(60));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.deliver_now.notified() => {}
                _ = stop.changed() => break,
            }
            if *stop.borrow() {
                break;
            }
        }
        tasks.shutdown().await;
    }
}

/// Sends a test alert to every channel of `config` once (no store, no retries).
pub async fn send_test(config: &AlertsConfig) -> Vec<(String, Result<(), String>)> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap_or_default();
    let alert = Alert {
        alert_id: uuid::Uuid::new_v4().to_string(),
        tenant_id: String::new(),
        rule_name: "test".into(),
        rule_type: "test".into(),
        severity: "info".into(),
        alert_title: "callhook test alert".into(),
        summary: "This channel receives callhook's alerts.".into(),
        scope: "test".into(),
        late: false,
        alert_raised_at: Utc::now(),
        facts: vec![("Sent by".into(), "callhook collect alerts --test".into())],
        details: serde_json::json!({}),
        dedup_key: String::new(),
    };
    let mut out = Vec::new();
    for ch in &config.channels {
        out.push((ch.name.clone(), channels::send(&http, ch, &alert).await));
    }
    out
}

/// `retry_initial · 2^attempts`, at most `retry_max`.
fn backoff(config: &AlertsConfig, attempts: i64) -> Duration {
    let factor = 1u32 << attempts.clamp(0, 20);
    config
        .retry_initial
        .saturating_mul(factor)
        .min(config.retry_max)
}

impl Observer for Alerter {
    fn record_stored(&self, tenant_id: &str, record: &Value) {
        let _ = self
            .inputs
            .send(Input::Record(tenant_id.to_string(), record.clone()));
    }

    fn emergency_event(&self, tenant_id: &str, event: &Value) {
        let _ = self
            .inputs
            .send(Input::Emergency(tenant_id.to_string(), event.clone()));
    }
}

/// Records started since `from`, for priming the windows.
async fn with_db(store: &Store, from: DateTime<Utc>) -> Result<Vec<(String, String)>, AlertError> {
    with_pool!(&store.db, pool => {
        Ok(sqlx::query_as(
            "SELECT tenant_id, record_json FROM calls WHERE start_date_time >= $1 ORDER BY start_date_time",
        )
        .bind(from)
        .fetch_all(pool)
        .await?)
    })
}
