//! The collector's store: SQLite (a file in the data directory, the default) or PostgreSQL (by
//! URL). Every statement is written once: both backends accept the same SQL with `$N`
//! placeholders, and [`with_pool!`] expands one body for each pool type, so only what really
//! differs (DDL in `migrations/{sqlite,postgres}`, `FOR UPDATE SKIP LOCKED`, pool set-up) is
//! written per backend.
//!
//! Invariants: a record's rows (call, sessions, segments, streams, participants) and the
//! removal of its work item change in one transaction; a stored version is only ever replaced
//! by a higher one (the `ON CONFLICT … WHERE calls.version < excluded.version` decides, under
//! the row lock on PostgreSQL and the single writer on SQLite).

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::Value;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Row;

use crate::error::Result;
use crate::flatten::{self, Col, Val};

/// The pool of one backend.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the concrete pool of either backend: the body is written
/// once and type-checked for both.
macro_rules! with_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            Db::Sqlite($pool) => $body,
            Db::Postgres($pool) => $body,
        }
    };
}

/// Binds one typed cell to a query builder's separated list.
macro_rules! push_val {
    ($sep:expr, $v:expr) => {
        match $v {
            Val::Text(x) => $sep.push_bind(x.clone()),
            Val::Int(x) => $sep.push_bind(*x),
            Val::Real(x) => $sep.push_bind(*x),
            Val::Bool(x) => $sep.push_bind(*x),
            Val::Time(x) => $sep.push_bind(*x),
        }
    };
}

/// Removes a claimed work item unless a notification came meanwhile (a newer generation), in
/// which case the item is released for another fetch at once.
macro_rules! finish_item {
    ($tx:expr, $item:expr) => {{
        sqlx::query("DELETE FROM fetch_queue WHERE tenant_id = $1 AND id = $2 AND generation = $3")
            .bind(&$item.tenant_id)
            .bind(&$item.id)
            .bind($item.generation)
            .execute($tx)
            .await?;
        sqlx::query(
            "UPDATE fetch_queue SET lease_owner = NULL, lease_until = NULL WHERE tenant_id = $1 AND id = $2",
        )
        .bind(&$item.tenant_id)
        .bind(&$item.id)
        .execute($tx)
        .await?;
    }};
}

/// Rows per multi-row INSERT: keeps the bound parameters under SQLite's 32,766.
const ROWS_PER_INSERT: usize = 100;

/// What [`Store::put_record`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// New, or a higher version than the one stored.
    Stored,
    /// The store already holds this version or a higher one.
    Unchanged,
}

/// A claimed work item: fetch record `id` of `tenant_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueItem {
    pub tenant_id: String,
    pub id: String,
    /// Bumped by every new notification of the record; the item is removed only if unchanged.
    pub generation: i64,
    pub attempts: i64,
}

/// A subscription the collector created (or is creating).
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionRow {
    pub client_state: String,
    pub tenant_id: String,
    pub subscription_id: Option<String>,
    pub resource: String,
    pub change_type: String,
    pub notification_url: String,
    pub expiration_date_time: Option<DateTime<Utc>>,
    pub status: String,
}

/// Counts for `status` and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub calls: i64,
    pub sessions: i64,
    pub segments: i64,
    pub streams: i64,
    pub participants: i64,
    pub queued: i64,
    pub gone: i64,
}

#[derive(Clone, Debug)]
pub struct Store {
    pub db: Db,
}

fn column_list(cols: &[Col]) -> String {
    cols.iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// Opens `postgres://…` URLs on PostgreSQL, anything else as a SQLite file path, and brings
    /// the schema up to date.
    pub async fn open(target: &str, pool_size: u32) -> Result<Self> {
        let db = if target.starts_with("postgres://") || target.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(pool_size.max(2))
                .acquire_timeout(Duration::from_secs(30))
                .connect(target)
                .await?;
            sqlx::migrate!("./migrations/postgres").run(&pool).await?;
            Db::Postgres(pool)
        } else {
            let path = target.strip_prefix("sqlite://").unwrap_or(target);
            let opts = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(false);
            // One connection: SQLite has one writer anyway, and a single connection never
            // meets SQLITE_BUSY upgrading a read transaction.
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(opts)
                .await?;
            sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
            Db::Sqlite(pool)
        };
        Ok(Self { db })
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.db, Db::Postgres(_))
    }

    pub async fn close(&self) {
        with_pool!(&self.db, p => p.close().await)
    }

    /// Stores a fetched record (complete: sessions with segments, `participants_v2`) unless the
    /// store holds its version or a higher one; removes the claimed work item in the same
    /// transaction.
    pub async fn put_record(
        &self,
        tenant_id: &str,
        record: &Value,
        claim: Option<&QueueItem>,
    ) -> Result<PutOutcome> {
        let id = record["id"].as_str().unwrap_or_default().to_string();
        let version = record["version"].as_i64().unwrap_or(0);
        let time = |k: &str| {
            record[k]
                .as_str()
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|d| d.with_timezone(&Utc).trunc_subsecs(6))
        };
        let modalities = record["modalities"].as_array().map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(",")
        });
        let organizer = &record["organizer_v2"];
        let flat = flatten::flatten(tenant_id, record);
        let now = Utc::now();
        let json = record.to_string();
        with_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let won = sqlx::query(
                "INSERT INTO calls (tenant_id, id, version, type, modalities, start_date_time, \
                 end_date_time, last_modified_date_time, join_web_url, organizer_id, \
                 organizer_display_name, session_count, segment_count, stream_count, \
                 participant_count, fetched_at, record_json) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
                 ON CONFLICT (tenant_id, id) DO UPDATE SET version = excluded.version, \
                 type = excluded.type, modalities = excluded.modalities, \
                 start_date_time = excluded.start_date_time, end_date_time = excluded.end_date_time, \
                 last_modified_date_time = excluded.last_modified_date_time, \
                 join_web_url = excluded.join_web_url, organizer_id = excluded.organizer_id, \
                 organizer_display_name = excluded.organizer_display_name, \
                 session_count = excluded.session_count, segment_count = excluded.segment_count, \
                 stream_count = excluded.stream_count, participant_count = excluded.participant_count, \
                 fetched_at = excluded.fetched_at, record_json = excluded.record_json \
                 WHERE calls.version < excluded.version RETURNING id",
            )
            .bind(tenant_id)
            .bind(&id)
            .bind(version)
            .bind(record["type"].as_str())
            .bind(modalities)
            .bind(time("startDateTime"))
            .bind(time("endDateTime"))
            .bind(time("lastModifiedDateTime"))
            .bind(record["joinWebUrl"].as_str())
            .bind(organizer["id"].as_str())
            .bind(
                organizer["identity"]["user"]["displayName"]
                    .as_str()
                    .or(organizer["identity"]["user"]["id"].as_str()),
            )
            .bind(flat.sessions.len() as i64)
            .bind(flat.segments.len() as i64)
            .bind(flat.streams.len() as i64)
            .bind(flat.participants.len() as i64)
            .bind(now)
            .bind(&json)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
            if won {
                for table in ["call_sessions", "call_segments", "call_streams", "call_participants"] {
                    sqlx::query(&format!("DELETE FROM {table} WHERE tenant_id = $1 AND call_id = $2"))
                        .bind(tenant_id)
                        .bind(&id)
                        .execute(&mut *tx)
                        .await?;
                }
                for (table, cols, rows) in [
                    ("call_sessions", flatten::session_columns(), &flat.sessions),
                    ("call_segments", flatten::segment_columns(), &flat.segments),
                    ("call_streams", flatten::stream_columns(), &flat.streams),
                    ("call_participants", flatten::participant_columns(), &flat.participants),
                ] {
                    for chunk in rows.chunks(ROWS_PER_INSERT) {
                        let mut qb = sqlx::QueryBuilder::new(format!(
                            "INSERT INTO {table} ({}) ",
                            column_list(cols)
                        ));
                        qb.push_values(chunk, |mut sep, row| {
                            for v in row {
                                push_val!(sep, v);
                            }
                        });
                        qb.build().execute(&mut *tx).await?;
                    }
                }
                sqlx::query("DELETE FROM gone_records WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant_id)
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
            }
            if let Some(item) = claim {
                finish_item!(&mut *tx, item);
            }
            tx.commit().await?;
            Ok(if won { PutOutcome::Stored } else { PutOutcome::Unchanged })
        })
    }

    /// Queues records to fetch (idempotent: an item already queued gets a new generation, so
    /// a fetch in flight does not remove it). One transaction for the whole batch.
    pub async fn enqueue(&self, tenant_id: &str, ids: &[String], now: DateTime<Utc>) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        with_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            for id in ids {
                sqlx::query(
                    "INSERT INTO fetch_queue (tenant_id, id, generation, attempts, due_at, enqueued_at) \
                     VALUES ($1, $2, 1, 0, $3, $3) \
                     ON CONFLICT (tenant_id, id) DO UPDATE SET generation = fetch_queue.generation + 1, \
                     due_at = CASE WHEN fetch_queue.attempts = 0 THEN excluded.due_at ELSE fetch_queue.due_at END",
                )
                .bind(tenant_id)
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Claims up to `limit` due items for `owner` until `now + lease` (other processes skip
    /// them; a killed process's items come back when the lease ends).
    pub async fn claim(
        &self,
        tenant_id: &str,
        owner: &str,
        limit: i64,
        now: DateTime<Utc>,
        lease: chrono::Duration,
    ) -> Result<Vec<QueueItem>> {
        // The one dialect difference: PostgreSQL's workers skip rows another node is claiming.
        let lock = if self.is_postgres() {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE fetch_queue SET lease_owner = $1, lease_until = $2 \
             WHERE (tenant_id, id) IN (SELECT tenant_id, id FROM fetch_queue \
             WHERE tenant_id = $5 AND due_at <= $3 AND (lease_until IS NULL OR lease_until < $3) \
             ORDER BY due_at LIMIT $4{lock}) \
             RETURNING tenant_id, id, generation, attempts"
        );
        with_pool!(&self.db, pool => {
            let rows = sqlx::query(&sql)
                .bind(owner)
                .bind(now + lease)
                .bind(now)
                .bind(limit)
                .bind(tenant_id)
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(QueueItem {
                        tenant_id: r.try_get("tenant_id")?,
                        id: r.try_get("id")?,
                        generation: r.try_get("generation")?,
                        attempts: r.try_get("attempts")?,
                    })
                })
                .collect()
        })
    }

    /// Puts a claimed item back for a later attempt.
    pub async fn retry_later(
        &self,
        item: &QueueItem,
        error: &str,
        due: DateTime<Utc>,
    ) -> Result<()> {
        with_pool!(&self.db, pool => {
            sqlx::query(
                "UPDATE fetch_queue SET attempts = attempts + 1, last_error = $3, due_at = $4, \
                 lease_owner = NULL, lease_until = NULL WHERE tenant_id = $1 AND id = $2",
            )
            .bind(&item.tenant_id)
            .bind(&item.id)
            .bind(error)
            .bind(due)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Graph answered 404: noted as gone (past retention), the work item removed.
    pub async fn mark_gone(&self, item: &QueueItem, now: DateTime<Utc>) -> Result<()> {
        with_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO gone_records (tenant_id, id, noted_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (tenant_id, id) DO UPDATE SET noted_at = excluded.noted_at",
            )
            .bind(&item.tenant_id)
            .bind(&item.id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            finish_item!(&mut *tx, item);
            tx.commit().await?;
            Ok(())
        })
    }

    /// Leases of a previous run of this (single-process SQLite) collector end now.
    pub async fn release_leases(&self, owner: Option<&str>) -> Result<()> {
        with_pool!(&self.db, pool => {
            sqlx::query(
                "UPDATE fetch_queue SET lease_owner = NULL, lease_until = NULL \
                 WHERE $1 IS NULL OR lease_owner = $1",
            )
            .bind(owner)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Stored versions of the records of `tenant_id` that started in `[from, to)`.
    pub async fn versions_between(
        &self,
        tenant_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<HashMap<String, i64>> {
        with_pool!(&self.db, pool => {
            let rows = sqlx::query(
                "SELECT id, version FROM calls WHERE tenant_id = $1 \
                 AND start_date_time >= $2 AND start_date_time < $3",
            )
            .bind(tenant_id)
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| Ok((r.try_get::<String, _>("id")?, r.try_get::<i64, _>("version")?)))
                .collect()
        })
    }

    /// The stored version of one record.
    pub async fn version_of(&self, tenant_id: &str, id: &str) -> Result<Option<i64>> {
        with_pool!(&self.db, pool => {
            Ok(sqlx::query_scalar("SELECT version FROM calls WHERE tenant_id = $1 AND id = $2")
                .bind(tenant_id)
                .bind(id)
                .fetch_optional(pool)
                .await?)
        })
    }

    /// The stored JSON of one record.
    pub async fn record_json(&self, tenant_id: &str, id: &str) -> Result<Option<Value>> {
        let text: Option<String> = with_pool!(&self.db, pool => {
            sqlx::query_scalar("SELECT record_json FROM calls WHERE tenant_id = $1 AND id = $2")
                .bind(tenant_id)
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// The rows of one call in a flattened table, as typed cells of `cols`.
    pub async fn rows(
        &self,
        table: &str,
        cols: &[Col],
        tenant_id: &str,
        call_id: &str,
    ) -> Result<Vec<Vec<Val>>> {
        use flatten::Kind;
        let sql = format!(
            "SELECT {} FROM {table} WHERE tenant_id = $1 AND call_id = $2",
            column_list(cols)
        );
        with_pool!(&self.db, pool => {
            let rows = sqlx::query(&sql).bind(tenant_id).bind(call_id).fetch_all(pool).await?;
            rows.iter()
                .map(|r| {
                    cols.iter()
                        .enumerate()
                        .map(|(i, c)| {
                            Ok(match c.kind {
                                Kind::Text | Kind::List => Val::Text(r.try_get(i)?),
                                Kind::Int => Val::Int(r.try_get(i)?),
                                Kind::Real | Kind::Millis => Val::Real(r.try_get(i)?),
                                Kind::Bool => Val::Bool(r.try_get(i)?),
                                Kind::Time => Val::Time(r.try_get(i)?),
                            })
                        })
                        .collect::<Result<Vec<_>>>()
                })
                .collect()
        })
    }

    /// Rows of `table` (a table this module names) for one tenant.
    pub async fn count(&self, table: &str, tenant_id: &str) -> Result<i64> {
        let sql = format!("SELECT COUNT(*) FROM {table} WHERE tenant_id = $1");
        with_pool!(&self.db, pool => {
            Ok(sqlx::query_scalar::<_, i64>(&sql).bind(tenant_id).fetch_one(pool).await?)
        })
    }

    pub async fn counts(&self, tenant_id: &str) -> Result<Counts> {
        let mut c = Counts::default();
        for (table, slot) in [
            ("calls", &mut c.calls),
            ("call_sessions", &mut c.sessions),
            ("call_segments", &mut c.segments),
            ("call_streams", &mut c.streams),
            ("call_participants", &mut c.participants),
            ("fetch_queue", &mut c.queued),
            ("gone_records", &mut c.gone),
        ] {
            *slot = self.count(table, tenant_id).await?;
        }
        Ok(c)
    }

    /// Items waiting, and the oldest one's enqueue time (the collector's lag).
    pub async fn queue_depth(&self) -> Result<(i64, Option<DateTime<Utc>>)> {
        with_pool!(&self.db, pool => {
            let row = sqlx::query("SELECT COUNT(*) AS n, MIN(enqueued_at) AS oldest FROM fetch_queue")
                .fetch_one(pool)
                .await?;
            Ok((row.try_get("n")?, row.try_get("oldest")?))
        })
    }

    /// Items waiting for one tenant.
    pub async fn queue_depth_of(&self, tenant_id: &str) -> Result<i64> {
        with_pool!(&self.db, pool => {
            Ok(sqlx::query_scalar("SELECT COUNT(*) FROM fetch_queue WHERE tenant_id = $1")
                .bind(tenant_id)
                .fetch_one(pool)
                .await?)
        })
    }

    /// The last errors of work items still queued.
    pub async fn queue_errors(&self, limit: i64) -> Result<Vec<(String, String, i64)>> {
        with_pool!(&self.db, pool => {
            let rows = sqlx::query(
                "SELECT id, last_error, attempts FROM fetch_queue WHERE last_error IS NOT NULL \
                 ORDER BY due_at DESC LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| Ok((r.try_get("id")?, r.try_get("last_error")?, r.try_get("attempts")?)))
                .collect()
        })
    }

    /// Upserts rows of a report function into `table` (keyed by tenant and row id).
    pub async fn put_report_rows(
        &self,
        table: &str,
        cols: &[Col],
        rows: &[Vec<Val>],
    ) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let updates = cols
            .iter()
            .filter(|c| c.name != "tenant_id" && c.name != "id")
            .map(|c| format!("{0} = excluded.{0}", c.name))
            .collect::<Vec<_>>()
            .join(", ");
        with_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            for chunk in rows.chunks(ROWS_PER_INSERT) {
                let mut qb = sqlx::QueryBuilder::new(format!("INSERT INTO {table} ({}) ", column_list(cols)));
                qb.push_values(chunk, |mut sep, row| {
                    for v in row {
                        push_val!(sep, v);
                    }
                });
                qb.push(format!(" ON CONFLICT (tenant_id, id) DO UPDATE SET {updates}"));
                qb.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// A named value of the collector's state (sweep times, report progress), per tenant.
    pub async fn state(&self, tenant_id: &str, name: &str) -> Result<Option<String>> {
        with_pool!(&self.db, pool => {
            Ok(sqlx::query_scalar("SELECT value FROM collector_state WHERE tenant_id = $1 AND name = $2")
                .bind(tenant_id)
                .bind(name)
                .fetch_optional(pool)
                .await?)
        })
    }

    pub async fn set_state(&self, tenant_id: &str, name: &str, value: &str) -> Result<()> {
        with_pool!(&self.db, pool => {
            sqlx::query(
                "INSERT INTO collector_state (tenant_id, name, value, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (tenant_id, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )
            .bind(tenant_id)
            .bind(name)
            .bind(value)
            .bind(Utc::now())
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Every state value whose name starts with `prefix`, for `status`.
    pub async fn states(&self, prefix: &str) -> Result<Vec<(String, String, String)>> {
        with_pool!(&self.db, pool => {
            let rows = sqlx::query(
                "SELECT tenant_id, name, value FROM collector_state WHERE name LIKE $1 ORDER BY tenant_id, name",
            )
            .bind(format!("{prefix}%"))
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| Ok((r.try_get("tenant_id")?, r.try_get("name")?, r.try_get("value")?)))
                .collect()
        })
    }

    /// Records a subscription before it is created (its clientState must be known when the first
    /// notification arrives, which can be before the creation's answer).
    pub async fn put_subscription(&self, s: &SubscriptionRow) -> Result<()> {
        with_pool!(&self.db, pool => {
            sqlx::query(
                "INSERT INTO subscriptions (client_state, tenant_id, subscription_id, resource, change_type, \
                 notification_url, expiration_date_time, status, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (client_state) DO UPDATE SET subscription_id = excluded.subscription_id, \
                 expiration_date_time = excluded.expiration_date_time, status = excluded.status, \
                 updated_at = excluded.updated_at",
            )
            .bind(&s.client_state)
            .bind(&s.tenant_id)
            .bind(&s.subscription_id)
            .bind(&s.resource)
            .bind(&s.change_type)
            .bind(&s.notification_url)
            .bind(s.expiration_date_time)
            .bind(&s.status)
            .bind(Utc::now())
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    pub async fn subscriptions(&self) -> Result<Vec<SubscriptionRow>> {
        with_pool!(&self.db, pool => {
            let rows = sqlx::query(
                "SELECT client_state, tenant_id, subscription_id, resource, change_type, notification_url, \
                 expiration_date_time, status FROM subscriptions ORDER BY tenant_id, resource",
            )
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(SubscriptionRow {
                        client_state: r.try_get("client_state")?,
                        tenant_id: r.try_get("tenant_id")?,
                        subscription_id: r.try_get("subscription_id")?,
                        resource: r.try_get("resource")?,
                        change_type: r.try_get("change_type")?,
                        notification_url: r.try_get("notification_url")?,
                        expiration_date_time: r.try_get("expiration_date_time")?,
                        status: r.try_get("status")?,
                    })
                })
                .collect()
        })
    }

    /// Keeps an emergency call event as received (a redelivery of the same event changes
    /// nothing).
    pub async fn put_emergency_event(
        &self,
        tenant_id: &str,
        id: &str,
        event: &Value,
    ) -> Result<()> {
        with_pool!(&self.db, pool => {
            sqlx::query(
                "INSERT INTO emergency_events (tenant_id, id, received_at, event_json) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, id) DO NOTHING",
            )
            .bind(tenant_id)
            .bind(id)
            .bind(Utc::now())
            .bind(event.to_string())
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    pub async fn delete_subscription(&self, client_state: &str) -> Result<()> {
        with_pool!(&self.db, pool => {
            sqlx::query("DELETE FROM subscriptions WHERE client_state = $1")
                .bind(client_state)
                .execute(pool)
                .await?;
            Ok(())
        })
    }
}
