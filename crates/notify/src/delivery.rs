//! The delivery engine: drains the outbox to the subscribers' webhooks.
//!
//! - Due notifications are grouped by target URL into POSTs of up to `max_batch` items, with up to
//!   `max_in_flight_per_url` POSTs in flight per URL.
//! - A subscription's notifications keep their order: none is sent while an earlier one of the same
//!   subscription (and kind) is in flight or waiting for a retry.
//! - A 2xx within the timeout (3 s first, 10 s on retries) is delivered and leaves the outbox.
//!   Anything else is retried with exponential backoff and jitter until `retry_window` (4 h) has
//!   passed since the first attempt; then it is dropped, recorded, and a `missed` lifecycle
//!   notification goes to the subscription's lifecycle URL, if it has one.
//! - Graph's rules for endpoints that time out, per notification URL over 10-minute windows:
//!   more than 10 % of answers slower than the first timeout (3 s) make the endpoint *slow*, and
//!   its new notifications wait 10 minutes; more than 15 % of retries past the retry timeout
//!   (10 s) make it *dropped*, and its new notifications are dropped for 10 minutes (each with a
//!   `missed` lifecycle event). Retries keep going meanwhile and act as probes.
//! - Expired subscriptions are removed with their pending notifications.
//!
//! The outbox is the only state: after a crash or `kill -9` the engine starts over from it, so a
//! notification is delivered at least once; its stable `id` lets receivers drop repeats.
//!
//! The engine sleeps until woken: by this process's writers, by the store when another node
//! queued work (`Store::spawn_outbox_watcher`), by a finished POST, or when the next row falls
//! due; `idle_poll` bounds every sleep, so a lost wake-up only delays, never loses, work.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rand::Rng;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use callhook_crypto::EncryptionCertificate;
use callhook_store::{
    DeliveryAttempt, DueQuery, NotificationKind, OutboxRow, Store, SubscriptionRow, WebhookPost,
};

use crate::{payload, Clock, NotifyConfig};

/// The most due notifications one round looks at (each stream gives at most one POST's worth).
const ROUND_LIMIT: usize = 1000;
/// Longest pause between retries of one notification.
const MAX_BACKOFF_SECS: f64 = 600.0;
/// How often expired subscriptions are looked for (server-clock seconds).
const PURGE_EVERY_SECS: i64 = 5;

/// How often the reauthorization schedule is looked at (server-clock seconds).
const REAUTHORIZATION_CHECK_SECS: i64 = 30;

/// Graph's illustrative `reauthorizationRequired` cadence for `remaining` time.
fn reauthorization_interval(remaining: chrono::Duration) -> chrono::Duration {
    if remaining < chrono::Duration::minutes(60) {
        chrono::Duration::minutes(15)
    } else if remaining <= chrono::Duration::minutes(180) {
        remaining / 8
    } else {
        remaining / 4
    }
}

/// How long a signed validation token is reused for the same (tenant, audience).
const TOKEN_REUSE_MINUTES: i64 = 10;

/// Signs a validation token for (tenant, audience) at a server time.
pub type TokenMinter =
    Arc<dyn Fn(&str, &str, DateTime<Utc>) -> anyhow::Result<String> + Send + Sync>;

/// A validation token and when it was signed.
type SignedToken = (String, DateTime<Utc>);

/// What the engine needs for rich notifications.
#[derive(Clone)]
pub struct RichContext {
    /// callhook's base URL (content URLs in transcripts and recordings).
    pub base_url: String,
    pub mint: TokenMinter,
}

/// Response bodies are read up to this size and thrown away.
const RESPONSE_CAP: usize = 64 * 1024;

/// Counters for `/metrics`.
#[derive(Debug)]
pub struct DeliveryMetrics {
    pub delivered: AtomicU64,
    pub retried: AtomicU64,
    pub dropped: AtomicU64,
    pub posts: AtomicU64,
    /// Every POST made, without its bodies, as it is recorded (the console's live tail).
    /// Sending never waits for listeners: a slow one misses POSTs (`RecvError::Lagged`).
    pub posts_made: tokio::sync::broadcast::Sender<Arc<WebhookPost>>,
    /// Slow/drop standing per notification URL (the engine judges, the console shows).
    endpoints: Mutex<HashMap<String, Health>>,
    /// Delivery latency histogram: counts per bucket of [`LATENCY_BUCKETS_MS`], plus the sum.
    pub latency_buckets: [AtomicU64; LATENCY_BUCKETS_MS.len()],
    pub latency_count: AtomicU64,
    pub latency_sum_ms: AtomicU64,
}

/// Upper bounds (ms) of the delivery-latency histogram buckets (queued → delivered).
pub const LATENCY_BUCKETS_MS: [u64; 10] = [5, 10, 25, 50, 100, 250, 1000, 10_000, 60_000, 600_000];

impl Default for DeliveryMetrics {
    fn default() -> Self {
        Self {
            delivered: AtomicU64::default(),
            retried: AtomicU64::default(),
            dropped: AtomicU64::default(),
            posts: AtomicU64::default(),
            posts_made: tokio::sync::broadcast::channel(256).0,
            endpoints: Mutex::default(),
            latency_buckets: Default::default(),
            latency_count: AtomicU64::default(),
            latency_sum_ms: AtomicU64::default(),
        }
    }
}

impl DeliveryMetrics {
    /// A notification URL's standing under Graph's slow and drop rules at `now`: `healthy`,
    /// `slow` (new notifications wait) or `dropped` (new notifications are dropped).
    pub fn endpoint_standing(&self, url: &str, now: DateTime<Utc>) -> &'static str {
        let standing = self
            .endpoints
            .lock()
            .ok()
            .and_then(|m| m.get(url).map(|h| h.at(now).0))
            .unwrap_or_default();
        match standing {
            Standing::Normal => "healthy",
            Standing::Slow => "slow",
            Standing::Dropped => "dropped",
        }
    }

    fn observe_latency(&self, ms: u64) {
        for (i, bound) in LATENCY_BUCKETS_MS.iter().enumerate() {
            if ms <= *bound {
                self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_ms.fetch_add(ms, Ordering::Relaxed);
    }
}

/// The engine's shared parts; cheap to clone into tasks.
#[derive(Clone)]
pub struct Engine {
    store: Arc<dyn Store>,
    client: reqwest::Client,
    config: Arc<NotifyConfig>,
    clock: Clock,
    wake: Arc<Notify>,
    pub metrics: Arc<DeliveryMetrics>,
    /// (subscription, kind) pairs with a POST in flight, POSTs in flight per URL, and delivered
    /// rows waiting for the settler.
    busy: Arc<Mutex<Busy>>,
    settle_wake: Arc<Notify>,
    /// While set, nothing is sent (the emulator's pause control); notifications keep queueing.
    paused: Arc<AtomicBool>,
    /// This process, as the holder of delivery leases when nodes share a database.
    node_id: Arc<str>,
    /// What rich notifications need: callhook's base URL and a validation-token signer.
    rich: Option<Arc<RichContext>>,
    certificates: Arc<Mutex<HashMap<String, Arc<EncryptionCertificate>>>>,
    /// Validation tokens by (tenant, audience), with when they were signed.
    tokens: Arc<Mutex<HashMap<(String, String), SignedToken>>>,
}

/// An endpoint's standing under the slow and drop rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Standing {
    #[default]
    Normal,
    Slow,
    Dropped,
}

/// Answers of one notification URL in the current window.
#[derive(Debug, Default)]
struct Health {
    window_start: Option<DateTime<Utc>>,
    answers: u32,
    over_first_timeout: u32,
    over_retry_timeout: u32,
    standing: Standing,
    until: Option<DateTime<Utc>>,
}

impl Health {
    /// Counts one answer and judges the endpoint again.
    fn record(
        &mut self,
        now: DateTime<Utc>,
        slow: bool,
        past_retry_timeout: bool,
        config: &NotifyConfig,
    ) {
        if self
            .window_start
            .is_none_or(|s| now - s >= config.throttle_window)
        {
            *self = Health {
                window_start: Some(now),
                standing: self.standing,
                until: self.until,
                ..Health::default()
            };
        }
        self.answers += 1;
        self.over_first_timeout += u32::from(slow);
        self.over_retry_timeout += u32::from(past_retry_timeout);
        if self.answers < config.throttle_min_samples {
            return;
        }
        let share = |n: u32| f64::from(n) / f64::from(self.answers);
        let standing = if share(self.over_retry_timeout) > 0.15 {
            Standing::Dropped
        } else if share(self.over_first_timeout) > 0.10 {
            Standing::Slow
        } else {
            Standing::Normal
        };
        if standing != Standing::Normal && standing != self.standing {
            tracing::warn!(?standing, "webhook endpoint throttled");
        }
        self.standing = standing;
        self.until = (standing != Standing::Normal).then(|| now + config.throttle_window);
    }

    /// The standing that applies to new notifications at `now`.
    fn at(&self, now: DateTime<Utc>) -> (Standing, DateTime<Utc>) {
        match self.until {
            Some(until) if now < until => (self.standing, until),
            _ => (Standing::Normal, now),
        }
    }
}

/// A subscription's notifications of one kind: one ordered stream.
type StreamKey = (String, NotificationKind);

#[derive(Default)]
struct Busy {
    streams: HashSet<StreamKey>,
    per_url: HashMap<String, usize>,
    /// Delivered notifications whose removal from the outbox is not committed yet: the next
    /// rounds skip them, and the settler removes them (with their attempts) in bulk, so a
    /// subscription's next POST never waits for the database writer.
    delivered: HashSet<i64>,
    /// Streams that had rows to send but no free POST slot on their URL: the rounds leave them
    /// out while that URL stays full, so a slow URL's queue never crowds the others' reads.
    url_blocked: HashMap<StreamKey, String>,
    to_settle: Vec<i64>,
    attempts_to_record: Vec<DeliveryAttempt>,
    posts_to_record: Vec<WebhookPost>,
}

/// One POST to make.
struct Batch {
    url: String,
    rows: Vec<OutboxRow>,
    subs: Vec<SubscriptionRow>,
}

impl Engine {
    pub fn new(
        store: Arc<dyn Store>,
        client: reqwest::Client,
        config: Arc<NotifyConfig>,
        clock: Clock,
        wake: Arc<Notify>,
        metrics: Arc<DeliveryMetrics>,
    ) -> Self {
        Self {
            store,
            client,
            config,
            clock,
            wake,
            metrics,
            busy: Arc::new(Mutex::new(Busy::default())),
            settle_wake: Arc::new(Notify::new()),
            paused: Arc::default(),
            node_id: uuid::Uuid::new_v4().to_string().into(),
            rich: None,
            certificates: Arc::default(),
            tokens: Arc::default(),
        }
    }

    /// Enables rich notifications: encrypted resource data and validation tokens.
    pub fn with_rich(mut self, rich: RichContext) -> Self {
        self.rich = Some(Arc::new(rich));
        self
    }

    /// This process's id as the holder of delivery leases.
    pub fn node_id(&self) -> Arc<str> {
        self.node_id.clone()
    }

    /// Shares the pause switch with whoever steers the engine (`/_callhook/delivery`).
    pub fn with_pause(mut self, paused: Arc<AtomicBool>) -> Self {
        self.paused = paused;
        self
    }

    /// Holds leases under `node_id` (shown by `GET /_callhook/delivery`) instead of a fresh id.
    pub fn with_node_id(mut self, node_id: Arc<str>) -> Self {
        self.node_id = node_id;
        self
    }

    /// Runs until the task is aborted.
    pub async fn run(self) {
        let settler = AbortOnDrop(tokio::spawn(self.clone().settle_loop()));
        // Rows other nodes queue wake this engine through the store (PostgreSQL LISTEN/NOTIFY);
        // the idle poll below stays the safety net for wake-ups lost while it reconnects. It
        // ends with the engine.
        let _watcher = self
            .store
            .spawn_outbox_watcher(self.wake.clone())
            .map(AbortOnDrop);
        let mut sends: JoinSet<()> = JoinSet::new();
        let mut reauth_sent = HashMap::new();
        let mut reauth_checked: Option<DateTime<Utc>> = None;
        let mut purged_at: Option<DateTime<Utc>> = None;
        let mut renewed_at = Instant::now();
        // Leases of the subscriptions this node is sending for outlive their sends.
        let renew_every = self
            .config
            .delivery_lease
            .to_std()
            .unwrap_or(Duration::from_secs(30))
            / 3;
        loop {
            let now = self.clock.now();
            if renewed_at.elapsed() >= renew_every {
                renewed_at = Instant::now();
                self.renew_leases(now).await;
            }
            let check_due = reauth_checked
                .is_none_or(|t| now - t >= chrono::Duration::seconds(REAUTHORIZATION_CHECK_SECS));
            if check_due {
                // One node at a time sends reauthorizationRequired (the job's lease outlives
                // the check interval, and this node renews it on each check).
                let lease = self
                    .config
                    .delivery_lease
                    .max(chrono::Duration::seconds(3 * REAUTHORIZATION_CHECK_SECS));
                let mine = self
                    .store
                    .claim_job("reauthorization", &self.node_id, now, lease)
                    .await
                    .unwrap_or(false);
                if mine {
                    if let Err(e) = self.reauthorization_round(now, &mut reauth_sent).await {
                        tracing::warn!(error = %e, "reauthorization check failed");
                    }
                }
                reauth_checked = Some(now);
            }
            // Expired subscriptions are looked for every few seconds, not on every round.
            if purged_at
                .is_none_or(|t| now < t || now - t >= chrono::Duration::seconds(PURGE_EVERY_SECS))
            {
                purged_at = Some(now);
                match self.store.purge_expired_subscriptions(now).await {
                    Ok(gone) if !gone.is_empty() => {
                        tracing::info!(count = gone.len(), "removed expired subscriptions")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "purging expired subscriptions failed"),
                }
            }
            match self.plan_round(now).await {
                Ok(batches) => {
                    for batch in batches {
                        let engine = self.clone();
                        sends.spawn(async move { engine.send(batch).await });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "reading the outbox failed"),
            }
            let wait = self.idle_wait(now).await;
            tokio::select! {
                _ = self.wake.notified() => {}
                Some(_) = sends.join_next(), if !sends.is_empty() => {}
                _ = tokio::time::sleep(wait) => {}
            }
            while sends.try_join_next().is_some() {}
            if settler.0.is_finished() {
                tracing::error!("the delivery settler stopped; delivery stops with it");
                return;
            }
        }
    }

    /// Removes delivered notifications from the outbox and records their attempts, in bulk,
    /// off the delivery path. Until a removal commits, its rows stay in `delivered` (skipped
    /// by the rounds); a crash before it commits sends them again, which at-least-once allows.
    async fn settle_loop(self) {
        loop {
            self.settle_wake.notified().await;
            loop {
                let (seqs, attempts, posts) = match self.busy.lock() {
                    Ok(mut b) => (
                        std::mem::take(&mut b.to_settle),
                        std::mem::take(&mut b.attempts_to_record),
                        std::mem::take(&mut b.posts_to_record),
                    ),
                    Err(_) => return,
                };
                if seqs.is_empty() && attempts.is_empty() && posts.is_empty() {
                    break;
                }
                // The console's copy of the exchange: losing it never holds up delivery.
                if let Err(e) = self.store.record_webhook_posts(&posts).await {
                    tracing::warn!(error = %e, count = posts.len(), "keeping webhook POSTs for the console failed");
                }
                if seqs.is_empty() && attempts.is_empty() {
                    continue;
                }
                match self.store.settle_delivered(&seqs, &attempts).await {
                    Ok(()) => {
                        if let Ok(mut b) = self.busy.lock() {
                            for s in &seqs {
                                b.delivered.remove(s);
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "removing delivered notifications failed; trying again");
                        if let Ok(mut b) = self.busy.lock() {
                            b.to_settle.extend(seqs);
                            b.attempts_to_record.extend(attempts);
                        }
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        }
    }

    /// Sends `reauthorizationRequired` to subscriptions whose authorization (or the subscription
    /// itself) runs out soon, on Graph's illustrative schedule: every quarter of the remaining
    /// time, halved between 60 and 180 minutes, every 15 minutes below 60, none after expiry.
    async fn reauthorization_round(
        &self,
        now: DateTime<Utc>,
        sent: &mut HashMap<(String, i64), DateTime<Utc>>,
    ) -> anyhow::Result<()> {
        for sub in self.store.lifecycle_subscriptions().await? {
            let deadline = sub.authorized_until.min(sub.expiration);
            let remaining = deadline - now;
            if remaining <= chrono::Duration::zero() {
                continue;
            }
            let key = (sub.id.clone(), deadline.timestamp());
            // The cadence of a fresh authorization counts from its beginning.
            let last = *sent.entry(key.clone()).or_insert_with(|| {
                now.min(sub.authorized_until - self.config.authorization_lifetime)
            });
            if now - last >= reauthorization_interval(remaining) {
                self.store
                    .enqueue_lifecycle(&sub.tenant_id, &sub.id, "reauthorizationRequired", now)
                    .await?;
                sent.insert(key, now);
            }
        }
        sent.retain(|(_, deadline), _| *deadline > now.timestamp());
        Ok(())
    }

    async fn renew_leases(&self, now: DateTime<Utc>) {
        // A subscription can have a change and a lifecycle stream in flight: one lease.
        let mut subs: Vec<String> = match self.busy.lock() {
            Ok(b) => b.streams.iter().map(|(s, _)| s.clone()).collect(),
            Err(_) => return,
        };
        subs.sort();
        subs.dedup();
        if subs.is_empty() {
            return;
        }
        match self
            .store
            .renew_leases(&self.node_id, &subs, now, self.config.delivery_lease)
            .await
        {
            Ok(held) if held.len() < subs.len() => tracing::warn!(
                lost = subs.len() - held.len(),
                "delivery leases taken over by another node; their notifications may repeat"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "renewing delivery leases failed"),
        }
    }

    /// How long to sleep when nothing wakes the engine: until the next notification is due.
    /// Rows still due after a round wait on a POST in flight, whose completion wakes the loop
    /// (`join_next`, `wake`), so they need no polling of their own.
    async fn idle_wait(&self, now: DateTime<Utc>) -> Duration {
        match self.store.next_due_for(&self.node_id, now).await {
            Ok(Some(due)) if due > now => (due - now)
                .to_std()
                .unwrap_or(self.config.idle_poll)
                .min(self.config.idle_poll),
            _ => self.config.idle_poll,
        }
    }

    /// Picks the POSTs to make now and marks their streams busy.
    async fn plan_round(&self, now: DateTime<Utc>) -> anyhow::Result<Vec<Batch>> {
        if self.paused.load(Ordering::Relaxed) {
            return Ok(Vec::new());
        }
        // Streams in flight before the read: a send that finishes during the read may leave
        // delivered rows in what was read, so their streams sit this round out (the finishing
        // send wakes the engine for the next one).
        // Only this function adds to `busy`, so the snapshot also holds everything in flight
        // for the rest of the round.
        // Delivered rows join `delivered` before their stream leaves `streams`, so a stream
        // that is idle in this snapshot has every delivered row skipped or already removed.
        let max_per_url = self.config.max_in_flight_per_url.max(1);
        let (in_flight_before, url_in_flight, delivered, busy_streams): (
            HashSet<StreamKey>,
            HashMap<String, usize>,
            Vec<i64>,
            Vec<StreamKey>,
        ) = self
            .busy
            .lock()
            .map(|mut b| {
                let per_url = b.per_url.clone();
                // Streams behind a URL that has a slot again are read again.
                b.url_blocked
                    .retain(|_, url| per_url.get(url).copied().unwrap_or(0) >= max_per_url);
                let busy_streams = b
                    .streams
                    .iter()
                    .chain(b.url_blocked.keys())
                    .cloned()
                    .collect();
                (
                    b.streams.clone(),
                    per_url,
                    b.delivered.iter().copied().collect(),
                    busy_streams,
                )
            })
            .unwrap_or_default();
        let batch_cap = self.config.max_batch.max(1);
        // Each ready stream gives at most one POST's worth, streams and tenants take turns, and
        // streams that cannot send now (in flight, backing off, URL full) are not read at all.
        let query = DueQuery {
            now,
            limit: ROUND_LIMIT as u32,
            per_stream: u32::try_from(batch_cap).unwrap_or(u32::MAX),
            skip: &delivered,
            busy: &busy_streams,
        };
        // With several nodes, a read also leases the subscriptions it returns to this node.
        let due = self
            .store
            .claim_due(&self.node_id, self.config.delivery_lease, &query)
            .await?;
        let read = due.len();
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let mut subs: HashMap<String, Option<SubscriptionRow>> = HashMap::new();
        let mut orphans = Vec::new();
        // Per URL (in order of first appearance), its sendable streams in order of their first
        // row, each with its rows in outbox order.
        let mut url_order: Vec<String> = Vec::new();
        let mut url_streams: HashMap<String, Vec<(NotificationKind, String)>> = HashMap::new();
        let mut stream_rows: HashMap<StreamKey, Vec<OutboxRow>> = HashMap::new();
        let mut held = Vec::new();
        let mut dropped = Vec::new();
        let mut delayed: HashMap<DateTime<Utc>, Vec<i64>> = HashMap::new();
        for row in due {
            if !subs.contains_key(&row.subscription_id) {
                let sub = self.store.subscription_by_id(&row.subscription_id).await?;
                subs.insert(row.subscription_id.clone(), sub);
            }
            let Some(Some(sub)) = subs.get(&row.subscription_id) else {
                orphans.push(row.seq);
                continue;
            };
            if sub.expiration <= now {
                // Expired: it delivers nothing more (the purge removes it shortly).
                orphans.push(row.seq);
                continue;
            }
            let url = match row.kind {
                NotificationKind::Change => &sub.notification_url,
                NotificationKind::Lifecycle => match &sub.lifecycle_url {
                    Some(u) => u,
                    None => {
                        orphans.push(row.seq);
                        continue;
                    }
                },
            };
            // Graph holds change notifications while the subscription's authorization has
            // lapsed, until reauthorize or renewal (or the retry window ends).
            if row.kind == NotificationKind::Change && sub.authorized_until <= now {
                held.push(row);
                continue;
            }
            if row.attempts == 0 && row.kind == NotificationKind::Change {
                let (standing, until) = self
                    .metrics
                    .endpoints
                    .lock()
                    .map(|h| {
                        h.get(url)
                            .map(|x| x.at(now))
                            .unwrap_or((Standing::Normal, now))
                    })
                    .unwrap_or((Standing::Normal, now));
                match standing {
                    Standing::Dropped => {
                        dropped.push(row);
                        continue;
                    }
                    Standing::Slow => {
                        delayed.entry(until).or_default().push(row.seq);
                        continue;
                    }
                    Standing::Normal => {}
                }
            }
            let stream = (row.subscription_id.clone(), row.kind);
            if in_flight_before.contains(&stream) {
                continue;
            }
            let rows = stream_rows.entry(stream).or_insert_with(|| {
                url_streams
                    .entry(url.clone())
                    .or_insert_with(|| {
                        url_order.push(url.clone());
                        Vec::new()
                    })
                    .push((row.kind, row.subscription_id.clone()));
                Vec::new()
            });
            // One POST carries at most one batch of a stream; the rest waits for its turn.
            if rows.len() < batch_cap {
                rows.push(row);
            }
        }
        if !orphans.is_empty() {
            self.store.remove_notifications(&orphans).await?;
        }
        self.hold(held, now).await?;
        self.give_up(
            &dropped,
            now,
            "endpoint in drop state (too many answers past the retry timeout)",
        )
        .await?;
        for (until, seqs) in delayed {
            // A slow endpoint's new notifications wait out its window.
            self.store
                .reschedule_notifications(&seqs, until, now)
                .await?;
        }

        // Pack each URL's streams into its free POSTs. A stream goes whole into one POST (its
        // order holds); it takes the POST with the most room, or a new one when that room
        // cannot hold it, so busy streams fill POSTs of their own instead of sharing one.
        let mut planned: Vec<Batch> = Vec::new();
        let mut blocked: Vec<(StreamKey, String)> = Vec::new();
        for url in url_order {
            let in_flight = url_in_flight.get(&url).copied().unwrap_or(0);
            let room = max_per_url.saturating_sub(in_flight);
            let streams = url_streams.remove(&url).unwrap_or_default();
            if room == 0 {
                blocked.extend(streams.into_iter().map(|(k, s)| ((s, k), url.clone())));
                continue;
            }
            let mut batches: Vec<Batch> = Vec::new();
            for (kind, sub_id) in streams {
                let Some(mut rows) = stream_rows.remove(&(sub_id.clone(), kind)) else {
                    continue;
                };
                let best = batches
                    .iter()
                    .enumerate()
                    .map(|(i, b)| (i, batch_cap.saturating_sub(b.rows.len())))
                    .max_by_key(|(_, free)| *free);
                let index = match best {
                    Some((i, free)) if free >= rows.len() || batches.len() >= room => {
                        if free == 0 {
                            blocked.push(((sub_id, kind), url.clone()));
                            continue;
                        }
                        rows.truncate(free);
                        i
                    }
                    _ => {
                        batches.push(Batch {
                            url: url.clone(),
                            rows: Vec::new(),
                            subs: Vec::new(),
                        });
                        batches.len() - 1
                    }
                };
                let Some(Some(sub)) = subs.get(&sub_id) else {
                    continue;
                };
                let batch = &mut batches[index];
                if !batch.subs.iter().any(|s| s.id == sub.id) {
                    batch.subs.push(sub.clone());
                }
                batch.rows.extend(rows);
            }
            planned.extend(batches.into_iter().filter(|b| !b.rows.is_empty()));
        }

        let mut out: Vec<Batch> = Vec::new();
        if let Ok(mut busy) = self.busy.lock() {
            for batch in planned {
                for r in &batch.rows {
                    busy.streams.insert((r.subscription_id.clone(), r.kind));
                }
                *busy.per_url.entry(batch.url.clone()).or_insert(0) += 1;
                out.push(batch);
            }
            busy.url_blocked.extend(blocked);
        }
        // A full read may have left ready streams unread: the next round follows at once. It
        // reads past this one, whose rows were sent, found blocked, rescheduled or removed.
        if read >= ROUND_LIMIT {
            self.wake.notify_one();
        }
        Ok(out)
    }

    /// Notifications of subscriptions whose authorization lapsed wait (up to the retry window).
    async fn hold(&self, rows: Vec<OutboxRow>, now: DateTime<Utc>) -> anyhow::Result<()> {
        let (expired, waiting): (Vec<_>, Vec<_>) = rows
            .into_iter()
            .partition(|r| now - r.first_attempt.unwrap_or(r.created) >= self.config.retry_window);
        if !waiting.is_empty() {
            let seqs: Vec<i64> = waiting.iter().map(|r| r.seq).collect();
            // Looked at again soon; a reauthorize or renewal wakes the engine at once.
            self.store
                .reschedule_notifications(&seqs, now + chrono::Duration::seconds(30), now)
                .await?;
        }
        self.give_up(&expired, now, "authorization expired").await
    }

    /// Drops notifications for good: recorded, and a `missed` lifecycle notification queued.
    async fn give_up(
        &self,
        rows: &[OutboxRow],
        now: DateTime<Utc>,
        why: &str,
    ) -> anyhow::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
        self.store.remove_notifications(&seqs).await?;
        self.metrics
            .dropped
            .fetch_add(rows.len() as u64, Ordering::Relaxed);
        // Per subscription: its tenant, how many notifications it lost, and whether any was a change.
        let mut lost: Vec<(String, String, usize, bool)> = Vec::new();
        let mut attempts = Vec::new();
        for r in rows {
            tracing::debug!(notification = %r.id, subscription = %r.subscription_id, reason = why, "notification dropped");
            attempts.push(DeliveryAttempt {
                subscription_id: r.subscription_id.clone(),
                notification_ids: vec![r.id.clone()],
                url: String::new(),
                at: now,
                status: None,
                latency_ms: 0,
                outcome: "dropped".into(),
                error: Some(why.to_string()),
            });
            let change = r.kind == NotificationKind::Change;
            match lost.iter_mut().find(|(s, ..)| *s == r.subscription_id) {
                Some(entry) => {
                    entry.2 += 1;
                    entry.3 |= change;
                }
                None => lost.push((r.subscription_id.clone(), r.tenant_id.clone(), 1, change)),
            }
        }
        self.store.record_attempts(&attempts).await?;
        for (sub_id, tenant, count, any_change) in lost {
            let subscription = self.store.subscription_by_id(&sub_id).await?;
            let host = subscription
                .as_ref()
                .map(|s| crate::http::host_of(&s.notification_url))
                .unwrap_or_default();
            // One line an operator can act on: whose notifications, sent where, and why they went.
            tracing::warn!(subscription = %sub_id, host = %host, cause = why, notifications = count, "notifications dropped");
            let has_lifecycle = matches!(&subscription, Some(s) if s.lifecycle_url.is_some());
            if any_change && has_lifecycle {
                self.store
                    .enqueue_lifecycle(&tenant, &sub_id, "missed", now)
                    .await?;
            }
        }
        Ok(())
    }

    fn backoff(attempts: i64) -> chrono::Duration {
        let exp = 2f64.powi(attempts.clamp(0, 20) as i32);
        let base = exp.min(MAX_BACKOFF_SECS);
        let jitter = rand::thread_rng().gen_range(0.8..1.2);
        chrono::Duration::milliseconds((base * jitter * 1000.0) as i64)
    }

    /// Makes one POST and records what came of it.
    async fn send(self, batch: Batch) {
        let started_at = self.clock.now();
        let subs: HashMap<&str, &SubscriptionRow> =
            batch.subs.iter().map(|s| (s.id.as_str(), s)).collect();
        // IP-literal URLs never reach the guarded resolver, so their address is checked here
        // (a subscription may predate a stricter configuration).
        let url = reqwest::Url::parse(&batch.url);
        let refusal = match &url {
            Ok(u) => crate::http::target_refusal(u, &self.config),
            Err(_) => Some("not a URL"),
        };
        let body = match refusal {
            None => self.body(&batch.rows, &subs),
            Some(cause) => {
                let host = url
                    .as_ref()
                    .ok()
                    .and_then(|u| u.host_str())
                    .unwrap_or_default();
                let subscription = batch
                    .rows
                    .first()
                    .map_or("", |r| r.subscription_id.as_str());
                tracing::warn!(subscription, host, cause, "notification URL refused");
                Err(anyhow::anyhow!(
                    "the notification URL's address is not allowed as a webhook target: {cause}"
                ))
            }
        };
        let retry = batch.rows.iter().any(|r| r.attempts > 0);
        let timeout = if retry {
            self.config.retry_timeout
        } else {
            self.config.first_timeout
        };
        let clock_started = Instant::now();
        let (exchange, outcome) = match body {
            Ok(body) => {
                let bytes = serde_json::to_vec(&body).unwrap_or_default();
                post_json(
                    &self.client,
                    &batch.url,
                    bytes,
                    timeout,
                    self.config.post_body_cap,
                )
                .await
            }
            Err(e) => {
                // Nothing was sent; the batch is retried like a failed POST.
                tracing::error!(error = %e, "building a notification failed");
                let error = format!("building the notification failed: {e}");
                if let Err(e) = self
                    .settle(&batch, false, started_at, None, Duration::ZERO, Some(error))
                    .await
                {
                    tracing::error!(error = %e, "recording a delivery failed; the notifications stay queued");
                }
                self.release(&batch);
                return;
            }
        };
        let latency = clock_started.elapsed();
        self.metrics.posts.fetch_add(1, Ordering::Relaxed);
        let (status, error) = match &outcome {
            Ok(s) => (Some(s.as_u16()), None),
            Err(e) if e.is_timeout() => (
                None,
                Some(format!("no answer within {} s", timeout.as_secs())),
            ),
            Err(e) => (None, Some(error_chain(e))),
        };
        if let Err(e) = &outcome {
            let host = crate::http::host_of(&batch.url);
            let mut subscriptions: Vec<&str> = batch
                .rows
                .iter()
                .map(|r| r.subscription_id.as_str())
                .collect();
            subscriptions.dedup();
            tracing::info!(
                subscription = %subscriptions.join(","),
                host = %host,
                cause = %crate::http::cause(e),
                "notification POST failed; it is retried"
            );
        }
        let delivered = matches!(&outcome, Ok(s) if s.is_success()) && latency <= timeout;
        let timed_out = matches!(&outcome, Err(e) if e.is_timeout());
        if let Ok(mut health) = self.metrics.endpoints.lock() {
            health.entry(batch.url.clone()).or_default().record(
                self.clock.now(),
                timed_out || latency > self.config.first_timeout,
                retry && (timed_out || latency > self.config.retry_timeout),
                &self.config,
            );
        }
        if exchange.was_sent() {
            self.keep_post(
                &batch,
                exchange,
                delivered,
                started_at,
                latency,
                error.clone(),
            );
        }
        if let Err(e) = self
            .settle(&batch, delivered, started_at, status, latency, error)
            .await
        {
            let host = crate::http::host_of(&batch.url);
            tracing::error!(error = %e, host = %host, "recording a delivery failed; the notifications stay queued");
        }
        self.release(&batch);
    }

    /// Hands a POST's copy to the settler (stored with the next settle) and to live listeners.
    fn keep_post(
        &self,
        batch: &Batch,
        exchange: Exchange,
        delivered: bool,
        at: DateTime<Utc>,
        latency: Duration,
        error: Option<String>,
    ) {
        let mut subscription_ids: Vec<String> = Vec::new();
        for r in &batch.rows {
            if !subscription_ids.contains(&r.subscription_id) {
                subscription_ids.push(r.subscription_id.clone());
            }
        }
        let notification_ids = batch.rows.iter().map(|r| r.id.clone()).collect();
        let outcome = if delivered { "delivered" } else { "retry" };
        let post = exchange.into_post(
            &batch.url,
            subscription_ids,
            notification_ids,
            at,
            latency,
            outcome,
            error,
        );
        // No listener is fine: nobody is watching.
        let _ = self
            .metrics
            .posts_made
            .send(Arc::new(post.without_bodies()));
        if let Ok(mut busy) = self.busy.lock() {
            busy.posts_to_record.push(post);
        }
        self.settle_wake.notify_one();
    }

    /// The batch's streams and URL slot are free again; the engine looks for more work.
    fn release(&self, batch: &Batch) {
        if let Ok(mut busy) = self.busy.lock() {
            for r in &batch.rows {
                busy.streams.remove(&(r.subscription_id.clone(), r.kind));
            }
            if let Some(n) = busy.per_url.get_mut(&batch.url) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    busy.per_url.remove(&batch.url);
                }
            }
        }
        self.wake.notify_one();
    }

    /// The POST body: each item (rich ones encrypted for their subscription's certificate)
    /// and, when any item carries resource data, one validation token per (app, tenant).
    fn body(
        &self,
        rows: &[OutboxRow],
        subs: &HashMap<&str, &SubscriptionRow>,
    ) -> anyhow::Result<serde_json::Value> {
        let base_url = self.rich.as_ref().map_or("", |r| r.base_url.as_str());
        let mut items = Vec::with_capacity(rows.len());
        let mut audiences: Vec<(String, String)> = Vec::new();
        for r in rows {
            let Some(sub) = subs.get(r.subscription_id.as_str()) else {
                continue;
            };
            let certificate = match (&sub.encryption, r.kind) {
                (Some(e), NotificationKind::Change) if r.subject.is_some() => {
                    Some(self.certificate(&e.certificate)?)
                }
                _ => None,
            };
            let item = payload::item(r, sub, base_url, certificate.as_deref())?;
            if certificate.is_some() {
                let audience = sub
                    .notification_url_app_id
                    .clone()
                    .unwrap_or_else(|| sub.app_id.clone());
                let pair = (audience, sub.tenant_id.clone());
                if !audiences.contains(&pair) {
                    audiences.push(pair);
                }
            }
            items.push(item);
        }
        let mut tokens = Vec::with_capacity(audiences.len());
        for (audience, tenant) in audiences {
            tokens.push(self.validation_token(&tenant, &audience)?);
        }
        Ok(payload::collection(items, tokens))
    }

    /// A parsed certificate, kept while subscriptions use it.
    fn certificate(&self, base64_der: &str) -> anyhow::Result<Arc<EncryptionCertificate>> {
        if let Some(c) = self
            .certificates
            .lock()
            .ok()
            .and_then(|m| m.get(base64_der).cloned())
        {
            return Ok(c);
        }
        let parsed = Arc::new(EncryptionCertificate::from_base64_der(base64_der)?);
        if let Ok(mut m) = self.certificates.lock() {
            // Rotated-away certificates are not worth tracking one by one.
            if m.len() >= 10_000 {
                m.clear();
            }
            m.insert(base64_der.to_string(), parsed.clone());
        }
        Ok(parsed)
    }

    /// A validation token for (tenant, audience), reused for a few minutes: each is valid for
    /// about a day, and signing one per POST would cost more than the POST.
    fn validation_token(&self, tenant: &str, audience: &str) -> anyhow::Result<String> {
        let rich = self
            .rich
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("rich notifications are not configured"))?;
        let now = self.clock.now();
        let key = (tenant.to_string(), audience.to_string());
        if let Some((token, minted)) = self.tokens.lock().ok().and_then(|m| m.get(&key).cloned()) {
            if now - minted < chrono::Duration::minutes(TOKEN_REUSE_MINUTES) && now >= minted {
                return Ok(token);
            }
        }
        let token = (rich.mint)(tenant, audience, now)?;
        if let Ok(mut m) = self.tokens.lock() {
            m.insert(key, (token.clone(), now));
        }
        Ok(token)
    }

    async fn settle(
        &self,
        batch: &Batch,
        delivered: bool,
        at: DateTime<Utc>,
        status: Option<u16>,
        latency: Duration,
        error: Option<String>,
    ) -> anyhow::Result<()> {
        let latency_ms = i64::try_from(latency.as_millis()).unwrap_or(i64::MAX);
        let now = self.clock.now();
        let mut by_sub: Vec<(String, Vec<String>)> = Vec::new();
        for r in &batch.rows {
            match by_sub.iter_mut().find(|(s, _)| *s == r.subscription_id) {
                Some((_, ids)) => ids.push(r.id.clone()),
                None => by_sub.push((r.subscription_id.clone(), vec![r.id.clone()])),
            }
        }
        let seqs: Vec<i64> = batch.rows.iter().map(|r| r.seq).collect();
        let outcome = if delivered { "delivered" } else { "retry" };
        let attempt_records: Vec<DeliveryAttempt> = by_sub
            .into_iter()
            .map(|(subscription_id, notification_ids)| DeliveryAttempt {
                subscription_id,
                notification_ids,
                url: batch.url.clone(),
                at,
                status,
                latency_ms,
                outcome: outcome.into(),
                error: error.clone(),
            })
            .collect();
        if delivered {
            // Handed to the settler; skipped by the rounds until their removal commits.
            if let Ok(mut busy) = self.busy.lock() {
                busy.delivered.extend(seqs.iter().copied());
                busy.to_settle.extend(seqs.iter().copied());
                busy.attempts_to_record.extend(attempt_records);
            }
            self.settle_wake.notify_one();
            self.metrics
                .delivered
                .fetch_add(seqs.len() as u64, Ordering::Relaxed);
            // A subscription is gone once it has been told so.
            for r in &batch.rows {
                if r.kind == NotificationKind::Lifecycle && r.event == "subscriptionRemoved" {
                    self.store
                        .delete_subscription(&r.tenant_id, &r.subscription_id)
                        .await?;
                }
            }
            for r in &batch.rows {
                let queued = (now - r.created).num_milliseconds().max(0) as u64;
                self.metrics.observe_latency(queued);
            }
        } else {
            let (expired, retry): (Vec<&OutboxRow>, Vec<&OutboxRow>) = batch
                .rows
                .iter()
                .partition(|r| now - r.first_attempt.unwrap_or(at) >= self.config.retry_window);
            // Rows of one batch share their attempt count closely enough to share a schedule.
            let attempts = retry.iter().map(|r| r.attempts).max().unwrap_or(0);
            let retry_seqs: Vec<i64> = retry.iter().map(|r| r.seq).collect();
            self.store
                .reschedule_notifications(&retry_seqs, now + Self::backoff(attempts), at)
                .await?;
            self.metrics
                .retried
                .fetch_add(retry_seqs.len() as u64, Ordering::Relaxed);
            let expired: Vec<OutboxRow> = expired.into_iter().cloned().collect();
            self.give_up(&expired, now, "undelivered for the whole retry window")
                .await?;
            self.store.record_attempts(&attempt_records).await?;
        }
        Ok(())
    }
}

/// What went over the wire in one POST, for the console's copy.
#[derive(Default)]
pub struct Exchange {
    request_headers: Vec<(String, String)>,
    request_body: Vec<u8>,
    request_body_size: i64,
    response_status: Option<u16>,
    response_headers: Vec<(String, String)>,
    response_body: Vec<u8>,
    response_body_size: i64,
}

impl Exchange {
    /// Whether a request was made at all (nothing is kept of one that never left).
    pub fn was_sent(&self) -> bool {
        !self.request_headers.is_empty()
    }

    /// The request as hyper writes it: its own headers plus `host` and `content-length`.
    fn request(&mut self, request: &reqwest::Request, body: &[u8], cap: usize) {
        let url = request.url();
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => String::new(),
        };
        self.request_headers = vec![("host".into(), host)];
        self.request_headers.extend(header_pairs(request.headers()));
        self.request_headers
            .push(("content-length".into(), body.len().to_string()));
        self.request_body = body[..body.len().min(cap)].to_vec();
        self.request_body_size = body.len() as i64;
    }

    /// The stored form of this exchange.
    #[allow(clippy::too_many_arguments)]
    pub fn into_post(
        self,
        url: &str,
        subscription_ids: Vec<String>,
        notification_ids: Vec<String>,
        at: DateTime<Utc>,
        latency: Duration,
        outcome: &str,
        error: Option<String>,
    ) -> WebhookPost {
        WebhookPost {
            id: uuid::Uuid::new_v4().to_string(),
            at,
            url: url.to_string(),
            subscription_ids,
            notification_ids,
            latency_ms: i64::try_from(latency.as_millis()).unwrap_or(i64::MAX),
            outcome: outcome.into(),
            request_headers: self.request_headers,
            request_body: self.request_body,
            request_body_size: self.request_body_size,
            response_status: self.response_status,
            response_headers: self.response_headers,
            response_body: self.response_body,
            response_body_size: self.response_body_size,
            error,
        }
    }
}

/// POSTs a JSON body to a webhook, the one way notifications (and the console's replays) are
/// sent; returns what went over the wire, bodies cut at `cap` (nothing kept with 0), and the
/// status once the answer's body (up to 64 KiB) was read.
pub async fn post_json(
    client: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
    timeout: Duration,
    cap: usize,
) -> (Exchange, Result<reqwest::StatusCode, reqwest::Error>) {
    let mut exchange = Exchange::default();
    let outcome = async {
        // Headers set here rather than left to the client's defaults, so the copy kept is
        // what went over the wire.
        let request = client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::USER_AGENT, crate::http::USER_AGENT)
            .header(reqwest::header::ACCEPT, "*/*")
            .body(body.clone())
            .timeout(timeout)
            .build()?;
        if cap > 0 {
            exchange.request(&request, &body, cap);
        }
        let resp = client.execute(request).await?;
        let status = resp.status();
        if cap > 0 {
            exchange.response_status = Some(status.as_u16());
            exchange.response_headers = header_pairs(resp.headers());
        }
        let announced = resp.content_length();
        let mut answer = crate::handshake::read_capped(resp, RESPONSE_CAP).await?;
        if cap > 0 {
            exchange.response_body_size = announced
                .and_then(|n| i64::try_from(n).ok())
                .unwrap_or(answer.len() as i64);
            answer.truncate(cap);
            exchange.response_body = answer;
        }
        Ok(status)
    }
    .await;
    (exchange, outcome)
}

/// Header names and values in order (values that are not text as lossy UTF-8).
fn header_pairs(headers: &reqwest::header::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// Aborts a spawned task when dropped (the engine's helpers end with the engine).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::reauthorization_interval;
    use chrono::Duration;

    #[test]
    fn reauthorization_cadence_follows_graphs_illustration() {
        assert_eq!(
            reauthorization_interval(Duration::minutes(600)),
            Duration::minutes(150)
        );
        assert_eq!(
            reauthorization_interval(Duration::minutes(120)),
            Duration::minutes(15)
        );
        assert_eq!(
            reauthorization_interval(Duration::minutes(160)),
            Duration::minutes(20)
        );
        assert_eq!(
            reauthorization_interval(Duration::minutes(59)),
            Duration::minutes(15)
        );
    }
}
