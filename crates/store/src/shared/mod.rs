//! What the SQLite and PostgreSQL stores share, written once.
//!
//! - [`Backend`]: the seam. Each store implements it with only what truly differs: its pools and
//!   write transaction, locking, announcing outbox work, and the few statements whose SQL differs
//!   (multi-row inserts, lists bound as one parameter, JSON functions).
//! - `store_impl!`, `identity_impl!`, `meetings_impl!`: the `Store`, `IdentityStore` and
//!   `MeetingStore` implementations, each written once and expanded for both stores. Their
//!   statements use `$1`-style placeholders, which sqlx's SQLite driver binds by number too.
//!   A backend passes the few trait methods it implements its own way (e.g. PostgreSQL's
//!   delivery leases) inside the macro call.
//! - Row decoding ([`Columns`] and the `*_from_row` functions) and the values both stores write
//!   (times, JSON lists, queued notifications).

pub(crate) mod identity;
pub(crate) mod meetings;
mod store;

pub(crate) use identity::identity_impl;
pub(crate) use meetings::meetings_impl;
pub(crate) use store::store_impl;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Datelike, SecondsFormat, Utc};
use sqlx::{Database, Pool, Row, Transaction};

use crate::*;

/// What differs between the two stores; the shared implementations call only this (and
/// statements both dialects accept). Every method is used with a concrete store, so the
/// futures' `Send` is known where they are awaited.
pub(crate) trait Backend: Send + Sync {
    type Db: Database;

    /// The pool for reads that need not see the caller's own latest write.
    fn reader(&self) -> &Pool<Self::Db>;
    /// The pool for writes, and for reads that must see every committed write.
    fn writer(&self) -> &Pool<Self::Db>;
    /// A write transaction.
    async fn begin_write(&self) -> StoreResult<Transaction<'static, Self::Db>>;
    /// Serializes the transactions that take `name` until they end (PostgreSQL: a row lock in
    /// `locks`; SQLite: nothing, its single writer already does).
    async fn serialize(
        conn: &mut <Self::Db as Database>::Connection,
        name: &str,
    ) -> StoreResult<()>;
    /// Whether no stored row can hold one of these keys (PostgreSQL text cannot hold NUL): a
    /// lookup then finds nothing instead of failing.
    fn unstorable(keys: &[&str]) -> bool;
    /// Tells other nodes that outbox rows were committed (PostgreSQL: `pg_notify`).
    async fn announce_outbox(&self);

    /// Inserts the notifications, in order, all due at `now` (never called with none).
    async fn insert_notifications(
        conn: &mut <Self::Db as Database>::Connection,
        tenant_id: &str,
        now: DateTime<Utc>,
        notes: &[NewNotification],
    ) -> StoreResult<()>;
    /// Deletes outbox rows by `seq` (never called with none).
    async fn delete_notifications(
        conn: &mut <Self::Db as Database>::Connection,
        seqs: &[i64],
    ) -> StoreResult<()>;
    /// Sets when outbox rows are tried next and counts the attempt (never called with none).
    async fn reschedule(
        conn: &mut <Self::Db as Database>::Connection,
        seqs: &[i64],
        due_ns: i64,
        attempted_ns: i64,
    ) -> StoreResult<()>;
    /// Inserts delivery attempts (never called with none).
    async fn insert_attempts(
        conn: &mut <Self::Db as Database>::Connection,
        attempts: &[DeliveryAttempt],
    ) -> StoreResult<()>;
    /// Deletes what belongs to these (deleted) subscriptions besides their row: their
    /// notifications, and their delivery leases where there are any.
    async fn forget_subscriptions(
        conn: &mut <Self::Db as Database>::Connection,
        ids: &[&str],
    ) -> StoreResult<()>;
    /// Upserts a chunk of call records (no id twice) in input order: a new id gets version 1
    /// and the next `seq`, an existing one keeps its `seq` and gets version + 1. Answers
    /// `id → (seq, version)`.
    async fn upsert_call_records(
        conn: &mut <Self::Db as Database>::Connection,
        tenant_id: &str,
        chunk: &[CallRecordWrite],
        modified: &str,
    ) -> StoreResult<HashMap<String, (i64, i64)>>;
    /// Removes the participant links of these records (never called with none).
    async fn unlink_participants(
        conn: &mut <Self::Db as Database>::Connection,
        seqs: &[i64],
    ) -> StoreResult<()>;
    /// Links participants to records, `(participant id, record seq)`, ignoring links that
    /// exist (never called with none).
    async fn link_participants(
        conn: &mut <Self::Db as Database>::Connection,
        tenant_id: &str,
        links: &[(&str, i64)],
    ) -> StoreResult<()>;

    /// Appends `$1` to the JSON array `secret_hashes` of the app `$2`/`$3` (tenant, client).
    const ADD_APP_SECRET: &'static str;
    /// Appends `$1` to the app's JSON array `roles` unless it holds it already.
    const GRANT_APP_ROLE: &'static str;
    /// Removes `$1` from the app's JSON array `roles` if it holds it.
    const REVOKE_APP_ROLE: &'static str;
    /// Ends a SELECT that reads a row the transaction then updates (PostgreSQL: `FOR UPDATE`).
    const FOR_UPDATE: &'static str;
}

/// A notification to queue (see [`Notifications`]).
pub(crate) struct NewNotification {
    pub(crate) id: String,
    pub(crate) subscription_id: String,
    pub(crate) kind: NotificationKind,
    pub(crate) event: String,
    pub(crate) resource_id: Option<String>,
    pub(crate) subject: Option<String>,
}

/// Notifications a write queues in its transaction, in the order they are pushed (their `seq`
/// follows it).
#[derive(Default)]
pub(crate) struct Notifications(pub(crate) Vec<NewNotification>);

impl Notifications {
    pub(crate) fn push(
        &mut self,
        subscription_id: &str,
        kind: NotificationKind,
        event: &str,
        resource_id: Option<&str>,
        subject: Option<String>,
    ) {
        self.0.push(NewNotification {
            id: uuid::Uuid::new_v4().to_string(),
            subscription_id: subscription_id.to_string(),
            kind,
            event: event.to_string(),
            resource_id: resource_id.map(str::to_string),
            subject,
        });
    }
}

/// Typed column reads, so that row decoding is written once for both stores' rows.
pub(crate) trait Columns {
    fn text(&self, column: &str) -> StoreResult<String>;
    fn opt_text(&self, column: &str) -> StoreResult<Option<String>>;
    fn int(&self, column: &str) -> StoreResult<i64>;
    fn opt_int(&self, column: &str) -> StoreResult<Option<i64>>;
    fn flag(&self, column: &str) -> StoreResult<bool>;
    fn opt_bytes(&self, column: &str) -> StoreResult<Option<Vec<u8>>>;
    /// A JSON array of strings held as text.
    fn list(&self, column: &str) -> StoreResult<Vec<String>> {
        parse_list(&self.text(column)?)
    }
    /// An RFC 3339 time held as text.
    fn time(&self, column: &str) -> StoreResult<DateTime<Utc>> {
        parse_time(&self.text(column)?)
    }
    /// Nanoseconds since the epoch.
    fn ns(&self, column: &str) -> StoreResult<DateTime<Utc>> {
        Ok(from_ns(self.int(column)?))
    }
}

macro_rules! columns_for {
    ($($row:ty),*) => {$(
        impl Columns for $row {
            fn text(&self, column: &str) -> StoreResult<String> {
                Ok(self.try_get(column)?)
            }
            fn opt_text(&self, column: &str) -> StoreResult<Option<String>> {
                Ok(self.try_get(column)?)
            }
            fn int(&self, column: &str) -> StoreResult<i64> {
                Ok(self.try_get(column)?)
            }
            fn opt_int(&self, column: &str) -> StoreResult<Option<i64>> {
                Ok(self.try_get(column)?)
            }
            fn flag(&self, column: &str) -> StoreResult<bool> {
                Ok(self.try_get(column)?)
            }
            fn opt_bytes(&self, column: &str) -> StoreResult<Option<Vec<u8>>> {
                Ok(self.try_get(column)?)
            }
        }
    )*};
}
columns_for!(sqlx::sqlite::SqliteRow, sqlx::postgres::PgRow);

/// Nanoseconds since the epoch, saturating outside the representable years (1677–2262).
pub(crate) fn to_ns(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt()
        .unwrap_or(if t.year() < 1970 { i64::MIN } else { i64::MAX })
}

pub(crate) fn from_ns(ns: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(ns)
}

pub(crate) fn fmt_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

pub(crate) fn parse_time(s: &str) -> StoreResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("bad timestamp {s:?}: {e}")))
}

pub(crate) fn json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

pub(crate) fn parse_list(s: &str) -> StoreResult<Vec<String>> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("bad list: {e}")))
}

/// Splits a batch into consecutive runs in which no id repeats, keeping input order.
pub(crate) fn distinct_id_chunks(records: &[CallRecordWrite]) -> Vec<&[CallRecordWrite]> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut seen = HashSet::new();
    for (i, rec) in records.iter().enumerate() {
        if !seen.insert(rec.id.as_str()) {
            chunks.push(&records[start..i]);
            start = i;
            seen.clear();
            seen.insert(rec.id.as_str());
        }
    }
    if start < records.len() {
        chunks.push(&records[start..]);
    }
    chunks
}

/// What `put_call_records` needs of a live call-record subscription.
pub(crate) struct Watcher {
    pub(crate) id: String,
    pub(crate) created: bool,
    pub(crate) updated: bool,
    pub(crate) participants: Vec<String>,
}

impl Watcher {
    pub(crate) fn from_row(r: &impl Columns) -> StoreResult<Self> {
        Ok(Watcher {
            id: r.text("id")?,
            created: r.flag("notify_created")?,
            updated: r.flag("notify_updated")?,
            participants: r.list("participant_filter")?,
        })
    }

    /// The change type to notify for a record now at `version`, if this subscription wants it.
    /// A subscription for `updated` is also told of creation (as Graph does), with the change
    /// type it asked for.
    pub(crate) fn change_for(
        &self,
        version: i64,
        record_participants: &[String],
    ) -> Option<&'static str> {
        let matches = self.participants.is_empty()
            || self
                .participants
                .iter()
                .any(|p| record_participants.contains(p));
        if !matches {
            return None;
        }
        match (version == 1, self.created, self.updated) {
            (true, true, _) => Some("created"),
            (true, false, true) | (false, _, true) => Some("updated"),
            _ => None,
        }
    }
}

/// The subscriptions with outbox rows, found by skipping through the `outbox_stream` index (one
/// probe each, whatever their backlog): the first step of both stores' delivery-round query.
pub(crate) const DUE_SUBSCRIPTIONS: &str = "WITH RECURSIVE subs(sub) AS ( \
       SELECT (SELECT subscription_id FROM outbox ORDER BY subscription_id LIMIT 1) \
       UNION ALL \
       SELECT (SELECT x.subscription_id FROM outbox x WHERE x.subscription_id > s.sub \
         ORDER BY x.subscription_id LIMIT 1) FROM subs s WHERE s.sub IS NOT NULL)";

pub(crate) const SUBSCRIPTION_COLUMNS: &str = "id, tenant_id, app_id, resource_kind, resource, \
     change_type, notify_created, notify_updated, participant_filter, notification_url, \
     lifecycle_url, client_state, expiration_ns, authorized_until_ns, scope, created_ns, \
     encryption_certificate, encryption_certificate_id, notification_url_app_id, body";

pub(crate) fn subscription_from_row(r: &impl Columns) -> StoreResult<SubscriptionRow> {
    Ok(SubscriptionRow {
        id: r.text("id")?,
        tenant_id: r.text("tenant_id")?,
        app_id: r.text("app_id")?,
        resource_kind: r.text("resource_kind")?,
        resource: r.text("resource")?,
        change_type: r.text("change_type")?,
        notify_created: r.flag("notify_created")?,
        notify_updated: r.flag("notify_updated")?,
        participant_filter: r.list("participant_filter")?,
        notification_url: r.text("notification_url")?,
        lifecycle_url: r.opt_text("lifecycle_url")?,
        client_state: r.opt_text("client_state")?,
        expiration: r.ns("expiration_ns")?,
        authorized_until: r.ns("authorized_until_ns")?,
        scope: r.opt_text("scope")?,
        created: r.ns("created_ns")?,
        encryption: match (
            r.opt_text("encryption_certificate")?,
            r.opt_text("encryption_certificate_id")?,
        ) {
            (Some(certificate), Some(certificate_id)) => Some(EncryptionSettings {
                certificate,
                certificate_id,
            }),
            _ => None,
        },
        notification_url_app_id: r.opt_text("notification_url_app_id")?,
        body: r.text("body")?,
    })
}

pub(crate) fn tenant_from_row(r: &impl Columns) -> StoreResult<Tenant> {
    Ok(Tenant {
        id: r.text("id")?,
        display_name: r.text("display_name")?,
        created_at: r.time("created_at")?,
    })
}

pub(crate) const APP_COLUMNS: &str =
    "client_id, tenant_id, display_name, secret_hashes, roles, created_at";

pub(crate) fn app_from_row(r: &impl Columns) -> StoreResult<App> {
    Ok(App {
        client_id: r.text("client_id")?,
        tenant_id: r.text("tenant_id")?,
        display_name: r.text("display_name")?,
        secret_hashes: r.list("secret_hashes")?,
        roles: r.list("roles")?,
        created_at: r.time("created_at")?,
    })
}

pub(crate) fn record_from_row(
    r: &impl Columns,
    with_navigations: bool,
) -> StoreResult<StoredCallRecord> {
    Ok(StoredCallRecord {
        seq: r.int("seq")?,
        id: r.text("id")?,
        version: r.int("version")?,
        last_modified: r.time("last_modified")?,
        start: r.ns("start_ns")?,
        body: r.text("body")?,
        sessions: with_navigations.then(|| r.text("sessions")).transpose()?,
        participants: with_navigations
            .then(|| r.text("participants"))
            .transpose()?,
    })
}

pub(crate) fn attempt_from_row(r: &impl Columns) -> StoreResult<(i64, DeliveryAttempt)> {
    Ok((
        r.int("seq")?,
        DeliveryAttempt {
            subscription_id: r.text("subscription_id")?,
            notification_ids: r.list("notification_ids")?,
            url: r.text("url")?,
            at: r.ns("at_ns")?,
            status: r.opt_int("status")?.and_then(|s| u16::try_from(s).ok()),
            latency_ms: r.int("latency_ms")?,
            outcome: r.text("outcome")?,
            error: r.opt_text("error")?,
        },
    ))
}
