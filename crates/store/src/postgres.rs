//! [`Store`] on PostgreSQL, for several `callhook serve` nodes sharing one database.
//!
//! Same semantics as [`crate::SqliteStore`], method for method; what the two share is written once
//! in `crate::shared`, and this file holds what is PostgreSQL's own. Where SQLite relies on its
//! single writer, PostgreSQL takes a row lock in the `locks` table inside the transaction:
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
//! another node queued for it. See `announce_outbox` for why right after the commit rather
//! than inside the transaction.

use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::{Pool, Postgres, Row, Transaction};
use tokio::sync::Notify;

use crate::shared::{
    from_ns, identity_impl, json_list, meetings_impl, store_impl, to_ns, Backend, Columns,
    NewNotification, DUE_SUBSCRIPTIONS,
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

    pub async fn connect_with(
        options: PgConnectOptions,
        max_connections: u32,
    ) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(StdDuration::from_secs(30))
            .connect_with(options)
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

pub(crate) const OUTBOX_COLUMNS: &str =
    "o.seq, o.id, o.tenant_id, o.subscription_id, o.kind, o.event, \
     o.resource_id, o.created_ns, o.due_ns, o.attempts, o.first_attempt_ns, o.subject";

fn outbox_from_row(r: &PgRow) -> StoreResult<OutboxRow> {
    let kind = r.text("kind")?;
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
        "{DUE_SUBSCRIPTIONS}, \
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

/// A lease length as nanoseconds, at least one.
fn lease_ns(lease: Duration) -> i64 {
    lease.num_nanoseconds().unwrap_or(i64::MAX).max(1)
}

impl Backend for PostgresStore {
    type Db = Postgres;

    fn reader(&self) -> &Pool<Postgres> {
        &self.pool
    }

    fn writer(&self) -> &Pool<Postgres> {
        &self.pool
    }

    async fn begin_write(&self) -> StoreResult<Transaction<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }

    /// Takes the row lock `name` until the transaction ends (creating its row the first time).
    async fn serialize(conn: &mut PgConnection, name: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO locks (name) VALUES ($1) ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name",
        )
        .bind(name)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// PostgreSQL text cannot hold NUL, so no stored row can match such a key: lookups answer
    /// "not found" (as SQLite does) instead of a database error.
    fn unstorable(keys: &[&str]) -> bool {
        keys.iter().any(|k| k.contains('\0'))
    }

    /// Tells every node's outbox watcher that rows were queued; called right after the commit
    /// that queued them. Not inside the transaction: a NOTIFY makes its transaction hold
    /// PostgreSQL's cluster-wide notify lock through the commit's WAL flush, so every such
    /// commit would wait for the others' flushes (8 concurrent writers on the 2-core test
    /// machine: ~3,000 commits/s without, ~600 with). After the commit it is a transaction that
    /// writes no WAL: one round trip, no flush. Best effort: a wake-up lost here (a failed call,
    /// a crash between the two) only waits for the other nodes' idle poll, and the write itself
    /// has succeeded, so a failure is logged, never returned.
    async fn announce_outbox(&self) {
        let sent = sqlx::query("SELECT pg_notify($1, '')")
            .bind(OUTBOX_CHANNEL)
            .execute(&self.pool)
            .await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, "announcing queued notifications failed; other nodes see them on their next idle poll");
        }
    }

    /// Bound as arrays and expanded with UNNEST: one statement, whatever the count.
    async fn insert_notifications(
        conn: &mut PgConnection,
        tenant_id: &str,
        now: DateTime<Utc>,
        notes: &[NewNotification],
    ) -> StoreResult<()> {
        let ids: Vec<&str> = notes.iter().map(|n| n.id.as_str()).collect();
        let subs: Vec<&str> = notes.iter().map(|n| n.subscription_id.as_str()).collect();
        let kinds: Vec<&str> = notes.iter().map(|n| n.kind.as_str()).collect();
        let events: Vec<&str> = notes.iter().map(|n| n.event.as_str()).collect();
        let resource_ids: Vec<Option<&str>> =
            notes.iter().map(|n| n.resource_id.as_deref()).collect();
        let subjects: Vec<Option<&str>> = notes.iter().map(|n| n.subject.as_deref()).collect();
        sqlx::query(
            "INSERT INTO outbox (id, tenant_id, subscription_id, kind, event, resource_id, subject, created_ns, due_ns) \
             SELECT u.id, $1, u.sub, u.kind, u.event, u.rid, u.subject, $2, $2 \
             FROM UNNEST($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[]) \
             WITH ORDINALITY AS u(id, sub, kind, event, rid, subject, n) ORDER BY u.n",
        )
        .bind(tenant_id)
        .bind(to_ns(now))
        .bind(&ids)
        .bind(&subs)
        .bind(&kinds)
        .bind(&events)
        .bind(&resource_ids)
        .bind(&subjects)
        .execute(conn)
        .await?;
        Ok(())
    }

    async fn delete_notifications(conn: &mut PgConnection, seqs: &[i64]) -> StoreResult<()> {
        sqlx::query("DELETE FROM outbox WHERE seq = ANY($1)")
            .bind(seqs)
            .execute(conn)
            .await?;
        Ok(())
    }

    async fn reschedule(
        conn: &mut PgConnection,
        seqs: &[i64],
        due_ns: i64,
        attempted_ns: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE outbox SET due_ns = $1, attempts = attempts + 1, \
             first_attempt_ns = COALESCE(first_attempt_ns, $2) WHERE seq = ANY($3)",
        )
        .bind(due_ns)
        .bind(attempted_ns)
        .bind(seqs)
        .execute(conn)
        .await?;
        Ok(())
    }

    async fn insert_attempts(
        conn: &mut PgConnection,
        attempts: &[DeliveryAttempt],
    ) -> StoreResult<()> {
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
        .execute(conn)
        .await?;
        Ok(())
    }

    async fn forget_subscriptions(conn: &mut PgConnection, ids: &[&str]) -> StoreResult<()> {
        sqlx::query("DELETE FROM outbox WHERE subscription_id = ANY($1)")
            .bind(ids)
            .execute(&mut *conn)
            .await?;
        sqlx::query("DELETE FROM delivery_leases WHERE subscription_id = ANY($1)")
            .bind(ids)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    async fn upsert_call_records(
        conn: &mut PgConnection,
        tenant_id: &str,
        chunk: &[CallRecordWrite],
        modified: &str,
    ) -> StoreResult<HashMap<String, (i64, i64)>> {
        let ids: Vec<&str> = chunk.iter().map(|r| r.id.as_str()).collect();
        let starts: Vec<i64> = chunk.iter().map(|r| to_ns(r.start)).collect();
        let bodies: Vec<&str> = chunk.iter().map(|r| r.body.as_str()).collect();
        let sessions: Vec<&str> = chunk.iter().map(|r| r.sessions.as_str()).collect();
        let parts: Vec<&str> = chunk.iter().map(|r| r.participants.as_str()).collect();
        // New rows take their seq in input order.
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
        .bind(modified)
        .bind(&ids)
        .bind(&starts)
        .bind(&bodies)
        .bind(&sessions)
        .bind(&parts)
        .fetch_all(conn)
        .await?;
        let mut written = HashMap::with_capacity(rows.len());
        for r in &rows {
            written.insert(r.text("id")?, (r.int("seq")?, r.int("version")?));
        }
        Ok(written)
    }

    async fn unlink_participants(conn: &mut PgConnection, seqs: &[i64]) -> StoreResult<()> {
        sqlx::query("DELETE FROM call_record_participants WHERE seq = ANY($1)")
            .bind(seqs)
            .execute(conn)
            .await?;
        Ok(())
    }

    async fn link_participants(
        conn: &mut PgConnection,
        tenant_id: &str,
        links: &[(&str, i64)],
    ) -> StoreResult<()> {
        let (ids, seqs): (Vec<&str>, Vec<i64>) = links.iter().copied().unzip();
        sqlx::query(
            "INSERT INTO call_record_participants (tenant_id, participant_id, seq) \
             SELECT $1, u.p, u.s FROM UNNEST($2::text[], $3::bigint[]) AS u(p, s) \
             ON CONFLICT DO NOTHING",
        )
        .bind(tenant_id)
        .bind(&ids)
        .bind(&seqs)
        .execute(conn)
        .await?;
        Ok(())
    }

    const ADD_APP_SECRET: &'static str =
        "UPDATE apps SET secret_hashes = (secret_hashes::jsonb || jsonb_build_array($1::text))::text \
         WHERE tenant_id = $2 AND client_id = $3";
    const GRANT_APP_ROLE: &'static str =
        "UPDATE apps SET roles = (roles::jsonb || jsonb_build_array($1::text))::text \
         WHERE tenant_id = $2 AND client_id = $3 AND NOT (roles::jsonb @> jsonb_build_array($1::text))";
    /// jsonb `-` text removes every array element equal to that string.
    const REVOKE_APP_ROLE: &'static str =
        "UPDATE apps SET roles = (roles::jsonb - $1::text)::text \
         WHERE tenant_id = $2 AND client_id = $3 AND roles::jsonb @> jsonb_build_array($1::text)";
    /// The row lock makes "publish once" race-free across nodes.
    const FOR_UPDATE: &'static str = " FOR UPDATE";
}

store_impl!(PostgresStore {
    async fn due_notifications(&self, q: &DueQuery<'_>) -> StoreResult<Vec<OutboxRow>> {
        // Unnamed, not a prepared statement kept per connection: planned with this round's
        // values every time, never with a generic plan cached from other table sizes.
        let rows = sqlx::query(&due_streams_sql("", ""))
            .persistent(false)
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
        .persistent(false)
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
            .persistent(false)
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
        // (announced at the statement's commit: rare enough that the notify lock costs nothing).
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
        .persistent(false)
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
});

identity_impl!(PostgresStore);
meetings_impl!(PostgresStore);
