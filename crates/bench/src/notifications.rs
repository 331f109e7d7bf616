//! The change-notification scenarios: how fast, and how soon, a running callhook delivers call-record
//! change notifications to webhooks, measured from outside as a subscriber sees them.
//!
//! Loopback receivers (axum on `127.0.0.1:0`) answer the validation request, then `202` every POST
//! at once, counting items and noting when each notification's `resource` arrived. Subscriptions
//! are made through `POST /v1.0/subscriptions`; records go in through the ingest API in batches,
//! and each batch's acknowledgment time is noted.
//!
//! Scenarios (issue "change notifications"):
//! 1. sustained notifications/s to one receiver (one subscription, records ingested as fast as
//!    the server takes them);
//! 2. fan-out: many subscriptions spread over several receivers;
//! 3. latency from ingest acknowledgment to receipt at a paced ingest rate.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::{record, LatencySummary};

/// Ids of this scenario's records start here, clear of `callhook bench`'s ingest scenarios.
const FIRST_RECORD: usize = 500_000_000;
/// A participant added to every fan-out record, so participant-filtered subscriptions all match.
const COMMON_PARTICIPANT: &str = "b0000000-0000-4000-8000-ffffffffffff";
/// Gives up waiting when no notification arrived for this long.
const STALL: Duration = Duration::from_secs(20);

/// The floors, reported next to the figures.
pub const FLOOR_NOTIFICATIONS_PER_SECOND: f64 = 20_000.0;
/// Rich (encrypted) notifications to one receiver with a 2,048-bit certificate.
pub const FLOOR_RICH_PER_SECOND: f64 = 10_000.0;
/// The user whose call events the rich scenario subscribes to.
const RICH_USER: &str = "b0000000-0000-4000-8000-00000000c0de";
pub const FLOOR_P99_MS: f64 = 50.0;

/// What to run against which server.
#[derive(Debug, Clone)]
pub struct NotifyBenchOptions {
    pub base_url: String,
    pub tenant_id: String,
    pub ingest_key: String,
    /// Bearer token of an app holding `CallRecords.Read.All`.
    pub access_token: String,
    /// Scenario 1: records (= notifications) to one subscription, live and as a backlog.
    pub one_receiver_records: usize,
    /// Scenario 1b: subscriptions sharing one receiver (each gets every record).
    pub one_receiver_subscriptions: usize,
    /// Scenario 2: records; each yields one notification per subscription.
    pub fanout_records: usize,
    pub fanout_subscriptions: usize,
    pub fanout_receivers: usize,
    /// Scenario 3: records per second, and for how long.
    pub paced_rate: usize,
    pub paced_seconds: u64,
    /// Records per ingest request (1–100).
    pub batch: usize,
    /// Rich scenario: call events (= rich notifications) to one subscription.
    pub rich_events: usize,
    /// Ingest requests in flight (scenarios 1 and 2).
    pub concurrency: usize,
}

impl NotifyBenchOptions {
    /// The volumes against `base_url`.
    pub fn new(base_url: String, tenant_id: String, ingest_key: String, token: String) -> Self {
        Self {
            base_url,
            tenant_id,
            ingest_key,
            access_token: token,
            one_receiver_records: 50_000,
            one_receiver_subscriptions: 10,
            fanout_records: 2_000,
            fanout_subscriptions: 100,
            fanout_receivers: 10,
            paced_rate: 1_000,
            paced_seconds: 10,
            batch: 100,
            concurrency: 8,
            rich_events: 20_000,
        }
    }
}

/// A throughput scenario's figures.
#[derive(Debug, Clone, Serialize)]
pub struct ThroughputFigures {
    pub subscriptions: usize,
    pub receivers: usize,
    pub records: usize,
    /// `live` (delivery runs during the ingest) or `backlog` (paused during it, then drained).
    pub feed: &'static str,
    pub expected_notifications: u64,
    pub received_notifications: u64,
    /// Notifications received more than once (same resource, same subscription).
    pub duplicates: u64,
    pub posts: u64,
    pub ingest_seconds: f64,
    pub ingest_records_per_second: f64,
    /// First ingest request sent (live) or delivery resumed (backlog) → last notification
    /// received.
    pub window_seconds: f64,
    pub notifications_per_second: f64,
    /// First notification received → last one: the delivery rate once the pipe is full.
    pub delivery_seconds: f64,
    pub delivery_notifications_per_second: f64,
}

/// The paced latency scenario's figures.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyFigures {
    pub records_per_second: usize,
    pub records_per_request: usize,
    pub records: usize,
    pub received_notifications: u64,
    /// Notifications that arrived before their ingest request was acknowledged (counted as 0 ms).
    pub before_ack: usize,
    /// Ingest acknowledgment → receipt.
    pub latency: LatencySummary,
}

/// The rich scenario's figures.
#[derive(Debug, Clone, Serialize)]
pub struct RichFigures {
    pub certificate_bits: usize,
    pub events: usize,
    pub received_notifications: u64,
    pub duplicates: u64,
    pub posts: u64,
    /// Delivery resumed → last notification received, for the drained backlog.
    pub window_seconds: f64,
    pub notifications_per_second: f64,
    /// Encrypting one notification's resource data (fresh key, AES-CBC, HMAC, RSA-OAEP wrap),
    /// measured in this process over many runs.
    pub encryption_micros: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct NotificationReport {
    /// One subscription, delivery live during the ingest: bound by the ingest rate.
    pub one_receiver: ThroughputFigures,
    /// One subscription, a paused backlog drained: the engine's rate for one ordered stream.
    pub one_receiver_backlog: ThroughputFigures,
    /// Several subscriptions on one receiver, live: the sustained rate into one webhook.
    pub one_receiver_many: ThroughputFigures,
    pub fanout: ThroughputFigures,
    pub paced: LatencyFigures,
    pub rich: RichFigures,
    pub floor_rich_per_second: f64,
    pub meets_rich_floor: bool,
    pub floor_notifications_per_second: f64,
    pub floor_p99_ms: f64,
    pub meets_throughput_floor: bool,
    pub meets_latency_floor: bool,
}

impl NotificationReport {
    /// A readable table of the figures.
    pub fn table(&self) -> String {
        let mut out = String::from("callhook change-notification benchmark\n\n");
        for (name, t) in [
            ("1 subscription, 1 receiver", &self.one_receiver),
            (
                "1 subscription, 1 receiver, backlog",
                &self.one_receiver_backlog,
            ),
            ("several subscriptions, 1 receiver", &self.one_receiver_many),
            ("fan-out", &self.fanout),
        ] {
            out.push_str(&format!(
                "{name}: {} subscriptions over {} receivers, {} records, {}\n  \
                 received {}/{} notifications ({} duplicates) in {} POSTs\n  \
                 ingest {:.0} records/s ({:.2} s)\n  \
                 {:.0} notifications/s over {:.2} s (first ingest or resume → last receipt); \
                 {:.0}/s over {:.2} s (first → last receipt)\n",
                t.subscriptions,
                t.receivers,
                t.records,
                t.feed,
                t.received_notifications,
                t.expected_notifications,
                t.duplicates,
                t.posts,
                t.ingest_records_per_second,
                t.ingest_seconds,
                t.notifications_per_second,
                t.window_seconds,
                t.delivery_notifications_per_second,
                t.delivery_seconds,
            ));
        }
        let p = &self.paced;
        out.push_str(&format!(
            "paced {} records/s ({} per request), {} records: ack → receipt \
             p50 {:.1} ms  p90 {:.1} ms  p99 {:.1} ms  max {:.1} ms  \
             ({} received, {} before the ack)\n",
            p.records_per_second,
            p.records_per_request,
            p.records,
            p.latency.p50_ms,
            p.latency.p90_ms,
            p.latency.p99_ms,
            p.latency.max_ms,
            p.received_notifications,
            p.before_ack,
        ));
        let r = &self.rich;
        out.push_str(&format!(
            "rich: 1 call-event subscription, {}-bit certificate, {} events drained as a backlog\n  \
             received {}/{} ({} duplicates) in {} POSTs; {:.0} notifications/s over {:.2} s; \
             encryption {:.1} µs per notification\n",
            r.certificate_bits,
            r.events,
            r.received_notifications,
            r.events,
            r.duplicates,
            r.posts,
            r.notifications_per_second,
            r.window_seconds,
            r.encryption_micros,
        ));
        out.push_str(&format!(
            "rich floor: ≥ {:.0} notifications/s: {}\n",
            self.floor_rich_per_second,
            if self.meets_rich_floor {
                "met"
            } else {
                "NOT met"
            },
        ));
        out.push_str(&format!(
            "\nfloors: ≥ {:.0} notifications/s to one receiver: {} ({:.0}/s drained backlog, \
             {:.0}/s live from {} subscriptions); p99 ≤ {:.0} ms at {} records/s: {}\n",
            self.floor_notifications_per_second,
            if self.meets_throughput_floor {
                "met"
            } else {
                "NOT met"
            },
            self.one_receiver_backlog.notifications_per_second,
            self.one_receiver_many.notifications_per_second,
            self.one_receiver_many.subscriptions,
            self.floor_p99_ms,
            p.records_per_second,
            if self.meets_latency_floor {
                "met"
            } else {
                "NOT met"
            },
        ));
        out
    }
}

// ---------------------------------------------------------------------------------------------
// The receiver.

#[derive(Default)]
struct Inbox {
    items: u64,
    lifecycle: u64,
    posts: u64,
    first: Option<Instant>,
    last: Option<Instant>,
    /// First arrival of each (subscription, resource).
    arrivals: HashMap<(String, String), Instant>,
    duplicates: u64,
}

type SharedInbox = Arc<Mutex<Inbox>>;

#[derive(Deserialize)]
struct Collection {
    #[serde(default)]
    value: Vec<Item>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Item {
    #[serde(default)]
    subscription_id: String,
    resource: Option<String>,
    lifecycle_event: Option<String>,
}

async fn receive(
    State(inbox): State<SharedInbox>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let at = Instant::now();
    if let Some(token) = q.get("validationToken") {
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            token.clone(),
        )
            .into_response();
    }
    // Parsed before answering, so the receipt time is of a notification this receiver has read.
    let Ok(c) = serde_json::from_slice::<Collection>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    if let Ok(mut inbox) = inbox.lock() {
        inbox.posts += 1;
        for item in c.value {
            if item.lifecycle_event.is_some() {
                inbox.lifecycle += 1;
                continue;
            }
            let Some(resource) = item.resource else {
                continue;
            };
            inbox.items += 1;
            inbox.first.get_or_insert(at);
            inbox.last = Some(at);
            if inbox
                .arrivals
                .insert((item.subscription_id, resource), at)
                .is_some()
            {
                inbox.duplicates += 1;
            }
        }
    }
    StatusCode::ACCEPTED.into_response()
}

struct Receiver {
    url: String,
    inbox: SharedInbox,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let inbox = SharedInbox::default();
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .route("/life", axum::routing::post(receive))
            .with_state(inbox.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("notification receiver stopped: {e}");
            }
        });
        Ok(Self {
            url: format!("http://{addr}"),
            inbox,
            task,
        })
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What all receivers got together.
#[derive(Default)]
struct Totals {
    items: u64,
    posts: u64,
    duplicates: u64,
    first: Option<Instant>,
    last: Option<Instant>,
}

fn totals(receivers: &[Receiver]) -> Totals {
    let mut t = Totals::default();
    for r in receivers {
        if let Ok(i) = r.inbox.lock() {
            t.items += i.items;
            t.posts += i.posts;
            t.duplicates += i.duplicates;
            t.first = match (t.first, i.first) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            t.last = t.last.max(i.last);
        }
    }
    t
}

/// Waits until `expected` distinct notifications arrived, or none arrived for [`STALL`].
async fn wait_for(receivers: &[Receiver], expected: u64) -> Totals {
    let mut seen = 0;
    let mut progress_at = Instant::now();
    loop {
        let t = totals(receivers);
        if t.items - t.duplicates >= expected {
            return t;
        }
        if t.items != seen {
            seen = t.items;
            progress_at = Instant::now();
        } else if progress_at.elapsed() > STALL {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The API calls.

fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(60))
        .build()?)
}

async fn subscribe(
    http: &reqwest::Client,
    opts: &NotifyBenchOptions,
    receiver: &Receiver,
    resource: &str,
) -> anyhow::Result<String> {
    let expiry = chrono::Utc::now() + chrono::Duration::hours(2);
    let body = serde_json::json!({
        "changeType": "created,updated",
        "notificationUrl": format!("{}/hook", receiver.url),
        "lifecycleNotificationUrl": format!("{}/life", receiver.url),
        "resource": resource,
        "expirationDateTime": expiry.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "clientState": "x",
    });
    create_subscription(http, opts, "v1.0", &body).await
}

/// `POST /{version}/subscriptions`; the new subscription's id.
async fn create_subscription(
    http: &reqwest::Client,
    opts: &NotifyBenchOptions,
    version: &str,
    body: &serde_json::Value,
) -> anyhow::Result<String> {
    let resp = http
        .post(format!("{}/{version}/subscriptions", opts.base_url))
        .bearer_auth(&opts.access_token)
        .json(body)
        .send()
        .await?;
    let status = resp.status();
    let answer: serde_json::Value = resp.json().await?;
    if status != reqwest::StatusCode::CREATED {
        bail!("creating a subscription failed: {status} {answer}");
    }
    answer["id"]
        .as_str()
        .map(str::to_string)
        .context("the created subscription has no id")
}

async fn unsubscribe(
    http: &reqwest::Client,
    opts: &NotifyBenchOptions,
    ids: &[String],
) -> anyhow::Result<()> {
    for id in ids {
        let resp = http
            .delete(format!("{}/v1.0/subscriptions/{id}", opts.base_url))
            .bearer_auth(&opts.access_token)
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!("deleting subscription {id} failed: {}", resp.status());
        }
    }
    Ok(())
}

/// One ingest request, serialized before the clock starts.
struct Prepared {
    resources: Vec<String>,
    body: Vec<u8>,
}

fn prepare(
    first: usize,
    count: usize,
    batch: usize,
    common: bool,
) -> anyhow::Result<Vec<Prepared>> {
    let now = chrono::Utc::now();
    let batch = batch.clamp(1, 100);
    let mut out = Vec::with_capacity(count / batch + 1);
    let mut k = first;
    while k < first + count {
        let n = batch.min(first + count - k);
        let mut records = Vec::with_capacity(n);
        let mut resources = Vec::with_capacity(n);
        for i in k..k + n {
            let mut r = record::two_by_two(i, now);
            if common {
                if let Some(parts) = r["participants_v2"].as_array_mut() {
                    parts.push(serde_json::json!({
                        "id": COMMON_PARTICIPANT,
                        "identity": { "user": { "id": COMMON_PARTICIPANT, "displayName": "Everyone's colleague" } }
                    }));
                }
            }
            resources.push(format!("communications/callRecords/{}", record::id_of(i)));
            records.push(r);
        }
        out.push(Prepared {
            resources,
            body: serde_json::to_vec(&serde_json::json!({ "value": records }))?,
        });
        k += n;
    }
    Ok(out)
}

/// When each request's records were acknowledged.
struct Ingested {
    started: Instant,
    finished: Instant,
    acks: Vec<(Vec<String>, Instant)>,
}

/// Sends `batches` with at most `concurrency` in flight; with `interval`, request `j` is sent
/// at `j × interval` after the start (paced), whatever the earlier ones are doing.
async fn ingest(
    opts: &NotifyBenchOptions,
    batches: Vec<Prepared>,
    concurrency: usize,
    interval: Option<Duration>,
) -> anyhow::Result<Ingested> {
    let http = client()?;
    let url = format!(
        "{}/ingest/v1/tenants/{}/callRecords",
        opts.base_url, opts.tenant_id
    );
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut acks = Vec::with_capacity(batches.len());
    for (j, req) in batches.into_iter().enumerate() {
        if let Some(step) = interval {
            let at = started + step.saturating_mul(u32::try_from(j).unwrap_or(u32::MAX));
            tokio::time::sleep_until(at.into()).await;
        }
        let permit = permits.clone().acquire_owned().await?;
        let (http, url, key) = (http.clone(), url.clone(), opts.ingest_key.clone());
        tasks.spawn(async move {
            let _permit = permit;
            let resp = http
                .post(url)
                .bearer_auth(&key)
                .header("content-type", "application/json")
                .body(req.body)
                .send()
                .await?;
            let status = resp.status();
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
    Ok(Ingested {
        started,
        finished: Instant::now(),
        acks,
    })
}

// ---------------------------------------------------------------------------------------------
// The scenarios.

/// How a throughput scenario feeds the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Feed {
    /// Delivery runs while the records are ingested.
    Live,
    /// Delivery is paused (`/_callhook/delivery/pause`) during the ingest and resumed after it:
    /// the receiver gets the whole backlog as fast as the engine drains it.
    Backlog,
}

async fn set_delivery(
    http: &reqwest::Client,
    opts: &NotifyBenchOptions,
    action: &str,
) -> anyhow::Result<()> {
    let resp = http
        .post(format!("{}/_callhook/delivery/{action}", opts.base_url))
        .bearer_auth(&opts.ingest_key)
        .send()
        .await?;
    if !resp.status().is_success() {
        bail!("{action} delivery failed: {}", resp.status());
    }
    Ok(())
}

async fn throughput(
    opts: &NotifyBenchOptions,
    first: usize,
    records: usize,
    subscriptions: usize,
    receiver_count: usize,
    feed: Feed,
) -> anyhow::Result<ThroughputFigures> {
    let http = client()?;
    let receiver_count = receiver_count.clamp(1, subscriptions.max(1));
    let mut receivers = Vec::with_capacity(receiver_count);
    for _ in 0..receiver_count {
        receivers.push(Receiver::start().await?);
    }
    // Graph allows one subscription per app, resource and change types: beyond the first, each
    // subscription filters on the participant every fan-out record has, plus one of its own
    // (matching nothing), so each is distinct and still matches every record.
    let fanout = subscriptions > 1;
    let mut ids = Vec::with_capacity(subscriptions);
    for s in 0..subscriptions {
        let resource = if fanout {
            format!(
                "communications/callRecords?$filter=participants/any(p:p/id eq '{COMMON_PARTICIPANT}') or participants/any(p:p/id eq 'bench-nobody-{s}')"
            )
        } else {
            "communications/callRecords".to_string()
        };
        let r = receivers.get(s % receiver_count).context("no receiver")?;
        ids.push(subscribe(&http, opts, r, &resource).await?);
    }
    let batches = prepare(first, records, opts.batch, fanout)?;
    if feed == Feed::Backlog {
        set_delivery(&http, opts, "pause").await?;
    }
    let ingested = ingest(opts, batches, opts.concurrency, None).await;
    let resumed = Instant::now();
    if feed == Feed::Backlog {
        set_delivery(&http, opts, "resume").await?;
    }
    let ingested = ingested?;
    let expected = (records * subscriptions) as u64;
    let t = wait_for(&receivers, expected).await;
    unsubscribe(&http, opts, &ids).await?;

    let ingest_seconds = (ingested.finished - ingested.started).as_secs_f64();
    let last = t.last.unwrap_or(ingested.started);
    let window_start = match feed {
        Feed::Live => ingested.started,
        Feed::Backlog => resumed,
    };
    let window = last.saturating_duration_since(window_start).as_secs_f64();
    let delivery = match t.first {
        Some(f) => last.saturating_duration_since(f).as_secs_f64(),
        None => 0.0,
    };
    let distinct = t.items - t.duplicates;
    Ok(ThroughputFigures {
        subscriptions,
        receivers: receiver_count,
        records,
        feed: match feed {
            Feed::Live => "live",
            Feed::Backlog => "backlog",
        },
        expected_notifications: expected,
        received_notifications: distinct,
        duplicates: t.duplicates,
        posts: t.posts,
        ingest_seconds,
        ingest_records_per_second: records as f64 / ingest_seconds.max(1e-9),
        window_seconds: window,
        notifications_per_second: distinct as f64 / window.max(1e-9),
        delivery_seconds: delivery,
        delivery_notifications_per_second: distinct as f64 / delivery.max(1e-9),
    })
}

async fn paced(opts: &NotifyBenchOptions, first: usize) -> anyhow::Result<LatencyFigures> {
    let http = client()?;
    let receiver = Receiver::start().await?;
    let id = subscribe(&http, opts, &receiver, "communications/callRecords").await?;
    let rate = opts.paced_rate.max(1);
    let records = rate * opts.paced_seconds.max(1) as usize;
    let batch = opts.batch.clamp(1, 100).min(rate);
    let batches = prepare(first, records, batch, false)?;
    let interval = Duration::from_secs_f64(batch as f64 / rate as f64);
    // Enough requests in flight that a slow answer never delays the pace.
    let ingested = ingest(opts, batches, 64, Some(interval)).await?;
    let receivers = [receiver];
    let t = wait_for(&receivers, records as u64).await;
    unsubscribe(&http, opts, std::slice::from_ref(&id)).await?;

    let mut latencies = Vec::with_capacity(records);
    let mut before_ack = 0;
    if let Some(inbox) = receivers.first().and_then(|r| r.inbox.lock().ok()) {
        for (resources, acked) in &ingested.acks {
            for resource in resources {
                if let Some(at) = inbox.arrivals.get(&(id.clone(), resource.clone())) {
                    if at < acked {
                        before_ack += 1;
                    }
                    latencies.push(at.saturating_duration_since(*acked));
                }
            }
        }
    }
    Ok(LatencyFigures {
        records_per_second: rate,
        records_per_request: batch,
        records,
        received_notifications: t.items - t.duplicates,
        before_ack,
        latency: LatencySummary::of(&latencies),
    })
}

/// A receiver's RSA certificate of `bits` (base64 DER), made fresh for the run.
fn receiver_certificate(bits: rcgen::RsaKeySize) -> anyhow::Result<String> {
    use base64::Engine as _;
    let pair = rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, bits)?;
    let cert = rcgen::CertificateParams::new(vec!["bench-receiver.example".to_string()])?
        .self_signed(&pair)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(cert.der()))
}

/// Rich notifications: one rich subscription to a user's call events; `rich_events` events
/// ingested while delivery is paused, then drained.
async fn rich(opts: &NotifyBenchOptions) -> anyhow::Result<RichFigures> {
    let http = client()?;
    let receiver = Receiver::start().await?;
    let certificate = receiver_certificate(rcgen::RsaKeySize::_2048)?;
    let parsed = callhook_crypto::EncryptionCertificate::from_base64_der(&certificate)?;
    let expiry = chrono::Utc::now() + chrono::Duration::hours(2);
    let body = serde_json::json!({
        "changeType": "updated",
        "notificationUrl": format!("{}/hook", receiver.url),
        "lifecycleNotificationUrl": format!("{}/life", receiver.url),
        "resource": format!("users/{RICH_USER}/communications/callEvents"),
        "expirationDateTime": expiry.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "clientState": "x",
        "includeResourceData": true,
        "encryptionCertificate": certificate,
        "encryptionCertificateId": "bench-cert",
    });
    let id = create_subscription(&http, opts, "beta", &body).await?;

    set_delivery(&http, opts, "pause").await?;
    let url = format!(
        "{}/ingest/v1/tenants/{}/callEvents",
        opts.base_url, opts.tenant_id
    );
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut sent = 0;
    let fed = async {
        while sent < opts.rich_events {
            let n = (opts.rich_events - sent).min(1000);
            let events: Vec<serde_json::Value> = (sent..sent + n)
                .map(|i| {
                    serde_json::json!({
                        "id": format!("bench-event-{i:08}"),
                        "callEventType": if i % 2 == 0 { "callStarted" } else { "callEnded" },
                        "eventDateTime": now,
                        "userId": RICH_USER,
                        "direction": "outgoing",
                        "callId": format!("bench-call-{}", i / 2),
                        "joinCallUrl": "https://api.flightproxy.teams.microsoft.com/api/v2/ep/conv/bench",
                    })
                })
                .collect();
            let resp = http
                .post(&url)
                .bearer_auth(&opts.ingest_key)
                .json(&serde_json::json!({ "value": events }))
                .send()
                .await?;
            if !resp.status().is_success() {
                bail!("ingesting call events failed: {}", resp.status());
            }
            sent += n;
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    let resumed = Instant::now();
    set_delivery(&http, opts, "resume").await?;
    fed?;
    let receivers = [receiver];
    let t = wait_for(&receivers, opts.rich_events as u64).await;
    unsubscribe(&http, opts, std::slice::from_ref(&id)).await?;

    // The cost of one notification's encryption, apart from delivery: the decrypted payload
    // of a call event is a few hundred bytes.
    let sample = serde_json::to_vec(&serde_json::json!({
        "@odata.type": "#Microsoft.Graph.CallEvent",
        "@odata.id": format!("/users/{RICH_USER}/communications/callEvents"),
        "id": "bench-event-00000000",
        "eventType": "callStarted",
        "direction": "outgoing",
        "joinCallUrl": "https://api.flightproxy.teams.microsoft.com/api/v2/ep/conv/bench",
        "callId": "bench-call-0",
    }))?;
    let cost = callhook_crypto::encryption_cost(&parsed, &sample, 2_000)?;

    let window = t
        .last
        .map(|l| l.saturating_duration_since(resumed).as_secs_f64())
        .unwrap_or(0.0);
    let distinct = t.items - t.duplicates;
    Ok(RichFigures {
        certificate_bits: parsed.key_bits(),
        events: opts.rich_events,
        received_notifications: distinct,
        duplicates: t.duplicates,
        posts: t.posts,
        window_seconds: window,
        notifications_per_second: distinct as f64 / window.max(1e-9),
        encryption_micros: cost.as_secs_f64() * 1e6,
    })
}

/// Runs the three scenarios in turn (each removes its subscriptions when done).
pub async fn run(
    opts: &NotifyBenchOptions,
    mut progress: impl FnMut(&str),
) -> anyhow::Result<NotificationReport> {
    progress(&format!(
        "1 subscription: ingesting {} records",
        opts.one_receiver_records
    ));
    let one = throughput(
        opts,
        FIRST_RECORD,
        opts.one_receiver_records,
        1,
        1,
        Feed::Live,
    )
    .await?;
    let mut next = FIRST_RECORD + opts.one_receiver_records;

    progress(&format!(
        "1 subscription, delivery paused: ingesting {} records, then draining them",
        opts.one_receiver_records
    ));
    let backlog = throughput(opts, next, opts.one_receiver_records, 1, 1, Feed::Backlog).await?;
    next += opts.one_receiver_records;

    let many_subs = opts.one_receiver_subscriptions.max(1);
    let many_records = (opts.one_receiver_records / many_subs).max(1);
    progress(&format!(
        "{many_subs} subscriptions on 1 receiver: ingesting {many_records} records"
    ));
    let many = throughput(opts, next, many_records, many_subs, 1, Feed::Live).await?;
    next += many_records;

    progress(&format!(
        "{} subscriptions over {} receivers: ingesting {} records",
        opts.fanout_subscriptions, opts.fanout_receivers, opts.fanout_records
    ));
    let fanout = throughput(
        opts,
        next,
        opts.fanout_records,
        opts.fanout_subscriptions.max(1),
        opts.fanout_receivers,
        Feed::Live,
    )
    .await?;
    next += opts.fanout_records;

    progress(&format!(
        "paced: {} records/s for {} s",
        opts.paced_rate, opts.paced_seconds
    ));
    let paced = paced(opts, next).await?;

    progress(&format!(
        "rich: {} call events to one subscription with a 2,048-bit certificate",
        opts.rich_events
    ));
    let rich = rich(opts).await?;

    let complete = |t: &ThroughputFigures| t.received_notifications == t.expected_notifications;
    Ok(NotificationReport {
        // The engine's rate into one webhook is the drained backlog: live, one subscription
        // gets no more than its own ingest rate, which is the ingest API's bound, not delivery's.
        meets_throughput_floor: complete(&one)
            && complete(&backlog)
            && complete(&many)
            && backlog.notifications_per_second >= FLOOR_NOTIFICATIONS_PER_SECOND,
        meets_latency_floor: paced.received_notifications as usize == paced.records
            && paced.latency.p99_ms <= FLOOR_P99_MS,
        meets_rich_floor: rich.received_notifications as usize == rich.events
            && rich.notifications_per_second >= FLOOR_RICH_PER_SECOND,
        floor_rich_per_second: FLOOR_RICH_PER_SECOND,
        rich,
        one_receiver: one,
        one_receiver_backlog: backlog,
        one_receiver_many: many,
        fanout,
        paced,
        floor_notifications_per_second: FLOOR_NOTIFICATIONS_PER_SECOND,
        floor_p99_ms: FLOOR_P99_MS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepared_batches_cover_every_record_once_with_its_resource() -> anyhow::Result<()> {
        let batches = prepare(10, 250, 100, true)?;
        let sizes: Vec<usize> = batches.iter().map(|b| b.resources.len()).collect();
        assert_eq!(sizes, vec![100, 100, 50]);
        let first = batches.first().context("no batch")?;
        assert_eq!(
            first.resources.first().map(String::as_str),
            Some(format!("communications/callRecords/{}", record::id_of(10)).as_str())
        );
        let body: serde_json::Value = serde_json::from_slice(&first.body)?;
        let parts = body["value"][0]["participants_v2"]
            .as_array()
            .context("no participants")?;
        assert!(parts.iter().any(|p| p["id"] == COMMON_PARTICIPANT));
        Ok(())
    }

    #[tokio::test]
    async fn receiver_echoes_the_validation_token_and_counts_items() -> anyhow::Result<()> {
        let r = Receiver::start().await?;
        let http = client()?;
        let resp = http
            .post(format!("{}/hook", r.url))
            .query(&[("validationToken", "Validation: a b+c")])
            .send()
            .await?;
        assert_eq!(resp.status(), reqwest::StatusCode::OK);
        assert_eq!(resp.text().await?, "Validation: a b+c");
        let body = serde_json::json!({"value": [
            {"subscriptionId": "s", "resource": "communications/callRecords/a"},
            {"subscriptionId": "s", "resource": "communications/callRecords/a"},
            {"subscriptionId": "s", "lifecycleEvent": "missed"}
        ]});
        let resp = http
            .post(format!("{}/hook", r.url))
            .json(&body)
            .send()
            .await?;
        assert_eq!(resp.status(), reqwest::StatusCode::ACCEPTED);
        let t = totals(std::slice::from_ref(&r));
        assert_eq!((t.items, t.duplicates, t.posts), (2, 1, 1));
        Ok(())
    }
}
