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
//! 3. latency from ingest acknowledgment to receipt at a paced ingest rate;
//! 4. a noisy neighbour (issue "hardening"): a tenant whose webhook never answers, with a deep
//!    backlog, beside a healthy subscription of another tenant at a paced rate (its latency).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::{client, record, send, LatencySummary, Prepared, Sent, Target};

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
pub const FLOOR_P99_MS: f64 = 50.0;
/// The healthy subscription's ack → receipt p99 beside a stuck neighbour.
pub const FLOOR_NEIGHBOUR_P99_MS: f64 = 100.0;

/// What to run against which server.
#[derive(Debug, Clone)]
pub struct NotifyBenchOptions {
    /// The server; its app holds `CallRecords.Read.All` and `CallEvents.Read.All`.
    pub target: Target,
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
    /// Scenario 4: another tenant of the same server (its subscriptions' webhook never answers),
    /// its subscriptions, the notifications queued for them, and the healthy subscription's
    /// records per second; none without a neighbour.
    pub neighbour: Option<Target>,
    pub neighbour_subscriptions: usize,
    pub neighbour_notifications: usize,
    pub neighbour_rate: usize,
}

impl NotifyBenchOptions {
    /// The volumes against `base_url`.
    pub fn new(target: Target) -> Self {
        Self {
            target,
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
            neighbour: None,
            neighbour_subscriptions: 10,
            neighbour_notifications: 10_000,
            neighbour_rate: 100,
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
    /// The first receiver's fullest POST body, for the loopback ceiling.
    #[serde(skip)]
    pub(crate) sample: Option<(usize, Bytes)>,
}

/// The paced latency scenario's figures.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyFigures {
    pub subscriptions: usize,
    /// Records (or call events) per second ingested.
    pub records_per_second: usize,
    pub records_per_request: usize,
    pub records: usize,
    pub expected_notifications: u64,
    pub received_notifications: u64,
    pub posts: u64,
    /// Notifications that arrived before their ingest request was acknowledged (counted as 0 ms).
    pub before_ack: usize,
    /// Ingest acknowledgment → receipt.
    pub latency: LatencySummary,
    #[serde(skip)]
    pub(crate) sample: Option<(usize, Bytes)>,
}

/// The noisy-neighbour scenario's figures.
#[derive(Debug, Clone, Serialize)]
pub struct NeighbourFigures {
    /// The stuck tenant's subscriptions (one webhook that never answers) and the notifications
    /// queued for them before the healthy tenant's ingest starts.
    pub stuck_subscriptions: usize,
    pub stuck_notifications: usize,
    /// The healthy tenant's one subscription, paced.
    pub healthy: LatencyFigures,
    pub floor_p99_ms: f64,
    pub meets_floor: bool,
}

/// The rich scenario's figures.
#[derive(Debug, Clone, Serialize)]
pub struct RichFigures {
    pub subscriptions: usize,
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
    #[serde(skip)]
    pub(crate) sample: Option<(usize, Bytes)>,
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
    pub neighbour: Option<NeighbourFigures>,
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
        if let Some(n) = &self.neighbour {
            out.push_str(&n.line());
        }
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

impl NeighbourFigures {
    /// One line for a table.
    pub fn line(&self) -> String {
        let h = &self.healthy;
        format!(
            "noisy neighbour: {} stuck subscriptions with {} queued; healthy subscription of \
             another tenant at {} records/s: ack → receipt p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms \
             ({}/{} received); p99 ≤ {:.0} ms: {}\n",
            self.stuck_subscriptions,
            self.stuck_notifications,
            h.records_per_second,
            h.latency.p50_ms,
            h.latency.p99_ms,
            h.latency.max_ms,
            h.received_notifications,
            h.expected_notifications,
            self.floor_p99_ms,
            if self.meets_floor { "met" } else { "NOT met" },
        )
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
    /// The received body with the most notifications (the loopback ceiling resends it).
    sample: Option<(usize, Bytes)>,
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
        let count = c.value.len();
        if inbox.sample.as_ref().is_none_or(|(n, _)| count > *n) {
            inbox.sample = Some((count, body.clone()));
        }
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

/// A webhook that passes validation and then never answers a notification POST.
async fn hang(Query(q): Query<HashMap<String, String>>) -> Response {
    if let Some(token) = q.get("validationToken") {
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            token.clone(),
        )
            .into_response();
    }
    std::future::pending::<Response>().await
}

pub(crate) struct Receiver {
    pub(crate) url: String,
    inbox: SharedInbox,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub(crate) async fn start() -> anyhow::Result<Self> {
        Self::start_with(false).await
    }

    /// A receiver that never answers notifications (`stuck`), or one that takes them all.
    async fn start_with(stuck: bool) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let inbox = SharedInbox::default();
        let app = if stuck {
            axum::Router::new()
                .route("/hook", axum::routing::post(hang))
                .route("/life", axum::routing::post(hang))
        } else {
            axum::Router::new()
                .route("/hook", axum::routing::post(receive))
                .route("/life", axum::routing::post(receive))
                .with_state(inbox.clone())
        };
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

impl Receiver {
    /// The receivers `subscriptions` subscriptions are spread over: `receivers` of them, at
    /// least one and no more than there are subscriptions.
    pub(crate) async fn start_for(
        subscriptions: usize,
        receivers: usize,
    ) -> anyhow::Result<Vec<Self>> {
        let n = receivers.clamp(1, subscriptions.max(1));
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(Self::start().await?);
        }
        Ok(out)
    }

    /// The body with the most notifications this receiver got, and how many it holds.
    pub(crate) fn sample(&self) -> Option<(usize, Bytes)> {
        self.inbox.lock().ok().and_then(|i| i.sample.clone())
    }

    /// Notification items received (repeats included).
    pub(crate) fn items(&self) -> u64 {
        self.inbox.lock().map(|i| i.items).unwrap_or(0)
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

pub(crate) async fn subscribe(
    http: &reqwest::Client,
    t: &Target,
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
    create_subscription(http, t, "v1.0", &body).await
}

/// `POST /{version}/subscriptions`; the new subscription's id.
async fn create_subscription(
    http: &reqwest::Client,
    t: &Target,
    version: &str,
    body: &serde_json::Value,
) -> anyhow::Result<String> {
    let resp = http
        .post(format!("{}/{version}/subscriptions", t.base_url))
        .bearer_auth(&t.access_token)
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

pub(crate) async fn unsubscribe(
    http: &reqwest::Client,
    t: &Target,
    ids: &[String],
) -> anyhow::Result<()> {
    for id in ids {
        let resp = http
            .delete(format!("{}/v1.0/subscriptions/{id}", t.base_url))
            .bearer_auth(&t.access_token)
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!("deleting subscription {id} failed: {}", resp.status());
        }
    }
    Ok(())
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
        out.push(Prepared::post(
            "callRecords",
            serde_json::to_vec(&serde_json::json!({ "value": records }))?,
            resources,
        ));
        k += n;
    }
    Ok(out)
}

/// The user of rich subscription `s`.
fn rich_user(s: usize) -> String {
    format!("b0000000-0000-4000-8000-0000c0de{:04}", s % 10_000)
}

/// Call events `first..first + count`, `batch` per request, dealt round-robin to the users of
/// `subscriptions` rich subscriptions.
fn prepare_events(
    first: usize,
    count: usize,
    batch: usize,
    subscriptions: usize,
) -> anyhow::Result<Vec<Prepared>> {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let batch = batch.clamp(1, 1000);
    let mut out = Vec::with_capacity(count / batch + 1);
    let mut k = first;
    while k < first + count {
        let n = batch.min(first + count - k);
        let mut events = Vec::with_capacity(n);
        let mut resources = Vec::with_capacity(n);
        for i in k..k + n {
            let user = rich_user(i % subscriptions.max(1));
            let id = format!("bench-event-{i:010}");
            resources.push(format!("users/{user}/communications/callEvents/{id}"));
            events.push(serde_json::json!({
                "id": id,
                "callEventType": if (i / subscriptions.max(1)).is_multiple_of(2) { "callStarted" } else { "callEnded" },
                "eventDateTime": now,
                "userId": user,
                "direction": "outgoing",
                "callId": format!("bench-call-{}", i / 2),
                "joinCallUrl": "https://api.flightproxy.teams.microsoft.com/api/v2/ep/conv/bench",
            }));
        }
        out.push(Prepared::post(
            "callEvents",
            serde_json::to_vec(&serde_json::json!({ "value": events }))?,
            resources,
        ));
        k += n;
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// The scenarios.

/// How a throughput scenario feeds the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// Delivery runs while the records are ingested.
    Live,
    /// Delivery is paused (`/_callhook/delivery/pause`) during the ingest and resumed after it:
    /// the receiver gets the whole backlog as fast as the engine drains it.
    Backlog,
}

async fn set_delivery(http: &reqwest::Client, t: &Target, action: &str) -> anyhow::Result<()> {
    let resp = http
        .post(format!("{}/_callhook/delivery/{action}", t.base_url))
        .bearer_auth(&t.ingest_key)
        .send()
        .await?;
    if !resp.status().is_success() {
        bail!("{action} delivery failed: {}", resp.status());
    }
    Ok(())
}

/// Pauses (or resumes) delivery on every node.
async fn set_delivery_all(
    http: &reqwest::Client,
    nodes: &[Target],
    action: &str,
) -> anyhow::Result<()> {
    for n in nodes {
        set_delivery(http, n, action).await?;
    }
    Ok(())
}

/// `records` call records to `subscriptions` subscriptions spread over `receiver_count`
/// receivers; ingest requests are dealt round-robin to `nodes`, and with [`Feed::Backlog`]
/// every node's delivery is paused during the ingest.
pub async fn throughput(
    opts: &NotifyBenchOptions,
    nodes: &[Target],
    first: usize,
    records: usize,
    subscriptions: usize,
    receiver_count: usize,
    feed: Feed,
) -> anyhow::Result<ThroughputFigures> {
    let http = client()?;
    let node = nodes.first().context("no server")?;
    let receivers = Receiver::start_for(subscriptions, receiver_count).await?;
    let fanout = subscriptions > 1;
    let ids = record_subscriptions(&http, node, &receivers, subscriptions).await?;
    let batches = prepare(first, records, opts.batch, fanout)?;
    if feed == Feed::Backlog {
        set_delivery_all(&http, nodes, "pause").await?;
    }
    let ingested = send(nodes, batches, opts.concurrency, None).await;
    let resumed = Instant::now();
    if feed == Feed::Backlog {
        set_delivery_all(&http, nodes, "resume").await?;
    }
    let ingested = ingested?;
    let expected = (records * subscriptions) as u64;
    let t = wait_for(&receivers, expected).await;
    unsubscribe(&http, node, &ids).await?;

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
        receivers: receivers.len(),
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
        sample: receivers.first().and_then(Receiver::sample),
    })
}

/// `subscriptions` call-record subscriptions, dealt round-robin over `receivers`; their ids.
async fn record_subscriptions(
    http: &reqwest::Client,
    t: &Target,
    receivers: &[Receiver],
    subscriptions: usize,
) -> anyhow::Result<Vec<String>> {
    let fanout = subscriptions > 1;
    let mut ids = Vec::with_capacity(subscriptions);
    for s in 0..subscriptions {
        let r = receivers
            .get(s % receivers.len().max(1))
            .context("no receiver")?;
        ids.push(subscribe(http, t, r, &filter_resource(s, fanout)).await?);
    }
    Ok(ids)
}

/// The resource of call-record subscription `s`: the whole collection for a lone one, else a
/// distinct filter every fan-out record matches. Graph allows one subscription per app,
/// resource and change types: beyond the first, each filters on the participant every fan-out
/// record has, plus one of its own (matching nothing), so each is distinct and still matches
/// every record.
fn filter_resource(s: usize, fanout: bool) -> String {
    if fanout {
        format!(
            "communications/callRecords?$filter=participants/any(p:p/id eq '{COMMON_PARTICIPANT}') or participants/any(p:p/id eq 'bench-nobody-{s}')"
        )
    } else {
        "communications/callRecords".to_string()
    }
}

/// Ack → receipt of every notification in `receivers` whose resource was in an acknowledged
/// request; (latencies, how many arrived before their ack).
fn latencies(receivers: &[Receiver], ingested: &Sent) -> (Vec<Duration>, usize) {
    let mut out = Vec::new();
    let mut before_ack = 0;
    let mut by_resource: HashMap<&str, Vec<Instant>> = HashMap::new();
    let inboxes: Vec<_> = receivers
        .iter()
        .filter_map(|r| r.inbox.lock().ok())
        .collect();
    for inbox in &inboxes {
        for ((_, resource), at) in &inbox.arrivals {
            by_resource.entry(resource.as_str()).or_default().push(*at);
        }
    }
    for (resources, acked) in &ingested.acks {
        for resource in resources {
            for at in by_resource.get(resource.as_str()).into_iter().flatten() {
                if at < acked {
                    before_ack += 1;
                }
                out.push(at.saturating_duration_since(*acked));
            }
        }
    }
    (out, before_ack)
}

/// Paced call records to `subscriptions` subscriptions over `receiver_count` receivers:
/// `rate` notifications per second in all for `seconds`; ack → receipt of each.
pub async fn paced(
    opts: &NotifyBenchOptions,
    t: &Target,
    first: usize,
    subscriptions: usize,
    receiver_count: usize,
    rate: usize,
    seconds: u64,
) -> anyhow::Result<LatencyFigures> {
    let http = client()?;
    let subscriptions = subscriptions.max(1);
    let receivers = Receiver::start_for(subscriptions, receiver_count).await?;
    let fanout = subscriptions > 1;
    let ids = record_subscriptions(&http, t, &receivers, subscriptions).await?;
    let record_rate = (rate / subscriptions).max(1);
    let records = record_rate * seconds.max(1) as usize;
    let batch = opts.batch.clamp(1, 100).min(record_rate);
    let batches = prepare(first, records, batch, fanout)?;
    let interval = Duration::from_secs_f64(batch as f64 / record_rate as f64);
    // Enough requests in flight that a slow answer never delays the pace.
    let ingested = send(std::slice::from_ref(t), batches, 64, Some(interval)).await?;
    let expected = (records * subscriptions) as u64;
    let got = wait_for(&receivers, expected).await;
    unsubscribe(&http, t, &ids).await?;
    let (lat, before_ack) = latencies(&receivers, &ingested);
    Ok(LatencyFigures {
        subscriptions,
        records_per_second: record_rate,
        records_per_request: batch,
        records,
        expected_notifications: expected,
        received_notifications: got.items - got.duplicates,
        posts: got.posts,
        before_ack,
        latency: LatencySummary::of(&lat),
        sample: receivers.first().and_then(Receiver::sample),
    })
}

/// The noisy neighbour: `opts.neighbour_subscriptions` subscriptions of the neighbour tenant
/// on one webhook that never answers, `opts.neighbour_notifications` notifications queued for
/// them, then one subscription of `t`'s tenant on a healthy receiver, paced at
/// `opts.neighbour_rate` records/s for `seconds`: its ack → receipt.
pub async fn neighbour(
    opts: &NotifyBenchOptions,
    t: &Target,
    first: usize,
    seconds: u64,
) -> anyhow::Result<Option<NeighbourFigures>> {
    let Some(stuck) = &opts.neighbour else {
        return Ok(None);
    };
    let http = client()?;
    let subs = opts.neighbour_subscriptions.clamp(1, 100);
    let hook = Receiver::start_with(true).await?;
    let mut ids = Vec::with_capacity(subs);
    for s in 0..subs {
        ids.push(subscribe(&http, stuck, &hook, &filter_resource(s, true)).await?);
    }
    // Every record matches every stuck subscription.
    let records = opts
        .neighbour_notifications
        .div_ceil(ids.len().max(1))
        .max(1);
    let batches = prepare(first, records, opts.batch, true)?;
    send(std::slice::from_ref(stuck), batches, opts.concurrency, None).await?;
    let healthy = paced(
        opts,
        t,
        first + records,
        1,
        1,
        opts.neighbour_rate.max(1),
        seconds,
    )
    .await;
    // The stuck subscriptions go with their queued notifications, whatever the outcome.
    unsubscribe(&http, stuck, &ids).await?;
    let healthy = healthy?;
    let meets_floor = healthy.received_notifications == healthy.expected_notifications
        && healthy.latency.p99_ms <= FLOOR_NEIGHBOUR_P99_MS;
    Ok(Some(NeighbourFigures {
        stuck_subscriptions: ids.len(),
        stuck_notifications: records * ids.len(),
        healthy,
        floor_p99_ms: FLOOR_NEIGHBOUR_P99_MS,
        meets_floor,
    }))
}

/// A receiver's RSA certificate of `bits` (base64 DER), made fresh for the run.
fn receiver_certificate(bits: rcgen::RsaKeySize) -> anyhow::Result<String> {
    use base64::Engine as _;
    let pair = rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, bits)?;
    let cert = rcgen::CertificateParams::new(vec!["bench-receiver.example".to_string()])?
        .self_signed(&pair)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(cert.der()))
}

/// `subscriptions` rich subscriptions to call events, one per user, spread over
/// `receiver_count` receivers, with one fresh 2,048-bit certificate.
struct RichSetup {
    receivers: Vec<Receiver>,
    ids: Vec<String>,
    certificate: callhook_crypto::EncryptionCertificate,
}

async fn rich_setup(
    http: &reqwest::Client,
    t: &Target,
    subscriptions: usize,
    receiver_count: usize,
) -> anyhow::Result<RichSetup> {
    let receivers = Receiver::start_for(subscriptions, receiver_count).await?;
    let certificate = receiver_certificate(rcgen::RsaKeySize::_2048)?;
    let parsed = callhook_crypto::EncryptionCertificate::from_base64_der(&certificate)?;
    let expiry = chrono::Utc::now() + chrono::Duration::hours(2);
    let mut ids = Vec::with_capacity(subscriptions);
    for s in 0..subscriptions.max(1) {
        let r = receivers
            .get(s % receivers.len().max(1))
            .context("no receiver")?;
        let body = serde_json::json!({
            "changeType": "updated",
            "notificationUrl": format!("{}/hook", r.url),
            "lifecycleNotificationUrl": format!("{}/life", r.url),
            "resource": format!("users/{}/communications/callEvents", rich_user(s)),
            "expirationDateTime": expiry.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "clientState": "x",
            "includeResourceData": true,
            "encryptionCertificate": certificate,
            "encryptionCertificateId": "bench-cert",
        });
        ids.push(create_subscription(http, t, "beta", &body).await?);
    }
    Ok(RichSetup {
        receivers,
        ids,
        certificate: parsed,
    })
}

/// Rich notifications: `events` call events dealt over `subscriptions` rich subscriptions,
/// ingested while delivery is paused, then drained.
pub async fn rich(
    t: &Target,
    first: usize,
    subscriptions: usize,
    receiver_count: usize,
    events: usize,
) -> anyhow::Result<RichFigures> {
    let http = client()?;
    let setup = rich_setup(&http, t, subscriptions, receiver_count).await?;
    let batches = prepare_events(first, events, 1000, subscriptions)?;
    set_delivery(&http, t, "pause").await?;
    let fed = send(std::slice::from_ref(t), batches, 4, None).await;
    let resumed = Instant::now();
    set_delivery(&http, t, "resume").await?;
    fed?;
    let got = wait_for(&setup.receivers, events as u64).await;
    unsubscribe(&http, t, &setup.ids).await?;

    // The cost of one notification's encryption, apart from delivery: the decrypted payload
    // of a call event is a few hundred bytes.
    let user = rich_user(0);
    let sample = serde_json::to_vec(&serde_json::json!({
        "@odata.type": "#Microsoft.Graph.CallEvent",
        "@odata.id": format!("/users/{user}/communications/callEvents"),
        "id": "bench-event-0000000000",
        "eventType": "callStarted",
        "direction": "outgoing",
        "joinCallUrl": "https://api.flightproxy.teams.microsoft.com/api/v2/ep/conv/bench",
        "callId": "bench-call-0",
    }))?;
    let cost = callhook_crypto::encryption_cost(&setup.certificate, &sample, 2_000)?;

    let window = got
        .last
        .map(|l| l.saturating_duration_since(resumed).as_secs_f64())
        .unwrap_or(0.0);
    let distinct = got.items - got.duplicates;
    Ok(RichFigures {
        subscriptions: setup.ids.len(),
        certificate_bits: setup.certificate.key_bits(),
        events,
        received_notifications: distinct,
        duplicates: got.duplicates,
        posts: got.posts,
        window_seconds: window,
        notifications_per_second: distinct as f64 / window.max(1e-9),
        encryption_micros: cost.as_secs_f64() * 1e6,
        sample: setup.receivers.first().and_then(Receiver::sample),
    })
}

/// Paced rich notifications: `rate` call events per second for `seconds`, dealt over
/// `subscriptions` rich subscriptions; ack → receipt of each.
pub async fn rich_paced(
    t: &Target,
    first: usize,
    subscriptions: usize,
    receiver_count: usize,
    rate: usize,
    seconds: u64,
) -> anyhow::Result<LatencyFigures> {
    let http = client()?;
    let setup = rich_setup(&http, t, subscriptions, receiver_count).await?;
    let rate = rate.max(1);
    let events = rate * seconds.max(1) as usize;
    let batch = 100.min(rate);
    let batches = prepare_events(first, events, batch, subscriptions)?;
    let interval = Duration::from_secs_f64(batch as f64 / rate as f64);
    let ingested = send(std::slice::from_ref(t), batches, 64, Some(interval)).await?;
    let got = wait_for(&setup.receivers, events as u64).await;
    unsubscribe(&http, t, &setup.ids).await?;
    let (lat, before_ack) = latencies(&setup.receivers, &ingested);
    Ok(LatencyFigures {
        subscriptions: setup.ids.len(),
        records_per_second: rate,
        records_per_request: batch,
        records: events,
        expected_notifications: events as u64,
        received_notifications: got.items - got.duplicates,
        posts: got.posts,
        before_ack,
        latency: LatencySummary::of(&lat),
        sample: setup.receivers.first().and_then(Receiver::sample),
    })
}

/// One scenario alone (`neighbour` or `backlog`), as a table line.
pub async fn run_one(opts: &NotifyBenchOptions, scenario: &str) -> anyhow::Result<String> {
    let node = std::slice::from_ref(&opts.target);
    match scenario {
        "neighbour" => Ok(
            neighbour(opts, &opts.target, FIRST_RECORD, opts.paced_seconds)
                .await?
                .map(|n| n.line())
                .unwrap_or_default(),
        ),
        "backlog" => {
            let t = throughput(
                opts,
                node,
                FIRST_RECORD,
                opts.one_receiver_records,
                1,
                1,
                Feed::Backlog,
            )
            .await?;
            Ok(format!(
                "1 subscription, backlog of {}: received {}/{} in {} POSTs, {:.0} notifications/s \
                 over {:.2} s (resume → last receipt)\n",
                t.records,
                t.received_notifications,
                t.expected_notifications,
                t.posts,
                t.notifications_per_second,
                t.window_seconds
            ))
        }
        other => bail!("unknown scenario {other}"),
    }
}

/// Runs the scenarios in turn (each removes its subscriptions when done).
pub async fn run(
    opts: &NotifyBenchOptions,
    mut progress: impl FnMut(&str),
) -> anyhow::Result<NotificationReport> {
    let node = std::slice::from_ref(&opts.target);
    progress(&format!(
        "1 subscription: ingesting {} records",
        opts.one_receiver_records
    ));
    let one = throughput(
        opts,
        node,
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
    let backlog = throughput(
        opts,
        node,
        next,
        opts.one_receiver_records,
        1,
        1,
        Feed::Backlog,
    )
    .await?;
    next += opts.one_receiver_records;

    let many_subs = opts.one_receiver_subscriptions.max(1);
    let many_records = (opts.one_receiver_records / many_subs).max(1);
    progress(&format!(
        "{many_subs} subscriptions on 1 receiver: ingesting {many_records} records"
    ));
    let many = throughput(opts, node, next, many_records, many_subs, 1, Feed::Live).await?;
    next += many_records;

    progress(&format!(
        "{} subscriptions over {} receivers: ingesting {} records",
        opts.fanout_subscriptions, opts.fanout_receivers, opts.fanout_records
    ));
    let fanout = throughput(
        opts,
        node,
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
    let paced = paced(
        opts,
        &opts.target,
        next,
        1,
        1,
        opts.paced_rate,
        opts.paced_seconds,
    )
    .await?;

    progress(&format!(
        "rich: {} call events to one subscription with a 2,048-bit certificate",
        opts.rich_events
    ));
    let rich = rich(&opts.target, 0, 1, 1, opts.rich_events).await?;
    next += opts.paced_rate * opts.paced_seconds.max(1) as usize;

    progress(&format!(
        "noisy neighbour: {} stuck subscriptions, {} queued, {} records/s beside them",
        opts.neighbour_subscriptions, opts.neighbour_notifications, opts.neighbour_rate
    ));
    let neighbour = neighbour(opts, &opts.target, next, opts.paced_seconds).await?;

    let complete = |t: &ThroughputFigures| t.received_notifications == t.expected_notifications;
    Ok(NotificationReport {
        // The engine's rate into one webhook is the drained backlog: live, one subscription
        // gets no more than its own ingest rate, which is the ingest API's bound, not delivery's.
        meets_throughput_floor: complete(&one)
            && complete(&backlog)
            && complete(&many)
            && backlog.notifications_per_second >= FLOOR_NOTIFICATIONS_PER_SECOND,
        meets_latency_floor: paced.received_notifications == paced.expected_notifications
            && paced.latency.p99_ms <= FLOOR_P99_MS,
        meets_rich_floor: rich.received_notifications as usize == rich.events
            && rich.notifications_per_second >= FLOOR_RICH_PER_SECOND,
        floor_rich_per_second: FLOOR_RICH_PER_SECOND,
        rich,
        neighbour,
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
