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
    writer: SqlitePool,
    reader: SqlitePool,
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

    /// Closes both pools, checkpointing the WAL.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

/// Rows per multi-row participant insert (3 bound values each, well under SQLite's limit).
const PARTICIPANT_ROWS_PER_STATEMENT: usize = 5000;

/// Splits a batch into consecutive runs in which no id repeats, keeping input order.
fn distinct_id_chunks(records: &[CallRecordWrite]) -> Vec<&[CallRecordWrite]> {
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

/// Nanoseconds since the epoch, saturating outside the representable years (1677–2262).
fn to_ns(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt()
        .unwrap_or(if t.year() < 1970 { i64::MIN } else { i64::MAX })
}

fn from_ns(ns: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(ns)
}

fn fmt_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

fn parse_time(s: &str) -> StoreResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("bad timestamp {s:?}: {e}")))
}

fn json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn parse_list(s: &str) -> StoreResult<Vec<String>> {
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
        let mut tx = self.writer.begin().await?;
        let modified = fmt_time(now);
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
        let mut tx = self.writer.begin().await?;
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
        let mut tx = self.writer.begin().await?;
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

    async fn put_users(&self, tenant_id: &str, users: &[UserWrite]) -> StoreResult<()> {
        let mut tx = self.writer.begin().await?;
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
