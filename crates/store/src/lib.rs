//! callhook's storage. [`Store`] is the only way the rest of callhook reads or writes durable
//! state; [`SqliteStore`] is the embedded default (a file in the data directory, WAL mode).
//!
//! The store knows rows, ids, times and JSON bodies; it does not know Graph's types (bodies are
//! opaque JSON text validated by the API before they get here). Every write method is one
//! transaction: it happens whole or not at all, and once it returns `Ok` it survives `kill -9`.

mod console;
mod identity;
pub mod matching;
mod meetings;
mod postgres;
mod postgres_identity;
mod postgres_meetings;
mod sqlite;
mod sqlite_identity;
mod sqlite_meetings;
mod types;

pub use console::{ConsoleStore, WebhookPost};
pub use identity::*;
pub use meetings::*;
pub use postgres::{PostgresStore, OUTBOX_CHANNEL};
pub use sqlite::SqliteStore;
pub use types::*;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// A storage failure. Callers answer it with a 500/503; it never carries client data.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("unknown tenant")]
    UnknownTenant,
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Durable state of a callhook installation.
#[async_trait]
pub trait Store: MeetingStore + IdentityStore + ConsoleStore + Send + Sync + 'static {
    // --- installation ---
    /// The setting `name`, inserting `value` first if there is none (race-free across nodes).
    async fn setting_or_insert(&self, name: &str, value: &[u8]) -> StoreResult<Vec<u8>>;
    async fn signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>>;
    async fn insert_signing_key(&self, key: &StoredSigningKey) -> StoreResult<()>;

    // --- tenants and apps ---
    async fn insert_tenant(&self, tenant: &Tenant) -> StoreResult<()>;
    async fn tenant(&self, id: &str) -> StoreResult<Option<Tenant>>;
    async fn tenants(&self) -> StoreResult<Vec<Tenant>>;
    async fn insert_app(&self, app: &App) -> StoreResult<()>;
    async fn app(&self, client_id: &str) -> StoreResult<Option<App>>;

    // --- call records ---
    /// Inserts or replaces each record of the batch in one transaction: a new id gets
    /// version 1, an existing one is replaced with version + 1. Results are in input order.
    /// In the same transaction, every matching live subscription of the tenant gets its
    /// notification in the outbox (`created` for a new record, `updated` for every version).
    async fn put_call_records(
        &self,
        tenant_id: &str,
        records: &[CallRecordWrite],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<CallRecordWritten>>;
    async fn call_record(&self, tenant_id: &str, id: &str)
        -> StoreResult<Option<StoredCallRecord>>;
    /// Records in `seq` order after the query's cursor, at most `limit`.
    async fn list_call_records(
        &self,
        query: &CallRecordQuery,
    ) -> StoreResult<Vec<StoredCallRecord>>;
    /// Deletes records whose call started before `cutoff`; returns how many.
    async fn purge_call_records(&self, cutoff: DateTime<Utc>) -> StoreResult<u64>;

    // --- report rows ---
    async fn put_report_rows(
        &self,
        tenant_id: &str,
        report: ReportKind,
        rows: &[ReportRowWrite],
    ) -> StoreResult<()>;
    /// Row bodies of the range in (time, id) order, skipping `offset`, at most `limit`.
    async fn list_report_rows(&self, query: &ReportQuery) -> StoreResult<Vec<String>>;

    // --- subscriptions ---
    /// Creates a subscription unless one of `quotas` is full or the same app already has one
    /// for the same resource and change types; checked and inserted in one transaction.
    async fn create_subscription(
        &self,
        row: &SubscriptionRow,
        quotas: &[QuotaRule],
    ) -> StoreResult<Result<(), SubscriptionRefusal>>;
    async fn subscription(&self, tenant_id: &str, id: &str)
        -> StoreResult<Option<SubscriptionRow>>;
    /// A subscription whatever its tenant (for the delivery engine only).
    async fn subscription_by_id(&self, id: &str) -> StoreResult<Option<SubscriptionRow>>;
    /// Subscriptions of `tenant_id` in id order after `after_id`, at most `limit`; only those of
    /// `app_id` when given.
    async fn list_subscriptions(
        &self,
        tenant_id: &str,
        app_id: Option<&str>,
        after_id: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<SubscriptionRow>>;
    /// Replaces a subscription's row; false if it no longer exists.
    async fn update_subscription(&self, row: &SubscriptionRow) -> StoreResult<bool>;
    /// Deletes a subscription and its pending notifications; false if it did not exist.
    async fn delete_subscription(&self, tenant_id: &str, id: &str) -> StoreResult<bool>;
    /// Every subscription that has a lifecycle notification URL (for the reauthorization schedule).
    async fn lifecycle_subscriptions(&self) -> StoreResult<Vec<SubscriptionRow>>;
    /// Deletes subscriptions that expired at `now`, with their pending notifications.
    async fn purge_expired_subscriptions(
        &self,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<SubscriptionRow>>;

    // --- outbox ---
    /// Due notifications as a delivery round reads them ([`DueQuery`]): each ready stream from
    /// its head, fairly between streams and tenants; a subscription's notifications of one kind
    /// are returned in order and never past one of them that waits.
    async fn due_notifications(&self, query: &DueQuery<'_>) -> StoreResult<Vec<OutboxRow>>;
    /// The earliest time a notification becomes due, if any is waiting.
    async fn next_due(&self) -> StoreResult<Option<DateTime<Utc>>>;
    /// Makes a subscription's waiting change notifications due at `now` (after a reauthorization
    /// or renewal released them).
    async fn release_held(&self, subscription_id: &str, now: DateTime<Utc>) -> StoreResult<()>;
    /// Removes delivered (or given-up) notifications.
    async fn remove_notifications(&self, seqs: &[i64]) -> StoreResult<()>;
    /// Sets when notifications are tried next and how often they have been tried.
    async fn reschedule_notifications(
        &self,
        seqs: &[i64],
        due: DateTime<Utc>,
        attempted_at: DateTime<Utc>,
    ) -> StoreResult<()>;
    async fn enqueue_lifecycle(
        &self,
        tenant_id: &str,
        subscription_id: &str,
        event: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    async fn record_attempts(&self, attempts: &[DeliveryAttempt]) -> StoreResult<()>;
    /// Removes delivered notifications and records their attempts, in one transaction.
    async fn settle_delivered(&self, seqs: &[i64], attempts: &[DeliveryAttempt])
        -> StoreResult<()>;
    /// A subscription's most recent delivery attempts, newest first.
    async fn delivery_attempts(
        &self,
        subscription_id: &str,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryAttempt>> {
        let page = self
            .delivery_attempts_page(subscription_id, None, limit)
            .await?;
        Ok(page.into_iter().map(|(_, a)| a).collect())
    }
    /// A page of a subscription's delivery attempts, newest first, each with its position:
    /// those recorded before position `before` (all with `None`), at most `limit`.
    async fn delivery_attempts_page(
        &self,
        subscription_id: &str,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<(i64, DeliveryAttempt)>>;
    /// Deletes delivery attempts made before `cutoff`; returns how many.
    async fn purge_delivery_attempts(&self, cutoff: DateTime<Utc>) -> StoreResult<u64>;
    /// Notifications waiting in the outbox.
    async fn outbox_len(&self) -> StoreResult<u64>;

    // --- delivery leases (several nodes on one database) ---
    /// [`Store::due_notifications`] for node `node_id` among several sharing the database: the
    /// due rows (same query) of subscriptions whose delivery lease is
    /// free, expired or already this node's; every subscription with a row returned is leased to
    /// `node_id` until `now + lease`. Rows of subscriptions another node holds are left out, so
    /// each subscription's notifications are sent by one node at a time, in order. A dead node's
    /// subscriptions are claimable once its leases run out. Atomic across nodes (PostgreSQL:
    /// `FOR UPDATE SKIP LOCKED` and a compare-and-set upsert). The single-node stores (SQLite)
    /// answer exactly `due_notifications`.
    async fn claim_due(
        &self,
        node_id: &str,
        lease: chrono::Duration,
        query: &DueQuery<'_>,
    ) -> StoreResult<Vec<OutboxRow>> {
        let _ = (node_id, lease);
        self.due_notifications(query).await
    }
    /// Extends this node's leases on `subscription_ids` to `now + lease` (while their sends are
    /// in flight); returns those still held by `node_id` (sorted). A subscription missing from
    /// the answer was taken over by another node after the lease ran out: stop sending for it.
    async fn renew_leases(
        &self,
        node_id: &str,
        subscription_ids: &[String],
        now: DateTime<Utc>,
        lease: chrono::Duration,
    ) -> StoreResult<Vec<String>> {
        let _ = (node_id, now, lease);
        let mut held = subscription_ids.to_vec();
        held.sort();
        held.dedup();
        Ok(held)
    }
    /// Gives up every lease of `node_id` (on shutdown), so other nodes take over at once.
    async fn release_leases(&self, node_id: &str) -> StoreResult<()> {
        let _ = node_id;
        Ok(())
    }
    /// Claims (or keeps) the job `job` for `node_id` until `now + lease`, for work that one node
    /// at a time must do (e.g. the reauthorization check, which enqueues lifecycle
    /// notifications): true while this node holds it. Another node gets it only after the
    /// holder stops renewing it (by calling this again) and the lease runs out. Single-node
    /// stores always answer true.
    async fn claim_job(
        &self,
        job: &str,
        node_id: &str,
        now: DateTime<Utc>,
        lease: chrono::Duration,
    ) -> StoreResult<bool> {
        let _ = (job, node_id, now, lease);
        Ok(true)
    }
    /// [`Store::next_due`] for node `node_id`: the earliest time a row becomes claimable by it
    /// (due, and not under another node's live lease), or when another node's lease on waiting
    /// rows runs out.
    async fn next_due_for(
        &self,
        node_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<DateTime<Utc>>> {
        let _ = (node_id, now);
        self.next_due().await
    }

    // --- wake-ups across nodes ---
    /// Spawns a task that calls `wake.notify_one()` whenever any node commits outbox work
    /// (notifications queued or released, delivery leases given up over waiting rows), so a
    /// delivery engine hears at once of rows another node queued instead of on its next idle
    /// poll; also once whenever it starts listening. Abort the handle to stop it. `None` when
    /// there is nothing to hear from (SQLite: one process, whose writers wake its engine
    /// themselves) or no tokio runtime. Wake-ups are a hint, not a guarantee (none arrive while
    /// the listening connection is down): the engine keeps its idle poll as the safety net.
    fn spawn_outbox_watcher(&self, wake: Arc<Notify>) -> Option<JoinHandle<()>> {
        let _ = wake;
        None
    }

    // --- directory users ---
    async fn put_users(&self, tenant_id: &str, users: &[UserWrite]) -> StoreResult<()>;
    async fn user(&self, tenant_id: &str, id: &str) -> StoreResult<Option<String>>;
    /// User bodies in id order after `after_id`, at most `limit`.
    async fn list_users(
        &self,
        tenant_id: &str,
        after_id: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<(String, String)>>;
}
