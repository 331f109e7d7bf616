use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Datelike, SecondsFormat, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite};

use crate::*;

/// The embedded store: one SQLite file in WAL mode.
///
/// SQLite allows one writer at a time, so writes go through a pool of exactly one connection
/// (no `SQLITE_BUSY` storms) while reads use their own pool. `synchronous=NORMAL` in WAL mode
/// keeps every committed transaction across a process crash or `kill -9`; only an OS crash or
/// power loss can take the last few commits.
#[derive(Clone)]
pub struct SqliteStore {
    pub(crate) writer: SqlitePool,
    pub(crate) reader: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies migrations.
    pub async fn open(path: &Path) -> StoreResult<Self> {
        Self::open_with(SqliteConnectOptions::new().filename(path)).await
    }

    /// Opens a `sqlite:` URL such as `sqlite:///var/lib/callhook/callhook.db`.
    pub async fn open_url(url: &str) -> StoreResult<Self> {
        Self::open_with(SqliteConnectOptions::from_str(url)?).await
    }

    async fn open_with(options: SqliteConnectOptions) -> StoreResult<Self> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&writer)
            .await
            .map_err(|e| StoreError::Database(format!("migration failed: {e}")))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Self { writer, reader })
    }

    /// A write transaction that holds SQLite's write lock from its `BEGIN`. sqlx's `begin()` is
    /// `BEGIN DEFERRED`: the transaction starts as a read and becomes a write at its first
    /// write, and if another connection to the file (a second process such as `callhook
    /// tenant …`) committed in between, that upgrade fails at once with SQLITE_BUSY — the
    /// busy timeout never waits for it. `BEGIN IMMEDIATE` waits (up to the busy timeout) for
    /// the lock instead, and then nothing can fail that way.
    pub(crate) async fn write(&self) -> StoreResult<sqlx::Transaction<'static, Sqlite>> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Closes both pools, checkpointing the WAL.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

/// The ready streams' first rows (see [`DueQuery`]): ?1 now, ?2 skip and ?3 busy streams (JSON
/// arrays), ?4 rows per stream, ?5 rows in all. The subscriptions with rows are found by
/// skipping through the `outbox_stream` index (one probe each, whatever their backlog), each
/// stream's head and first rows are read through it from the head, so a round costs the
/// streams it looks at and the rows it returns, never the backlog behind them.
const DUE_STREAMS_SQLITE: &str = "WITH RECURSIVE subs(sub) AS ( \
       SELECT (SELECT subscription_id FROM outbox ORDER BY subscription_id LIMIT 1) \
       UNION ALL \
       SELECT (SELECT x.subscription_id FROM outbox x WHERE x.subscription_id > s.sub \
         ORDER BY x.subscription_id LIMIT 1) FROM subs s WHERE s.sub IS NOT NULL), \
     heads AS ( \
       SELECT s.sub, k.kind, (SELECT x.seq FROM outbox x WHERE x.subscription_id = s.sub \
         AND x.kind = k.kind AND x.seq NOT IN (SELECT value FROM json_each(?2)) \
         ORDER BY x.seq LIMIT 1) AS head_seq \
       FROM subs s, (SELECT 'change' AS kind UNION ALL SELECT 'lifecycle') k \
       WHERE s.sub IS NOT NULL \
         AND (k.kind || '/' || s.sub) NOT IN (SELECT value FROM json_each(?3))), \
     ready AS ( \
       SELECT h.sub, h.kind, h.head_seq, \
         (SELECT o.tenant_id FROM outbox o WHERE o.seq = h.head_seq) AS tenant_id \
       FROM heads h WHERE (SELECT o.due_ns FROM outbox o WHERE o.seq = h.head_seq) <= ?1), \
     ranked AS (SELECT *, ROW_NUMBER() OVER (PARTITION BY tenant_id ORDER BY head_seq) AS tenant_rank \
       FROM ready), \
     picked AS ( \
       SELECT o.*, r.tenant_rank, r.head_seq, \
         ROW_NUMBER() OVER (PARTITION BY o.subscription_id, o.kind ORDER BY o.seq) AS rn \
       FROM ranked r JOIN outbox o ON o.seq IN (SELECT x.seq FROM outbox x \
         WHERE x.subscription_id = r.sub AND x.kind = r.kind \
         AND x.seq NOT IN (SELECT value FROM json_each(?2)) ORDER BY x.seq LIMIT ?4)) \
     SELECT * FROM picked ORDER BY rn, tenant_rank, head_seq LIMIT ?5";

/// Rows per multi-row participant insert (3 bound values each, well under SQLite's limit).
const PARTICIPANT_ROWS_PER_STATEMENT: usize = 5000;

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

/// Rows per multi-row outbox insert (8 bound values each).
const OUTBOX_ROWS_PER_STATEMENT: usize = 2000;

/// What `put_call_records` needs of a live call-record subscription.
pub(crate) struct Watcher {
    pub(crate) id: String,
    pub(crate) created: bool,
    pub(crate) updated: bool,
    pub(crate) participants: Vec<String>,
}

impl Watcher {
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

async fn live_call_record_subscriptions(
    tx: &mut sqlx::Transaction<'_, Sqlite>,
    tenant_id: &str,
    now: DateTime<Utc>,
) -> StoreResult<Vec<Watcher>> {
    let rows = sqlx::query(
        "SELECT id, notify_created, notify_updated, participant_filter FROM subscriptions \
         WHERE tenant_id = ? AND resource_kind = 'callRecords' AND expiration_ns > ?",
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

const SUBSCRIPTION_COLUMNS: &str = "id, tenant_id, app_id, resource_kind, resource, change_type, notify_created, \
     notify_updated, participant_filter, notification_url, lifecycle_url, client_state, expiration_ns, \
     authorized_until_ns, body, scope, created_ns, encryption_certificate, encryption_certificate_id, \
     notification_url_app_id";

fn subscription_from_row(r: &sqlx::sqlite::SqliteRow) -> StoreResult<SubscriptionRow> {
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
        encryption: match (
            r.try_get::<Option<String>, _>("encryption_certificate")?,
            r.try_get::<Option<String>, _>("encryption_certificate_id")?,
        ) {
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

/// One multi-row insert of delivery attempts.
fn insert_attempts(attempts: &[DeliveryAttempt]) -> QueryBuilder<'_, Sqlite> {
    let mut b: QueryBuilder<Sqlite> = QueryBuilder::new(
        "INSERT INTO delivery_attempts (subscription_id, notification_ids, url, at_ns, status, latency_ms, outcome, error) ",
    );
    b.push_values(attempts, |mut row, a| {
        row.push_bind(&a.subscription_id)
            .push_bind(json_list(&a.notification_ids))
            .push_bind(&a.url)
            .push_bind(to_ns(a.at))
            .push_bind(a.status.map(i64::from))
            .push_bind(a.latency_ms)
            .push_bind(&a.outcome)
            .push_bind(&a.error);
    });
    b
}

fn bind_in<'a>(b: &mut QueryBuilder<'a, Sqlite>, values: &'a [i64]) {
    b.push(" (");
    let mut list = b.separated(", ");
    for v in values {
        list.push_bind(*v);
    }
    b.push(")");
}

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

fn tenant_from_row(r: &sqlx::sqlite::SqliteRow) -> StoreResult<Tenant> {
    Ok(Tenant {
        id: r.try_get("id")?,
        display_name: r.try_get("display_name")?,
        created_at: parse_time(&r.try_get::<String, _>("created_at")?)?,
    })
}

fn record_from_row(
    r: &sqlx::sqlite::SqliteRow,
    with_navigations: bool,
) -> StoreResult<StoredCallRecord> {
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

#[async_trait]
impl Store for SqliteStore {
    async fn setting_or_insert(&self, name: &str, value: &[u8]) -> StoreResult<Vec<u8>> {
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(value)
        .execute(&self.writer)
        .await?;
        let row = sqlx::query("SELECT value FROM settings WHERE name = ?")
            .bind(name)
            .fetch_one(&self.writer)
            .await?;
        Ok(row.try_get("value")?)
    }

    async fn signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>> {
        let rows = sqlx::query(
            "SELECT kid, created_at, pkcs8 FROM signing_keys ORDER BY created_at DESC, kid",
        )
        .fetch_all(&self.writer)
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
        sqlx::query("INSERT INTO signing_keys (kid, created_at, pkcs8) VALUES (?, ?, ?)")
            .bind(&key.kid)
            .bind(fmt_time(key.created_at))
            .bind(&key.pkcs8)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn insert_tenant(&self, tenant: &Tenant) -> StoreResult<()> {
        sqlx::query("INSERT INTO tenants (id, display_name, created_at) VALUES (?, ?, ?)")
            .bind(&tenant.id)
            .bind(&tenant.display_name)
            .bind(fmt_time(tenant.created_at))
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn tenant(&self, id: &str) -> StoreResult<Option<Tenant>> {
        let row = sqlx::query("SELECT id, display_name, created_at FROM tenants WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(tenant_from_row).transpose()
    }

    async fn tenants(&self) -> StoreResult<Vec<Tenant>> {
        let rows =
            sqlx::query("SELECT id, display_name, created_at FROM tenants ORDER BY created_at, id")
                .fetch_all(&self.reader)
                .await?;
        rows.iter().map(tenant_from_row).collect()
    }

    async fn insert_app(&self, app: &App) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO apps (client_id, tenant_id, display_name, secret_hashes, roles, created_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&app.client_id)
        .bind(&app.tenant_id)
        .bind(&app.display_name)
        .bind(json_list(&app.secret_hashes))
        .bind(json_list(&app.roles))
        .bind(fmt_time(app.created_at))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn app(&self, client_id: &str) -> StoreResult<Option<App>> {
        let row = sqlx::query(
            "SELECT client_id, tenant_id, display_name, secret_hashes, roles, created_at \
             FROM apps WHERE client_id = ?",
        )
        .bind(client_id)
        .fetch_optional(&self.reader)
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(App {
            client_id: r.try_get("client_id")?,
            tenant_id: r.try_get("tenant_id")?,
            display_name: r.try_get("display_name")?,
            secret_hashes: parse_list(&r.try_get::<String, _>("secret_hashes")?)?,
            roles: parse_list(&r.try_get::<String, _>("roles")?)?,
            created_at: parse_time(&r.try_get::<String, _>("created_at")?)?,
        }))
    }

    async fn put_call_records(
        &self,
        tenant_id: &str,
        records: &[CallRecordWrite],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<CallRecordWritten>> {
        let mut tx = self.write().await?;
        let modified = fmt_time(now);
        let watchers = live_call_record_subscriptions(&mut tx, tenant_id, now).await?;
        // Every statement is a round trip to SQLite's worker thread, so a batch is written with
        // one statement per table per chunk rather than several per record. A chunk never holds
        // the same id twice (each upsert must see the previous one's version).
        let mut out = Vec::with_capacity(records.len());
        for chunk in distinct_id_chunks(records) {
            let mut b: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO call_records (tenant_id, id, version, start_ns, last_modified, body, sessions, participants) ",
            );
            b.push_values(chunk, |mut row, rec| {
                row.push_bind(tenant_id)
                    .push_bind(&rec.id)
                    .push_bind(1_i64)
                    .push_bind(to_ns(rec.start))
                    .push_bind(&modified)
                    .push_bind(&rec.body)
                    .push_bind(&rec.sessions)
                    .push_bind(&rec.participants);
            });
            // Upsert keeps `seq` (the list position) and bumps `version` on replace.
            b.push(
                " ON CONFLICT (tenant_id, id) DO UPDATE SET version = version + 1, \
                 start_ns = excluded.start_ns, last_modified = excluded.last_modified, body = excluded.body, \
                 sessions = excluded.sessions, participants = excluded.participants \
                 RETURNING id, seq, version",
            );
            let rows = b.build().fetch_all(&mut *tx).await?;
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
                let mut d: QueryBuilder<Sqlite> =
                    QueryBuilder::new("DELETE FROM call_record_participants WHERE seq IN (");
                let mut list = d.separated(", ");
                for seq in &replaced {
                    list.push_bind(*seq);
                }
                d.push(")");
                d.build().execute(&mut *tx).await?;
            }

            let mut links: Vec<(&str, i64)> = Vec::new();
            let mut versions = Vec::with_capacity(chunk.len());
            for rec in chunk {
                let (seq, version) = *written.get(&rec.id).ok_or_else(|| {
                    StoreError::Database(format!("upsert returned no row for {}", rec.id))
                })?;
                links.extend(rec.participant_ids.iter().map(|p| (p.as_str(), seq)));
                versions.push(version);
            }
            for part in links.chunks(PARTICIPANT_ROWS_PER_STATEMENT) {
                let mut ins: QueryBuilder<Sqlite> = QueryBuilder::new(
                    "INSERT OR IGNORE INTO call_record_participants (tenant_id, participant_id, seq) ",
                );
                ins.push_values(part, |mut row, (pid, seq)| {
                    row.push_bind(tenant_id).push_bind(*pid).push_bind(*seq);
                });
                ins.build().execute(&mut *tx).await?;
            }

            let mut notes: Vec<(String, &str, &str, &str)> = Vec::new();
            for (rec, version) in chunk.iter().zip(&versions) {
                for w in &watchers {
                    if let Some(change) = w.change_for(*version, &rec.participant_ids) {
                        notes.push((
                            uuid::Uuid::new_v4().to_string(),
                            w.id.as_str(),
                            change,
                            rec.id.as_str(),
                        ));
                    }
                }
            }
            for part in notes.chunks(OUTBOX_ROWS_PER_STATEMENT) {
                let mut ins: QueryBuilder<Sqlite> = QueryBuilder::new(
                    "INSERT INTO outbox (id, tenant_id, subscription_id, kind, event, resource_id, created_ns, due_ns) ",
                );
                ins.push_values(part, |mut row, (id, sub, change, rid)| {
                    row.push_bind(id.as_str())
                        .push_bind(tenant_id)
                        .push_bind(*sub)
                        .push_bind(NotificationKind::Change.as_str())
                        .push_bind(*change)
                        .push_bind(*rid)
                        .push_bind(to_ns(now))
                        .push_bind(to_ns(now));
                });
                ins.build().execute(&mut *tx).await?;
            }

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
        Ok(out)
    }

    async fn call_record(
        &self,
        tenant_id: &str,
        id: &str,
    ) -> StoreResult<Option<StoredCallRecord>> {
        let row = sqlx::query(
            "SELECT seq, id, version, start_ns, last_modified, body, sessions, participants \
             FROM call_records WHERE tenant_id = ? AND id = ?",
        )
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(|r| record_from_row(r, true)).transpose()
    }

    async fn list_call_records(&self, q: &CallRecordQuery) -> StoreResult<Vec<StoredCallRecord>> {
        let mut b: QueryBuilder<Sqlite> = QueryBuilder::new(
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
        let rows = b.build().fetch_all(&self.reader).await?;
        rows.iter().map(|r| record_from_row(r, false)).collect()
    }

    async fn purge_call_records(&self, cutoff: DateTime<Utc>) -> StoreResult<u64> {
        let mut tx = self.write().await?;
        let cutoff = to_ns(cutoff);
        sqlx::query(
            "DELETE FROM call_record_participants WHERE seq IN \
             (SELECT seq FROM call_records WHERE start_ns < ?)",
        )
        .bind(cutoff)
        .execute(&mut *tx)
        .await?;
        let done = sqlx::query("DELETE FROM call_records WHERE start_ns < ?")
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
        let mut tx = self.write().await?;
        for row in rows {
            sqlx::query(
                "INSERT INTO report_rows (tenant_id, report, id, time_ns, body) VALUES (?, ?, ?, ?, ?) \
                 ON CONFLICT (tenant_id, report, id) DO UPDATE SET time_ns = excluded.time_ns, body = excluded.body",
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
        let upper = if q.to_inclusive { "<=" } else { "<" };
        let sql = format!(
            "SELECT body FROM report_rows WHERE tenant_id = ? AND report = ? AND time_ns >= ? \
             AND time_ns {upper} ? ORDER BY time_ns, id LIMIT ? OFFSET ?"
        );
        let rows = sqlx::query(&sql)
            .bind(&q.tenant_id)
            .bind(q.report.as_str())
            .bind(to_ns(q.from))
            .bind(to_ns(q.to))
            .bind(i64::from(q.limit))
            .bind(i64::try_from(q.offset).unwrap_or(i64::MAX))
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(|r| Ok(r.try_get("body")?)).collect()
    }

    async fn create_subscription(
        &self,
        row: &SubscriptionRow,
        quotas: &[QuotaRule],
    ) -> StoreResult<Result<(), SubscriptionRefusal>> {
        let mut tx = self.write().await?;
        for (i, q) in quotas.iter().enumerate() {
            let mut b: QueryBuilder<Sqlite> =
                QueryBuilder::new("SELECT COUNT(*) FROM subscriptions WHERE tenant_id = ");
            b.push_bind(&row.tenant_id);
            b.push(" AND resource_kind IN (");
            let mut list = b.separated(", ");
            for k in &q.kinds {
                list.push_bind(k);
            }
            b.push(")");
            if q.same_app {
                b.push(" AND app_id = ").push_bind(&row.app_id);
            }
            if q.same_scope {
                b.push(" AND scope IS ").push_bind(&row.scope);
            }
            let count: i64 = b.build_query_scalar().fetch_one(&mut *tx).await?;
            if count >= i64::from(q.limit) {
                return Ok(Err(SubscriptionRefusal::Quota {
                    rule: i,
                    limit: q.limit,
                }));
            }
        }
        let existing: Option<String> = sqlx::query_scalar(
            "SELECT id FROM subscriptions WHERE tenant_id = ? AND app_id = ? AND resource = ? AND change_type = ?",
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
            "INSERT INTO subscriptions ({SUBSCRIPTION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
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
        .bind(&row.body)
        .bind(&row.scope)
        .bind(to_ns(row.created))
        .bind(row.encryption.as_ref().map(|e| &e.certificate))
        .bind(row.encryption.as_ref().map(|e| &e.certificate_id))
        .bind(&row.notification_url_app_id)
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
        let row = sqlx::query(&format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE tenant_id = ? AND id = ?"
        ))
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(&self.writer)
        .await?;
        row.as_ref().map(subscription_from_row).transpose()
    }

    async fn subscription_by_id(&self, id: &str) -> StoreResult<Option<SubscriptionRow>> {
        let row = sqlx::query(&format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.reader)
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
        let mut b: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE tenant_id = "
        ));
        b.push_bind(tenant_id);
        if let Some(app) = app_id {
            b.push(" AND app_id = ").push_bind(app);
        }
        b.push(" AND id > ").push_bind(after_id.unwrap_or(""));
        b.push(" ORDER BY id LIMIT ").push_bind(i64::from(limit));
        let rows = b.build().fetch_all(&self.writer).await?;
        rows.iter().map(subscription_from_row).collect()
    }

    async fn update_subscription(&self, row: &SubscriptionRow) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE subscriptions SET notification_url = ?, lifecycle_url = ?, client_state = ?, \
             expiration_ns = ?, authorized_until_ns = ?, body = ?, encryption_certificate = ?, \
             encryption_certificate_id = ?, notification_url_app_id = ? WHERE tenant_id = ? AND id = ?",
        )
        .bind(&row.notification_url)
        .bind(&row.lifecycle_url)
        .bind(&row.client_state)
        .bind(to_ns(row.expiration))
        .bind(to_ns(row.authorized_until))
        .bind(&row.body)
        .bind(row.encryption.as_ref().map(|e| &e.certificate))
        .bind(row.encryption.as_ref().map(|e| &e.certificate_id))
        .bind(&row.notification_url_app_id)
        .bind(&row.tenant_id)
        .bind(&row.id)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_subscription(&self, tenant_id: &str, id: &str) -> StoreResult<bool> {
        let mut tx = self.write().await?;
        let done = sqlx::query("DELETE FROM subscriptions WHERE tenant_id = ? AND id = ?")
            .bind(tenant_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM outbox WHERE subscription_id = ?")
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
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(subscription_from_row).collect()
    }

    async fn purge_expired_subscriptions(
        &self,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<SubscriptionRow>> {
        let mut tx = self.write().await?;
        let rows = sqlx::query(&format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE expiration_ns <= ?"
        ))
        .bind(to_ns(now))
        .fetch_all(&mut *tx)
        .await?;
        let expired = rows
            .iter()
            .map(subscription_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        for sub in &expired {
            sqlx::query("DELETE FROM outbox WHERE subscription_id = ?")
                .bind(&sub.id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM subscriptions WHERE id = ?")
                .bind(&sub.id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(expired)
    }

    async fn due_notifications(&self, q: &DueQuery<'_>) -> StoreResult<Vec<OutboxRow>> {
        // Lists go in as JSON parameters so the statement text never changes and stays prepared.
        let json = |e: serde_json::Error| StoreError::Database(e.to_string());
        let skip = serde_json::to_string(q.skip).map_err(json)?;
        let busy = serde_json::to_string(&q.busy_keys()).map_err(json)?;
        // The rows come back as one JSON array: the engine reads this on every round, and one
        // text value costs far less to hand over than a thousand rows one by one.
        let packed: Option<String> = sqlx::query_scalar(&format!(
            "SELECT json_group_array(json_array(seq, id, tenant_id, subscription_id, kind, event, \
             resource_id, created_ns, due_ns, attempts, first_attempt_ns, subject)) FROM ({})",
            DUE_STREAMS_SQLITE
        ))
        .bind(to_ns(q.now))
        .bind(skip)
        .bind(busy)
        .bind(i64::from(q.per_stream.max(1)))
        .bind(i64::from(q.limit))
        .fetch_one(&self.reader)
        .await?;
        let Some(packed) = packed else {
            return Ok(Vec::new());
        };
        type Packed = (
            i64,
            String,
            String,
            String,
            String,
            String,
            Option<String>,
            i64,
            i64,
            i64,
            Option<i64>,
            Option<String>,
        );
        let rows: Vec<Packed> = serde_json::from_str(&packed)
            .map_err(|e| StoreError::Corrupt(format!("outbox rows: {e}")))?;
        // json_group_array keeps the subquery's order.
        Ok(q.due_prefix(
            rows.into_iter()
                .map(
                    |(
                        seq,
                        id,
                        tenant_id,
                        subscription_id,
                        kind,
                        event,
                        resource_id,
                        created,
                        due,
                        attempts,
                        first,
                        subject,
                    )| {
                        OutboxRow {
                            seq,
                            id,
                            tenant_id,
                            subscription_id,
                            kind: if kind == "lifecycle" {
                                NotificationKind::Lifecycle
                            } else {
                                NotificationKind::Change
                            },
                            event,
                            resource_id,
                            created: from_ns(created),
                            due: from_ns(due),
                            attempts,
                            first_attempt: first.map(from_ns),
                            subject,
                        }
                    },
                )
                .collect(),
        ))
    }

    async fn next_due(&self) -> StoreResult<Option<DateTime<Utc>>> {
        let next: Option<i64> = sqlx::query_scalar("SELECT MIN(due_ns) FROM outbox")
            .fetch_one(&self.reader)
            .await?;
        Ok(next.map(from_ns))
    }

    async fn release_held(&self, subscription_id: &str, now: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query(
            "UPDATE outbox SET due_ns = ? WHERE subscription_id = ? AND kind = 'change' AND due_ns > ?",
        )
        .bind(to_ns(now))
        .bind(subscription_id)
        .bind(to_ns(now))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn remove_notifications(&self, seqs: &[i64]) -> StoreResult<()> {
        if seqs.is_empty() {
            return Ok(());
        }
        let mut b: QueryBuilder<Sqlite> = QueryBuilder::new("DELETE FROM outbox WHERE seq IN");
        bind_in(&mut b, seqs);
        b.build().execute(&self.writer).await?;
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
        let mut b: QueryBuilder<Sqlite> = QueryBuilder::new("UPDATE outbox SET due_ns = ");
        b.push_bind(to_ns(due))
            .push(", attempts = attempts + 1, first_attempt_ns = COALESCE(first_attempt_ns, ")
            .push_bind(to_ns(attempted_at))
            .push(") WHERE seq IN");
        bind_in(&mut b, seqs);
        b.build().execute(&self.writer).await?;
        Ok(())
    }

    async fn enqueue_lifecycle(
        &self,
        tenant_id: &str,
        subscription_id: &str,
        event: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO outbox (id, tenant_id, subscription_id, kind, event, resource_id, created_ns, due_ns) \
             VALUES (?, ?, ?, 'lifecycle', ?, NULL, ?, ?)",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(tenant_id)
        .bind(subscription_id)
        .bind(event)
        .bind(to_ns(now))
        .bind(to_ns(now))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn record_attempts(&self, attempts: &[DeliveryAttempt]) -> StoreResult<()> {
        if attempts.is_empty() {
            return Ok(());
        }
        insert_attempts(attempts)
            .build()
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn settle_delivered(
        &self,
        seqs: &[i64],
        attempts: &[DeliveryAttempt],
    ) -> StoreResult<()> {
        let mut tx = self.write().await?;
        // SQLite allows 32,766 bound values per statement; stay well under it.
        for chunk in seqs.chunks(10_000) {
            let mut b: QueryBuilder<Sqlite> = QueryBuilder::new("DELETE FROM outbox WHERE seq IN");
            bind_in(&mut b, chunk);
            b.build().execute(&mut *tx).await?;
        }
        for chunk in attempts.chunks(1_000) {
            insert_attempts(chunk).build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn delivery_attempts_page(
        &self,
        subscription_id: &str,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<(i64, DeliveryAttempt)>> {
        let rows = sqlx::query(
            "SELECT seq, subscription_id, notification_ids, url, at_ns, status, latency_ms, outcome, error \
             FROM delivery_attempts WHERE subscription_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
        )
        .bind(subscription_id)
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
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
        // In slices, so the writer is never held long by a large purge.
        let mut total = 0;
        loop {
            let n = sqlx::query(
                "DELETE FROM delivery_attempts WHERE seq IN (SELECT seq FROM delivery_attempts \
                 WHERE at_ns < ? LIMIT 10000)",
            )
            .bind(to_ns(cutoff))
            .execute(&self.writer)
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
            .fetch_one(&self.reader)
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn put_users(&self, tenant_id: &str, users: &[UserWrite]) -> StoreResult<()> {
        let mut tx = self.write().await?;
        for u in users {
            sqlx::query(
                "INSERT INTO users (tenant_id, id, body) VALUES (?, ?, ?) \
                 ON CONFLICT (tenant_id, id) DO UPDATE SET body = excluded.body",
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
        let row = sqlx::query("SELECT body FROM users WHERE tenant_id = ? AND id = ?")
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        row.map(|r| Ok(r.try_get("body")?)).transpose()
    }

    async fn list_users(
        &self,
        tenant_id: &str,
        after_id: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT id, body FROM users WHERE tenant_id = ? AND id > ? ORDER BY id LIMIT ?",
        )
        .bind(tenant_id)
        .bind(after_id.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("body")?)))
            .collect()
    }
}
