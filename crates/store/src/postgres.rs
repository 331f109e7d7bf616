//! [`Store`] on PostgreSQL, for several `callhook serve` nodes sharing one database.
//!
//! Same semantics as [`crate::SqliteStore`], method for method. Where SQLite relies on its single
//! writer, PostgreSQL takes a row lock in the `locks` table inside the transaction:
//! - writers that assign a tenant's list order (`seq` of call records and call events) are
//!   serialized per tenant, so commit order equals `seq` order and a reader paging by `seq`
//!   never skips a row that commits late;
//! - subscription creation is serialized per tenant, so quotas and duplicates are checked
//!   race-free across nodes.
//!
//! Delivery leases (`claim_due` and friends) decide which node sends a subscription's
//! notifications; see [`crate::Store::claim_due`].
//!
//! Queued outbox work is announced with `pg_notify` on [`OUTBOX_CHANNEL`] once it is committed
//! (never for a rolled-back write), and every node's engine listens there
//! (`spawn_outbox_watcher`), so the node holding a subscription's lease hears at once of rows
//! another node queued for it. See [`PostgresStore::announce_outbox`] for why right after the
//! commit rather than inside the transaction.

use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Row, Transaction};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::sqlite::{
    distinct_id_chunks, fmt_time, from_ns, json_list, parse_list, parse_time, to_ns, Watcher,
};
use crate::*;

/// The PostgreSQL store: one connection pool shared by reads and writes.
#[derive(Clone)]
pub struct PostgresStore {
    pub(crate) pool: PgPool,
}

impl PostgresStore {
    /// Connects to a `postgres://` URL with at most `max_connections` connections and applies
    /// migrations (sqlx takes an advisory lock, so nodes starting together migrate once).
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)?;
        Self::connect_with(options, max_connections).await
    }

    /// Every connection plans each statement with its actual values (`plan_cache_mode =
    /// force_custom_plan`, set at connection start-up), never with a generic plan cached from
    /// other table sizes; see "Query plans that do not depend on statistics" in
    /// docs/deployment.md. A pool given to [`Self::from_pool`] brings its own settings.
    pub async fn connect_with(
        options: PgConnectOptions,
        max_connections: u32,
    ) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(StdDuration::from_secs(30))
            .connect_with(options.options([("plan_cache_mode", "force_custom_plan")]))
            .await?;
        Self::from_pool(pool).await
    }

    /// Uses an existing pool, applying migrations first.
    pub async fn from_pool(pool: PgPool) -> StoreResult<Self> {
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Database(format!("migration failed: {e}")))?;
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Tells every node's outbox watcher that rows were queued; called right after the commit
    /// that queued them. Not inside the transaction: a NOTIFY makes its transaction hold
    /// PostgreSQL's cluster-wide notify lock through the commit's WAL flush, so every such
    /// commit would wait for the others' flushes (8 concurrent writers on the 2-core test
    /// machine: ~3,000 commits/s without, ~600 with). After the commit it is a transaction that
    /// writes no WAL: one round trip, no flush. Best effort: a wake-up lost here (a failed call,
    /// a crash between the two) only waits for the other nodes' idle poll, and the write itself
    /// has succeeded, so a failure is logged, never returned.
    pub(crate) async fn announce_outbox(&self) {
        let sent = sqlx::query("SELECT pg_notify($1, '')")
            .bind(OUTBOX_CHANNEL)
            .execute(&self.pool)
            .await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, "announcing queued notifications failed; other nodes see them on their next idle poll");
        }
    }
}

/// The channel on which outbox work is announced once committed (rows queued or released,
/// leases given up over waiting rows), and every node's outbox watcher listens. Channels belong
/// to a database, so installations sharing a PostgreSQL server never hear each other.
pub const OUTBOX_CHANNEL: &str = "callhook_outbox";

/// Listens on [`OUTBOX_CHANNEL`] through `pool` (a connection of its own) and wakes the engine
/// for every notification, until the task is aborted. A lost connection is opened again, with
/// backoff while that fails; each time listening (re)starts the engine is woken too, because
/// what was committed while nobody listened was told to nobody.
async fn watch_outbox(pool: PgPool, wake: Arc<Notify>) {
    const FIRST_RETRY: StdDuration = StdDuration::from_millis(250);
    const LAST_RETRY: StdDuration = StdDuration::from_secs(30);
    let mut retry = FIRST_RETRY;
    loop {
        let started = Instant::now();
        let listening = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(OUTBOX_CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match listening.await {
            Ok(mut listener) => {
                wake.notify_one();
                loop {
                    match listener.try_recv().await {
                        Ok(Some(_)) => wake.notify_one(),
                        // The connection dropped and sqlx has listened again on a new one.
                        Ok(None) => {
                            tracing::info!("outbox listener reconnected");
                            wake.notify_one();
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "outbox listener lost; other nodes' work waits for the idle poll until it is back");
                            break;
                        }
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for outbox notifications; other nodes' work waits for the idle poll until it can");
            }
        }
        // A listener that ran a good while earns a fresh backoff.
        if started.elapsed() >= LAST_RETRY {
            retry = FIRST_RETRY;
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(LAST_RETRY);
    }
}

/// Whether any key contains NUL. PostgreSQL text cannot hold one, so no stored row can match such
/// a key: lookups answer "not found" (as SQLite does) instead of a database error.
pub(crate) fn nul(keys: &[&str]) -> bool {
    keys.iter().any(|k| k.contains('\0'))
}

/// Takes the row lock `name` until the transaction ends (creating its row the first time).
pub(crate) async fn lock(tx: &mut Transaction<'_, Postgres>, name: &str) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO locks (name) VALUES ($1) ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name",
    )
    .bind(name)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

const SUBSCRIPTION_COLUMNS: &str = "id, tenant_id, app_id, resource_kind, resource, change_type, notify_created, \
     notify_updated, participant_filter, notification_url, lifecycle_url, client_state, expiration_ns, \
     authorized_until_ns, scope, created_ns, encryption_certificate, encryption_certificate_id, \
     notification_url_app_id, body";

fn subscription_from_row(r: &PgRow) -> StoreResult<SubscriptionRow> {
    let certificate: Option<String> = r.try_get("encryption_certificate")?;
    let certificate_id: Option<String> = r.try_get("encryption_certificate_id")?;
    Ok(SubscriptionRow {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        app_id: r.try_get("app_id")?,
        resource_kind: r.try_get("resource_kind")?,
        resource: r.try_get("resource")?,
        change_type: r.try_get("change_type")?,
        notify_created: r.try_get("notify_created")?,
        notify_updated: r.try_get("notify_updated")?,
        participant_filter: parse_list(&r.try_get::<String, _>("participant_filter")?)?,
        notification_url: r.try_get("notification_url")?,
        lifecycle_url: r.try_get("lifecycle_url")?,
        client_state: r.try_get("client_state")?,
        expiration: from_ns(r.try_get("expiration_ns")?),
        authorized_until: from_ns(r.try_get("authorized_until_ns")?),
        scope: r.try_get("scope")?,
        created: from_ns(r.try_get("created_ns")?),
        encryption: match (certificate, certificate_id) {
            (Some(certificate), Some(certificate_id)) => Some(EncryptionSettings {
                certificate,
                certificate_id,
            }),
            _ => None,
        },
        notification_url_app_id: r.try_get("notification_url_app_id")?,
        body: r.try_get("body")?,
    })
}

pub(crate) const OUTBOX_COLUMNS: &str =
    "o.seq, o.id, o.tenant_id, o.subscription_id, o.kind, o.event, \
     o.resource_id, o.created_ns, o.due_ns, o.attempts, o.first_attempt_ns, o.subject";

fn outbox_from_row(r: &PgRow) -> StoreResult<OutboxRow> {
    let kind: String = r.try_get("kind")?;
    Ok(OutboxRow {
        seq: r.try_get("seq")?,
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        subscription_id: r.try_get("subscription_id")?,
        kind: if kind == "lifecycle" {
            NotificationKind::Lifecycle
        } else {
            NotificationKind::Change
        },
        event: r.try_get("event")?,
        resource_id: r.try_get("resource_id")?,
        created: from_ns(r.try_get("created_ns")?),
        due: from_ns(r.try_get("due_ns")?),
        attempts: r.try_get("attempts")?,
        first_attempt: r
            .try_get::<Option<i64>, _>("first_attempt_ns")?
            .map(from_ns),
        subject: r.try_get("subject")?,
    })
}

/// Subscriptions a delivery round may newly lease (see `claim_due`).
const NEW_LEASES_PER_ROUND: usize = 8;

/// A node's preference order over subscriptions (FNV-1a of both ids): stable for a node,
/// different between nodes.
fn spread(node_id: &str, subscription_id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in node_id.bytes().chain([0]).chain(subscription_id.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The ready streams' first rows (see [`DueQuery`]; the SQLite store's `DUE_STREAMS_SQLITE`
/// is the same query): $1 now, $2 skip, $3 busy streams, $4 rows per stream, $5 rows in all;
/// `heads_filter` narrows the streams (leases), `extra` adds output columns. Every step walks
/// `outbox_stream` from a known key with a LIMIT (a skip scan over the subscriptions, then each
/// stream from its head), so the plan is the same whatever the statistics say and a round
/// costs the streams it looks at and the rows it returns, never the backlog behind them.
fn due_streams_sql(heads_filter: &str, extra: &str) -> String {
    format!(
        "WITH RECURSIVE subs(sub) AS ( \
           SELECT (SELECT subscription_id FROM outbox ORDER BY subscription_id LIMIT 1) \
           UNION ALL \
           SELECT (SELECT x.subscription_id FROM outbox x WHERE x.subscription_id > s.sub \
             ORDER BY x.subscription_id LIMIT 1) FROM subs s WHERE s.sub IS NOT NULL), \
         heads AS ( \
           SELECT s.sub, k.kind, h.seq AS head_seq, h.tenant_id \
           FROM subs s CROSS JOIN (VALUES ('change'), ('lifecycle')) AS k(kind) \
           CROSS JOIN LATERAL (SELECT x.seq, x.tenant_id, x.due_ns FROM outbox x \
             WHERE x.subscription_id = s.sub AND x.kind = k.kind AND NOT (x.seq = ANY($2)) \
             ORDER BY x.seq LIMIT 1) h \
           WHERE s.sub IS NOT NULL AND h.due_ns <= $1 \
             AND NOT ((k.kind || '/' || s.sub) = ANY($3)) {heads_filter}), \
         ranked AS (SELECT *, ROW_NUMBER() OVER (PARTITION BY tenant_id ORDER BY head_seq) AS tenant_rank \
           FROM heads) \
         SELECT {OUTBOX_COLUMNS}{extra} FROM ranked r CROSS JOIN LATERAL ( \
           SELECT x.*, ROW_NUMBER() OVER (ORDER BY x.seq) AS rn FROM outbox x \
           WHERE x.subscription_id = r.sub AND x.kind = r.kind AND NOT (x.seq = ANY($2)) \
           ORDER BY x.seq LIMIT $4) o \
         ORDER BY o.rn, r.tenant_rank, r.head_seq LIMIT $5"
    )
}

/// Outbox rows to insert, column by column (bound as arrays and expanded with UNNEST).
#[derive(Default)]
pub(crate) struct OutboxInsert {
    ids: Vec<String>,
    subscriptions: Vec<String>,
    kinds: Vec<&'static str>,
    events: Vec<String>,
    resource_ids: Vec<Option<String>>,
    subjects: Vec<Option<String>>,
}

impl OutboxInsert {
    pub(crate) fn push(
        &mut self,
        subscription_id: &str,
        kind: NotificationKind,
        event: &str,
        resource_id: Option<&str>,
        subject: Option<String>,
    ) {
        self.ids.push(uuid::Uuid::new_v4().to_string());
        self.subscriptions.push(subscription_id.to_string());
        self.kinds.push(kind.as_str());
        self.events.push(event.to_string());
        self.resource_ids.push(resource_id.map(str::to_string));
        self.subjects.push(subject);
    }

    /// Inserts the rows in push order (their `seq` follows it), all due at `now`. Returns whether
    /// any row was queued: then the caller announces them after its commit
    /// ([`PostgresStore::announce_outbox`]).
    #[must_use = "queued rows are announced after the commit"]
    pub(crate) async fn execute(
        self,
        tx: &mut Transaction<'_, Postgres>,
        tenant_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        if self.ids.is_empty() {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO outbox (id, tenant_id, subscription_id, kind, event, resource_id, subject, created_ns, due_ns) \
             SELECT u.id, $1, u.sub, u.kind, u.event, u.rid, u.subject, $2, $2 \
             FROM UNNEST($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[]) \
             WITH ORDINALITY AS u(id, sub, kind, event, rid, subject, n) ORDER BY u.n",
        )
        .bind(tenant_id)
        .bind(to_ns(now))
        .bind(&self.ids)
        .bind(&self.subscriptions)
        .bind(&self.kinds)
        .bind(&self.events)
        .bind(&self.resource_ids)
        .bind(&self.subjects)
        .execute(&mut **tx)
        .await?;
        Ok(true)
    }
}

async fn insert_attempts(
    tx: &mut Transaction<'_, Postgres>,
    attempts: &[DeliveryAttempt],
) -> StoreResult<()> {
    if attempts.is_empty() {
        return Ok(());
    }
    let subs: Vec<&str> = attempts
        .iter()
        .map(|a| a.subscription_id.as_str())
        .collect();
    let ids: Vec<String> = attempts
        .iter()
        .map(|a| json_list(&a.notification_ids))
        .collect();
    let urls: Vec<&str> = attempts.iter().map(|a| a.url.as_str()).collect();
    let at: Vec<i64> = attempts.iter().map(|a| to_ns(a.at)).collect();
    let status: Vec<Option<i64>> = attempts.iter().map(|a| a.status.map(i64::from)).collect();
    let latency: Vec<i64> = attempts.iter().map(|a| a.latency_ms).collect();
    let outcome: Vec<&str> = attempts.iter().map(|a| a.outcome.as_str()).collect();
    let error: Vec<Option<&str>> = attempts.iter().map(|a| a.error.as_deref()).collect();
    sqlx::query(
        "INSERT INTO delivery_attempts (subscription_id, notification_ids, url, at_ns, status, latency_ms, outcome, error) \
         SELECT u.s, u.i, u.url, u.at, u.st, u.l, u.o, u.e \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::text[], $8::text[]) \
         WITH ORDINALITY AS u(s, i, url, at, st, l, o, e, n) ORDER BY u.n",
    )
    .bind(subs)
    .bind(ids)
    .bind(urls)
    .bind(at)
    .bind(status)
    .bind(latency)
    .bind(outcome)
    .bind(error)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn tenant_from_row(r: &PgRow) -> StoreResult<Tenant> {
    Ok(Tenant {
        id: r.try_get("id")?,
        display_name: r.try_get("display_name")?,
        created_at: parse_time(&r.try_get::<String, _>("created_at")?)?,
    })
}

pub(crate) fn app_from_row(r: &PgRow) -> StoreResult<App> {
    Ok(App {
        client_id: r.try_get("client_id")?,
        tenant_id: r.try_get("tenant_id")?,
        display_name: r.try_get("display_name")?,
        secret_hashes: parse_list(&r.try_get::<String, _>("secret_hashes")?)?,
        roles: parse_list(&r.try_get::<String, _>("roles")?)?,
        created_at: parse_time(&r.try_get::<String, _>("created_at")?)?,
    })
}

fn record_from_row(r: &PgRow, with_navigations: bool) -> StoreResult<StoredCallRecord> {
    Ok(StoredCallRecord {
        seq: r.try_get("seq")?,
        id: r.try_get("id")?,
        version: r.try_get("version")?,
        last_modified: parse_time(&r.try_get::<String, _>("last_modified")?)?,
        start: from_ns(r.try_get("start_ns")?),
        body: r.try_get("body")?,
        sessions: if with_navigations {
            Some(r.try_get("sessions")?)
        } else {
            None
        },
        participants: if with_navigations {
            Some(r.try_get("participants")?)
        } else {
            None
        },
    })
}

/// Live call-record subscriptions of the tenant (read inside the writing transaction).
async fn live_call_record_subscriptions(
    tx: &mut Transaction<'_, Postgres>,
    tenant_id: &str,
    now: DateTime<Utc>,
) -> StoreResult<Vec<Watcher>> {
    let rows = sqlx::query(
        "SELECT id, notify_created, notify_updated, participant_filter FROM subscriptions \
         WHERE tenant_id = $1 AND resource_kind = 'callRecords' AND expiration_ns > $2",
    )
    .bind(tenant_id)
    .bind(to_ns(now))
    .fetch_all(&mut **tx)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Watcher {
                id: r.try_get("id")?,
                created: r.try_get("notify_created")?,
                updated: r.try_get("notify_updated")?,
                participants: parse_list(&r.try_get::<String, _>("participant_filter")?)?,
            })
        })
        .collect()
}

/// A lease length as nanoseconds, at least one.
fn lease_ns(lease: Duration) -> i64 {
    lease.num_nanoseconds().unwrap_or(i64::MAX).max(1)
}

#[async_trait]
impl Store for PostgresStore {
    async fn setting_or_insert(&self, name: &str, value: &[u8]) -> StoreResult<Vec<u8>> {
        // A concurrent insert of the same name makes this one wait for it, then do nothing; the
        // SELECT (a new snapshot) then sees whichever value committed first.
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(value)
        .execute(&self.pool)
        .await?;
        let row = sqlx::query("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("value")?)
    }

    async fn signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>> {
        let rows = sqlx::query(
            "SELECT kid, created_at, pkcs8 FROM signing_keys ORDER BY created_at DESC, kid",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredSigningKey {
                    kid: r.try_get("kid")?,
                    created_at: parse_time(&r.try_get::<String, _>("created_at")?)?,
                    pkcs8: r.try_get("pkcs8")?,
                })
            })
            .collect()
    }

    async fn insert_signing_key(&self, key: &StoredSigningKey) -> StoreResult<()> {
        sqlx::query("INSERT INTO signing_keys (kid, created_at, pkcs8) VALUES ($1, $2, $3)")
            .bind(&key.kid)
            .bind(fmt_time(key.created_at))
            .bind(&key.pkcs8)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn insert_tenant(&self, tenant: &Tenant) -> StoreResult<()> {
        sqlx::query("INSERT INTO tenants (id, display_name, created_at) VALUES ($1, $2, $3)")
            .bind(&tenant.id)
            .bind(&tenant.display_name)
            .bind(fmt_time(tenant.created_at))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn tenant(&self, id: &str) -> StoreResult<Option<Tenant>> {
        if nul(&[id]) {
            return Ok(None);
        }
        let row = sqlx::query("SELECT id, display_name, created_at FROM tenants WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(tenant_from_row).transpose()
    }

    async fn tenants(&self) -> StoreResult<Vec<Tenant>> {
        let rows =
            sqlx::query("SELECT id, display_name, created_at FROM tenants ORDER BY created_at, id")
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(tenant_from_row).collect()
    }

    async fn insert_app(&self, app: &App) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO apps (client_id, tenant_id, display_name, secret_hashes, roles, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&app.client_id)
        .bind(&app.tenant_id)
        .bind(&app.display_name)
        .bind(json_list(&app.secret_hashes))
        .bind(json_list(&app.roles))
        .bind(fmt_time(app.created_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn app(&self, client_id: &str) -> StoreResult<Option<App>> {
        if nul(&[client_id]) {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT client_id, tenant_id, display_name, secret_hashes, roles, created_at \
             FROM apps WHERE client_id = $1",
        )
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(app_from_row).transpose()
    }

    async fn put_call_records(
        &self,
        tenant_id: &str,
        records: &[CallRecordWrite],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<CallRecordWritten>> {
        let mut tx = self.pool.begin().await?;
        let watchers = live_call_record_subscriptions(&mut tx, tenant_id, now).await?;
        // Commit order must equal seq order within the tenant (see the module docs): the lock is
        // held from here to commit, so only what follows is serialized.
        lock(&mut tx, &format!("call_records/{tenant_id}")).await?;
        let modified = fmt_time(now);
        let mut out = Vec::with_capacity(records.len());
        let mut queued = false;
        // ON CONFLICT DO UPDATE may not touch a row twice in one statement: a chunk never holds
        // the same id twice.
        for chunk in distinct_id_chunks(records) {
            let ids: Vec<&str> = chunk.iter().map(|r| r.id.as_str()).collect();
            let starts: Vec<i64> = chunk.iter().map(|r| to_ns(r.start)).collect();
            let bodies: Vec<&str> = chunk.iter().map(|r| r.body.as_str()).collect();
            let sessions: Vec<&str> = chunk.iter().map(|r| r.sessions.as_str()).collect();
            let parts: Vec<&str> = chunk.iter().map(|r| r.participants.as_str()).collect();
            // Upsert keeps `seq` (the list position) and bumps `version` on replace; new rows
            // take their seq in input order.
            let rows = sqlx::query(
                "INSERT INTO call_records (tenant_id, id, version, start_ns, last_modified, body, sessions, participants) \
                 SELECT $1, u.id, 1, u.start_ns, $2, u.body, u.sessions, u.participants \
                 FROM UNNEST($3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[]) \
                 WITH ORDINALITY AS u(id, start_ns, body, sessions, participants, n) ORDER BY u.n \
                 ON CONFLICT (tenant_id, id) DO UPDATE SET version = call_records.version + 1, \
                 start_ns = EXCLUDED.start_ns, last_modified = EXCLUDED.last_modified, body = EXCLUDED.body, \
                 sessions = EXCLUDED.sessions, participants = EXCLUDED.participants \
                 RETURNING id, seq, version",
            )
            .bind(tenant_id)
            .bind(&modified)
            .bind(&ids)
            .bind(&starts)
            .bind(&bodies)
            .bind(&sessions)
            .bind(&parts)
            .fetch_all(&mut *tx)
            .await?;
            let mut written: HashMap<String, (i64, i64)> = HashMap::with_capacity(rows.len());
            for r in &rows {
                written.insert(r.try_get("id")?, (r.try_get("seq")?, r.try_get("version")?));
            }
            let replaced: Vec<i64> = written
                .values()
                .filter(|(_, v)| *v > 1)
                .map(|(seq, _)| *seq)
                .collect();
            if !replaced.is_empty() {
                sqlx::query("DELETE FROM call_record_participants WHERE seq = ANY($1)")
                    .bind(&replaced)
                    .execute(&mut *tx)
                    .await?;
            }
            let mut link_ids: Vec<&str> = Vec::new();
            let mut link_seqs: Vec<i64> = Vec::new();
            let mut versions = Vec::with_capacity(chunk.len());
            for rec in chunk {
                let (seq, version) = *written.get(&rec.id).ok_or_else(|| {
                    StoreError::Database(format!("upsert returned no row for {}", rec.id))
                })?;
                for p in &rec.participant_ids {
                    link_ids.push(p.as_str());
                    link_seqs.push(seq);
                }
                versions.push(version);
            }
            if !link_ids.is_empty() {
                sqlx::query(
                    "INSERT INTO call_record_participants (tenant_id, participant_id, seq) \
                     SELECT $1, u.p, u.s FROM UNNEST($2::text[], $3::bigint[]) AS u(p, s) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(tenant_id)
                .bind(&link_ids)
                .bind(&link_seqs)
                .execute(&mut *tx)
                .await?;
            }
            let mut notes = OutboxInsert::default();
            for (rec, version) in chunk.iter().zip(&versions) {
                for w in &watchers {
                    if let Some(change) = w.change_for(*version, &rec.participant_ids) {
                        notes.push(
                            &w.id,
                            NotificationKind::Change,
                            change,
                            Some(rec.id.as_str()),
                            None,
                        );
                    }
                }
            }
            queued |= notes.execute(&mut tx, tenant_id, now).await?;
            for (rec, version) in chunk.iter().zip(versions) {
                out.push(CallRecordWritten {
                    id: rec.id.clone(),
                    version,
                    last_modified: now,
                    created: version == 1,
                });
            }
        }
        tx.commit().await?;
        if queued {
            self.announce_outbox().await;
        }
        Ok(out)
    }

    async fn call_record(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> StoreResult<Option<StoredCallRecord>> {
        if nul(&[tenant_id, id]) {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT seq, id, version, start_ns, last_modified, body, sessions, participants \
             FROM call_records WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(|r| record_from_row(r, true)).transpose()
    }

    async fn list_call_records(&self, q: &CallRecordQuery) -> StoreResult<Vec<StoredCallRecord>> {
        if nul(&[&q.tenant_id]) || q.participant_ids.iter().any(|p| p.contains('\0')) {
            return Ok(Vec::new());
        }
        let mut b: sqlx::QueryBuilder<Postgres> = sqlx::QueryBuilder::new(
            "SELECT seq, id, version, start_ns, last_modified, body FROM call_records cr WHERE tenant_id = ",
        );
        b.push_bind(&q.tenant_id);
        if let Some(after) = q.after_seq {
            b.push(" AND seq > ").push_bind(after);
        }
        for (cmp, at) in &q.start {
            b.push(" AND start_ns ")
                .push(cmp.sql())
                .push(" ")
                .push_bind(to_ns(*at));
        }
        for pid in &q.participant_ids {
            b.push(
                " AND EXISTS (SELECT 1 FROM call_record_participants p WHERE p.tenant_id = cr.tenant_id \
                 AND p.seq = cr.seq AND p.participant_id = ",
            )
            .push_bind(pid)
            .push(")");
        }
        b.push(" ORDER BY seq LIMIT ").push_bind(i64::from(q.limit));
        let rows = b.build().fetch_all(&self.pool).await?;
        rows.iter().map(|r| record_from_row(r, false)).collect()
    }

    async fn purge_call_records(&self, cutoff: DateTime<Utc>) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await?;
        let cutoff = to_ns(cutoff);
        sqlx::query(
            "DELETE FROM call_record_participants WHERE seq IN \
             (SELECT seq FROM call_records WHERE start_ns < $1)",
        )
        .bind(cutoff)
        .execute(&mut *tx)
        .await?;
        let done = sqlx::query("DELETE FROM call_records WHERE start_ns < $1")
            .bind(cutoff)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    async fn put_report_rows(
        &self,
        tenant_id: &str,
        report: ReportKind,
        rows: &[ReportRowWrite],
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        // Row by row: a later row of the batch with the same id replaces an earlier one, as in
        // SQLite (one multi-row upsert may not touch a row twice).
        for row in rows {
            sqlx::query(
                "INSERT INTO report_rows (tenant_id, report, id, time_ns, body) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (tenant_id, report, id) DO UPDATE SET time_ns = EXCLUDED.time_ns, body = EXCLUDED.body",
            )
            .bind(tenant_id)
            .bind(report.as_str())
            .bind(&row.id)
            .bind(to_ns(row.time))
            .bind(&row.body)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn list_report_rows(&self, q: &ReportQuery) -> StoreResult<Vec<String>> {
        if nul(&[&q.tenant_id]) {
            return Ok(Vec::new());
        }
        let upper = if q.to_inclusive { "<=" } else { "<" };
        let sql = format!(
            "SELECT body FROM report_rows WHERE tenant_id = $1 AND report = $2 AND time_ns >= $3 \
             AND time_ns {upper} $4 ORDER BY time_ns, id LIMIT $5 OFFSET $6"
        );
        let rows = sqlx::query(&sql)
            .bind(&q.tenant_id)
            .bind(q.report.as_str())
            .bind(to_ns(q.from))
            .bind(to_ns(q.to))
            .bind(i64::from(q.limit))
            .bind(i64::try_from(q.offset).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get("body")?)).collect()
    }

    async fn create_subscription(
        &self,
        row: &SubscriptionRow,
        quotas: &[QuotaRule],
    ) -> StoreResult<Result<(), SubscriptionRefusal>> {
        let mut tx = self.pool.begin().await?;
        // Nodes creating subscriptions of one tenant at once take turns here, so the counts
        // below cannot both pass and overshoot a quota.
        lock(&mut tx, &format!("subscriptions/{}", row.tenant_id)).await?;
        for (i, rule) in quotas.iter().enumerate() {
            let count: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM subscriptions WHERE tenant_id = $1 AND resource_kind = ANY($2) \
                 AND (NOT $3 OR app_id = $4) AND (NOT $5 OR scope IS NOT DISTINCT FROM $6)",
            )
            .bind(&row.tenant_id)
            .bind(&rule.kinds)
            .bind(rule.same_app)
            .bind(&row.app_id)
            .bind(rule.same_scope)
            .bind(&row.scope)
            .fetch_one(&mut *tx)
            .await?;
            if count >= i64::from(rule.limit) {
                return Ok(Err(SubscriptionRefusal::Quota {
                    rule: i,
                    limit: rule.limit,
                }));
            }
        }
        let existing: Option<String> = sqlx::query_scalar(
            "SELECT id FROM subscriptions WHERE tenant_id = $1 AND app_id = $2 AND resource = $3 \
             AND change_type = $4 ORDER BY id LIMIT 1",
        )
        .bind(&row.tenant_id)
        .bind(&row.app_id)
        .bind(&row.resource)
        .bind(&row.change_type)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(existing_id) = existing {
            return Ok(Err(SubscriptionRefusal::Duplicate { existing_id }));
        }
        sqlx::query(&format!(
            "INSERT INTO subscriptions ({SUBSCRIPTION_COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"
        ))
        .bind(&row.id)
        .bind(&row.tenant_id)
        .bind(&row.app_id)
        .bind(&row.resource_kind)
        .bind(&row.resource)
        .bind(&row.change_type)
        .bind(row.notify_created)
        .bind(row.notify_updated)
        .bind(json_list(&row.participant_filter))
        .bind(&row.notification_url)
        .bind(&row.lifecycle_url)
        .bind(&row.client_state)
        .bind(to_ns(row.expiration))
        .bind(to_ns(row.authorized_until))
        .bind(&row.scope)
        .bind(to_ns(row.created))
        .bind(row.encryption.as_ref().map(|e| e.certificate.as_str()))
        .bind(row.encryption.as_ref().map(|e| e.certificate_id.as_str()))
        .bind(&row.notification_url_app_id)
        .bind(&row.body)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    async fn subscription(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> StoreResult<Option<SubscriptionRow>> {
        if nul(&[tenant_id, id]) {
            return Ok(None);
        }
        let row = sqlx::query(&format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(subscription_from_row).transpose()
    }

    async fn subscription_by_id(&self, id: &str) -> StoreResult<Option<SubscriptionRow>> {
        if nul(&[id]) {
            return Ok(None);
        }
        let row = sqlx::query(&format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(subscription_from_row).transpose()
    }

    async fn list_subscriptions(
        &self,
        tenant_id: &str,
        app_id: Option<&str>,
        after_id: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<SubscriptionRow>> {
        if nul(&[tenant_id, app_id.unwrap_or(""), after_id.unwrap_or("")]) {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(&format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE tenant_id = $1 \
             AND ($2::text IS NULL OR app_id = $2) AND id > $3 ORDER BY id LIMIT $4"
        ))
        .bind(tenant_id)
        .bind(app_id)
        .bind(after_id.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(subscription_from_row).collect()
    }

    async fn update_subscription(&self, row: &SubscriptionRow) -> StoreResult<bool> {
        if nul(&[&row.tenant_id, &row.id]) {
            return Ok(false);
        }
        let done = sqlx::query(
            "UPDATE subscriptions SET notification_url = $1, lifecycle_url = $2, client_state = $3, \
             expiration_ns = $4, authorized_until_ns = $5, body = $6, encryption_certificate = $7, \
             encryption_certificate_id = $8, notification_url_app_id = $9 WHERE tenant_id = $10 AND id = $11",
        )
        .bind(&row.notification_url)
        .bind(&row.lifecycle_url)
        .bind(&row.client_state)
        .bind(to_ns(row.expiration))
        .bind(to_ns(row.authorized_until))
        .bind(&row.body)
        .bind(row.encryption.as_ref().map(|e| e.certificate.as_str()))
        .bind(row.encryption.as_ref().map(|e| e.certificate_id.as_str()))
        .bind(&row.notification_url_app_id)
        .bind(&row.tenant_id)
        .bind(&row.id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_subscription(&self, tenant_id: &str, id: &str) -> StoreResult<bool> {
        if nul(&[tenant_id, id]) {
            return Ok(false);
        }
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("DELETE FROM subscriptions WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM outbox WHERE subscription_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM delivery_leases WHERE subscription_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    async fn lifecycle_subscriptions(&self) -> StoreResult<Vec<SubscriptionRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE lifecycle_url IS NOT NULL ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(subscription_from_row).collect()
    }

    async fn purge_expired_subscriptions(
        &self,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<SubscriptionRow>> {
        let mut tx = self.pool.begin().await?;
        // Several nodes purge on their own schedules: DELETE … RETURNING hands each expired
        // subscription to exactly one of them.
        let rows = sqlx::query(&format!(
            "DELETE FROM subscriptions WHERE expiration_ns <= $1 RETURNING {SUBSCRIPTION_COLUMNS}"
        ))
        .bind(to_ns(now))
        .fetch_all(&mut *tx)
        .await?;
        let mut expired = rows
            .iter()
            .map(subscription_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        expired.sort_by(|a, b| a.id.cmp(&b.id));
        let ids: Vec<&str> = expired.iter().map(|s| s.id.as_str()).collect();
        if !ids.is_empty() {
            sqlx::query("DELETE FROM outbox WHERE subscription_id = ANY($1)")
                .bind(&ids)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM delivery_leases WHERE subscription_id = ANY($1)")
                .bind(&ids)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(expired)
    }

    async fn due_notifications(&self, q: &DueQuery<'_>) -> StoreResult<Vec<OutboxRow>> {
        let rows = sqlx::query(&due_streams_sql("", ""))
            .bind(to_ns(q.now))
            .bind(q.skip)
            .bind(q.busy_keys())
            .bind(i64::from(q.per_stream.max(1)))
            .bind(i64::from(q.limit))
            .fetch_all(&self.pool)
            .await?;
        let rows = rows
            .iter()
            .map(outbox_from_row)
            .collect::<StoreResult<_>>()?;
        Ok(q.due_prefix(rows))
    }

    async fn next_due(&self) -> StoreResult<Option<DateTime<Utc>>> {
        let next: Option<i64> = sqlx::query_scalar("SELECT MIN(due_ns) FROM outbox")
            .fetch_one(&self.pool)
            .await?;
        Ok(next.map(from_ns))
    }

    async fn release_held(&self, subscription_id: &str, now: DateTime<Utc>) -> StoreResult<()> {
        if nul(&[subscription_id]) {
            return Ok(());
        }
        // Another node may hold the subscription's lease: it hears of the released rows. In the
        // statement (announced at its commit): rare enough that the notify lock costs nothing.
        sqlx::query(
            "WITH released AS (UPDATE outbox SET due_ns = $1 \
               WHERE subscription_id = $2 AND kind = 'change' AND due_ns > $1 RETURNING 1) \
             SELECT pg_notify($3, '') WHERE EXISTS (SELECT 1 FROM released)",
        )
        .bind(to_ns(now))
        .bind(subscription_id)
        .bind(OUTBOX_CHANNEL)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn remove_notifications(&self, seqs: &[i64]) -> StoreResult<()> {
        if seqs.is_empty() {
            return Ok(());
        }
        sqlx::query("DELETE FROM outbox WHERE seq = ANY($1)")
            .bind(seqs)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn reschedule_notifications(
        &self,
        seqs: &[i64],
        due: DateTime<Utc>,
        attempted_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        if seqs.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "UPDATE outbox SET due_ns = $1, attempts = attempts + 1, \
             first_attempt_ns = COALESCE(first_attempt_ns, $2) WHERE seq = ANY($3)",
        )
        .bind(to_ns(due))
        .bind(to_ns(attempted_at))
        .bind(seqs)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn enqueue_lifecycle(
        &self,
        tenant_id: &str,
        subscription_id: &str,
        event: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        let mut note = OutboxInsert::default();
        note.push(
            subscription_id,
            NotificationKind::Lifecycle,
            event,
            None,
            None,
        );
        let queued = note.execute(&mut tx, tenant_id, now).await?;
        tx.commit().await?;
        if queued {
            self.announce_outbox().await;
        }
        Ok(())
    }

    async fn record_attempts(&self, attempts: &[DeliveryAttempt]) -> StoreResult<()> {
        if attempts.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        insert_attempts(&mut tx, attempts).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn settle_delivered(
        &self,
        seqs: &[i64],
        attempts: &[DeliveryAttempt],
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        if !seqs.is_empty() {
            sqlx::query("DELETE FROM outbox WHERE seq = ANY($1)")
                .bind(seqs)
                .execute(&mut *tx)
                .await?;
        }
        insert_attempts(&mut tx, attempts).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delivery_attempts_page(
        &self,
        subscription_id: &str,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<(i64, DeliveryAttempt)>> {
        if nul(&[subscription_id]) {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT seq, subscription_id, notification_ids, url, at_ns, status, latency_ms, outcome, error \
             FROM delivery_attempts WHERE subscription_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3",
        )
        .bind(subscription_id)
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("seq")?,
                    DeliveryAttempt {
                        subscription_id: r.try_get("subscription_id")?,
                        notification_ids: parse_list(&r.try_get::<String, _>("notification_ids")?)?,
                        url: r.try_get("url")?,
                        at: from_ns(r.try_get("at_ns")?),
                        status: r
                            .try_get::<Option<i64>, _>("status")?
                            .and_then(|s| u16::try_from(s).ok()),
                        latency_ms: r.try_get("latency_ms")?,
                        outcome: r.try_get("outcome")?,
                        error: r.try_get("error")?,
                    },
                ))
            })
            .collect()
    }

    async fn purge_delivery_attempts(&self, cutoff: DateTime<Utc>) -> StoreResult<u64> {
        // In slices, so no transaction holds many row locks for long.
        let mut total = 0;
        loop {
            let n = sqlx::query(
                "DELETE FROM delivery_attempts WHERE seq IN (SELECT seq FROM delivery_attempts \
                 WHERE at_ns < $1 LIMIT 10000)",
            )
            .bind(to_ns(cutoff))
            .execute(&self.pool)
            .await?
            .rows_affected();
            total += n;
            if n < 10_000 {
                return Ok(total);
            }
        }
    }

    async fn outbox_len(&self) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn claim_due(
        &self,
        node_id: &str,
        lease: Duration,
        q: &DueQuery<'_>,
    ) -> StoreResult<Vec<OutboxRow>> {
        let now_ns = to_ns(q.now);
        let busy = q.busy_keys();
        let until = now_ns.saturating_add(lease_ns(lease));
        // Candidates: due rows of subscriptions no other node holds a live lease on, each with
        // the end of this node's own lease on its subscription (0 when it has none).
        let rows = sqlx::query(&due_streams_sql(
            "AND NOT EXISTS (SELECT 1 FROM delivery_leases l WHERE l.subscription_id = s.sub \
             AND l.node_id <> $6 AND l.until_ns > $1)",
            ", COALESCE((SELECT m.until_ns FROM delivery_leases m \
             WHERE m.subscription_id = o.subscription_id AND m.node_id = $6), 0) AS my_until",
        ))
        .bind(now_ns)
        .bind(q.skip)
        .bind(&busy)
        .bind(i64::from(q.per_stream.max(1)))
        .bind(i64::from(q.limit))
        .bind(node_id)
        .fetch_all(&self.pool)
        .await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        // Steady state: every subscription read is this node's for at least half a lease more.
        // No other node can take it before then, so these rows are the answer as read, and the
        // leases are extended only when they run low (one round trip instead of five).
        let half = now_ns.saturating_add(lease_ns(lease) / 2);
        let mut held = true;
        for r in &rows {
            if r.try_get::<i64, _>("my_until")? < half {
                held = false;
                break;
            }
        }
        if held {
            let rows = rows
                .iter()
                .map(outbox_from_row)
                .collect::<StoreResult<_>>()?;
            return Ok(q.due_prefix(rows));
        }
        let mut subs: Vec<String> = Vec::with_capacity(rows.len());
        for r in &rows {
            subs.push(r.try_get("subscription_id")?);
        }
        let subs: Vec<String> = subs
            .into_iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut tx = self.pool.begin().await?;
        // Lease rows that are free or ours are locked; rows another node is claiming right now
        // are skipped (SKIP LOCKED), never waited for. A subscription without a lease row yet
        // gets one inserted below.
        let states = sqlx::query(
            "WITH mine AS (SELECT subscription_id FROM delivery_leases \
               WHERE subscription_id = ANY($1) AND (node_id = $2 OR until_ns <= $3) \
               ORDER BY subscription_id FOR UPDATE SKIP LOCKED) \
             SELECT s AS subscription_id, \
               EXISTS (SELECT 1 FROM delivery_leases l WHERE l.subscription_id = s) AS present, \
               EXISTS (SELECT 1 FROM mine m WHERE m.subscription_id = s) AS locked, \
               EXISTS (SELECT 1 FROM delivery_leases l WHERE l.subscription_id = s \
                 AND l.node_id = $2 AND l.until_ns > $3) AS held \
             FROM UNNEST($1::text[]) AS s",
        )
        .bind(&subs)
        .bind(node_id)
        .bind(now_ns)
        .fetch_all(&mut *tx)
        .await?;
        let mut targets: Vec<String> = Vec::new();
        let mut new: Vec<(u64, String)> = Vec::new();
        for r in &states {
            let present: bool = r.try_get("present")?;
            let locked: bool = r.try_get("locked")?;
            let held: bool = r.try_get("held")?;
            let id: String = r.try_get("subscription_id")?;
            if held {
                targets.push(id);
            } else if locked || !present {
                new.push((spread(node_id, &id), id));
            }
        }
        // A round takes only a few subscriptions it does not hold yet, so a backlog spreads over
        // the nodes instead of going whole to the first that reads it; each node prefers a
        // different few (its own hash order), so nodes starting together rarely collide.
        new.sort();
        targets.extend(new.into_iter().take(NEW_LEASES_PER_ROUND).map(|(_, id)| id));
        targets.sort();
        // Compare-and-set: a lease is taken only if it is ours or expired, re-checked on the
        // latest row version (a concurrent insert of the same new lease makes this wait for it
        // and then lose).
        let won: Vec<String> = sqlx::query_scalar(
            "INSERT INTO delivery_leases (subscription_id, node_id, until_ns) \
             SELECT s, $2, $3 FROM UNNEST($1::text[]) AS s ORDER BY s \
             ON CONFLICT (subscription_id) DO UPDATE SET node_id = EXCLUDED.node_id, until_ns = EXCLUDED.until_ns \
             WHERE delivery_leases.node_id = EXCLUDED.node_id OR delivery_leases.until_ns <= $4 \
             RETURNING subscription_id",
        )
        .bind(&targets)
        .bind(node_id)
        .bind(until)
        .bind(now_ns)
        .fetch_all(&mut *tx)
        .await?;
        // Read the rows again now that the leases are ours: a node whose lease just ran out may
        // have settled some of them meanwhile.
        let rows = sqlx::query(&due_streams_sql("AND s.sub = ANY($6)", ""))
            .bind(now_ns)
            .bind(q.skip)
            .bind(&busy)
            .bind(i64::from(q.per_stream.max(1)))
            .bind(i64::from(q.limit))
            .bind(&won)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        let rows = rows
            .iter()
            .map(outbox_from_row)
            .collect::<StoreResult<_>>()?;
        Ok(q.due_prefix(rows))
    }

    async fn renew_leases(
        &self,
        node_id: &str,
        subscription_ids: &[String],
        now: DateTime<Utc>,
        lease: Duration,
    ) -> StoreResult<Vec<String>> {
        if subscription_ids.is_empty() {
            return Ok(Vec::new());
        }
        let until = to_ns(now).saturating_add(lease_ns(lease));
        let mut held: Vec<String> = sqlx::query_scalar(
            "UPDATE delivery_leases SET until_ns = $3 WHERE node_id = $1 AND subscription_id = ANY($2) \
             RETURNING subscription_id",
        )
        .bind(node_id)
        .bind(subscription_ids)
        .bind(until)
        .fetch_all(&self.pool)
        .await?;
        held.sort();
        Ok(held)
    }

    async fn release_leases(&self, node_id: &str) -> StoreResult<()> {
        // The other nodes hear of it when rows wait on what was released, and take over at once
        // (announced at the statement's commit, as in `release_held`).
        sqlx::query(
            "WITH released AS (DELETE FROM delivery_leases WHERE node_id = $1 RETURNING subscription_id) \
             SELECT pg_notify($2, '') WHERE EXISTS (SELECT 1 FROM released r \
               JOIN outbox o ON o.subscription_id = r.subscription_id)",
        )
        .bind(node_id)
        .bind(OUTBOX_CHANNEL)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn claim_job(
        &self,
        job: &str,
        node_id: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> StoreResult<bool> {
        // Jobs share the lease table under a key no subscription id can take.
        let now_ns = to_ns(now);
        let won: Option<String> = sqlx::query_scalar(
            "INSERT INTO delivery_leases (subscription_id, node_id, until_ns) VALUES ($1, $2, $3) \
             ON CONFLICT (subscription_id) DO UPDATE SET node_id = EXCLUDED.node_id, until_ns = EXCLUDED.until_ns \
             WHERE delivery_leases.node_id = EXCLUDED.node_id OR delivery_leases.until_ns <= $4 \
             RETURNING node_id",
        )
        .bind(format!("job/{job}"))
        .bind(node_id)
        .bind(now_ns.saturating_add(lease_ns(lease)))
        .bind(now_ns)
        .fetch_optional(&self.pool)
        .await?;
        Ok(won.is_some())
    }

    async fn next_due_for(
        &self,
        node_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<DateTime<Utc>>> {
        // The earliest due row this node could claim, or else the moment another node's lease on
        // waiting rows runs out. ORDER BY … LIMIT 1 rather than MIN: it walks the due index and
        // stops at the first claimable row (MIN over the anti-join scans the whole outbox).
        let next: Option<i64> = sqlx::query_scalar(
            "SELECT LEAST( \
               (SELECT o.due_ns FROM outbox o WHERE NOT EXISTS (SELECT 1 FROM delivery_leases l \
                  WHERE l.subscription_id = o.subscription_id AND l.node_id <> $1 AND l.until_ns > $2) \
                  ORDER BY o.due_ns LIMIT 1), \
               (SELECT MIN(l.until_ns) FROM delivery_leases l WHERE l.node_id <> $1 AND l.until_ns > $2 \
                  AND EXISTS (SELECT 1 FROM outbox o WHERE o.subscription_id = l.subscription_id)))",
        )
        .bind(node_id)
        .bind(to_ns(now))
        .fetch_one(&self.pool)
        .await?;
        Ok(next.map(from_ns))
    }

    fn spawn_outbox_watcher(&self, wake: Arc<Notify>) -> Option<JoinHandle<()>> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        // A pool of one connection outside the shared pool: LISTEN holds its connection for
        // good, and the listener reconnects through this pool (never timed out or recycled).
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .max_lifetime(None)
            .idle_timeout(None)
            .acquire_timeout(StdDuration::from_secs(10))
            .connect_lazy_with(self.pool.connect_options().as_ref().clone());
        Some(runtime.spawn(watch_outbox(pool, wake)))
    }

    async fn put_users(&self, tenant_id: &str, users: &[UserWrite]) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        for u in users {
            sqlx::query(
                "INSERT INTO users (tenant_id, id, body) VALUES ($1, $2, $3) \
                 ON CONFLICT (tenant_id, id) DO UPDATE SET body = EXCLUDED.body",
            )
            .bind(tenant_id)
            .bind(&u.id)
            .bind(&u.body)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn user(&self, tenant_id: &str, id: &str) -> StoreResult<Option<String>> {
        if nul(&[tenant_id, id]) {
            return Ok(None);
        }
        let row = sqlx::query("SELECT body FROM users WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok(r.try_get("body")?)).transpose()
    }

    async fn list_users(
        &self,
        tenant_id: &str,
        after_id: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<(String, String)>> {
        if nul(&[tenant_id, after_id.unwrap_or("")]) {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT id, body FROM users WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(tenant_id)
        .bind(after_id.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("body")?)))
            .collect()
    }
}
