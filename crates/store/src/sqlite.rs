//! [`Store`] on SQLite: the embedded default. What it shares with PostgreSQL is in
//! `crate::shared`; this file holds what is SQLite's own: the pools and pragmas, the single
//! writer, multi-row inserts and lists bound one value each, JSON functions, and the delivery
//! round's query.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Pool, QueryBuilder, Row, Sqlite, Transaction};

use crate::shared::{
    from_ns, identity_impl, json_list, meetings_impl, store_impl, to_ns, Backend, NewNotification,
};
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

    /// Closes both pools, checkpointing the WAL.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

/// Rows per multi-row participant insert (3 bound values each, well under SQLite's limit).
const PARTICIPANT_ROWS_PER_STATEMENT: usize = 5000;
/// Rows per multi-row outbox insert (9 bound values each).
const OUTBOX_ROWS_PER_STATEMENT: usize = 2000;
/// Rows per multi-row delivery-attempt insert (8 bound values each).
const ATTEMPT_ROWS_PER_STATEMENT: usize = 1000;
/// Values per `IN (…)` list: SQLite allows 32,766 bound values per statement.
const VALUES_PER_LIST: usize = 10_000;

/// `IN (?, ?, …)` with one bound value each.
fn push_in<'a, T>(b: &mut QueryBuilder<'a, Sqlite>, values: &'a [T])
where
    T: 'a + sqlx::Encode<'a, Sqlite> + sqlx::Type<Sqlite> + Copy + Send,
{
    b.push(" IN (");
    let mut list = b.separated(", ");
    for v in values {
        list.push_bind(*v);
    }
    b.push(")");
}

impl Backend for SqliteStore {
    type Db = Sqlite;

    fn reader(&self) -> &Pool<Sqlite> {
        &self.reader
    }

    fn writer(&self) -> &Pool<Sqlite> {
        &self.writer
    }

    /// A write transaction that holds SQLite's write lock from its `BEGIN`. sqlx's `begin()` is
    /// `BEGIN DEFERRED`: the transaction starts as a read and becomes a write at its first
    /// write, and if another connection to the file (a second process such as `callhook
    /// tenant …`) committed in between, that upgrade fails at once with SQLITE_BUSY — the
    /// busy timeout never waits for it. `BEGIN IMMEDIATE` waits (up to the busy timeout) for
    /// the lock instead, and then nothing can fail that way.
    async fn begin_write(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }

    async fn serialize(_: &mut SqliteConnection, _: &str) -> StoreResult<()> {
        Ok(())
    }

    fn unstorable(_: &[&str]) -> bool {
        false
    }

    /// One process: its writers wake its delivery engine themselves.
    async fn announce_outbox(&self) {}

    async fn insert_notifications(
        conn: &mut SqliteConnection,
        tenant_id: &str,
        now: DateTime<Utc>,
        notes: &[NewNotification],
    ) -> StoreResult<()> {
        for part in notes.chunks(OUTBOX_ROWS_PER_STATEMENT) {
            let mut b: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO outbox (id, tenant_id, subscription_id, kind, event, resource_id, \
                 created_ns, due_ns, subject) ",
            );
            b.push_values(part, |mut row, n| {
                row.push_bind(&n.id)
                    .push_bind(tenant_id)
                    .push_bind(&n.subscription_id)
                    .push_bind(n.kind.as_str())
                    .push_bind(&n.event)
                    .push_bind(&n.resource_id)
                    .push_bind(to_ns(now))
                    .push_bind(to_ns(now))
                    .push_bind(&n.subject);
            });
            b.build().execute(&mut *conn).await?;
        }
        Ok(())
    }

    async fn delete_notifications(conn: &mut SqliteConnection, seqs: &[i64]) -> StoreResult<()> {
        for chunk in seqs.chunks(VALUES_PER_LIST) {
            let mut b: QueryBuilder<Sqlite> = QueryBuilder::new("DELETE FROM outbox WHERE seq");
            push_in(&mut b, chunk);
            b.build().execute(&mut *conn).await?;
        }
        Ok(())
    }

    async fn reschedule(
        conn: &mut SqliteConnection,
        seqs: &[i64],
        due_ns: i64,
        attempted_ns: i64,
    ) -> StoreResult<()> {
        for chunk in seqs.chunks(VALUES_PER_LIST) {
            let mut b: QueryBuilder<Sqlite> = QueryBuilder::new("UPDATE outbox SET due_ns = ");
            b.push_bind(due_ns)
                .push(", attempts = attempts + 1, first_attempt_ns = COALESCE(first_attempt_ns, ")
                .push_bind(attempted_ns)
                .push(") WHERE seq");
            push_in(&mut b, chunk);
            b.build().execute(&mut *conn).await?;
        }
        Ok(())
    }

    async fn insert_attempts(
        conn: &mut SqliteConnection,
        attempts: &[DeliveryAttempt],
    ) -> StoreResult<()> {
        for part in attempts.chunks(ATTEMPT_ROWS_PER_STATEMENT) {
            let mut b: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO delivery_attempts (subscription_id, notification_ids, url, at_ns, \
                 status, latency_ms, outcome, error) ",
            );
            b.push_values(part, |mut row, a| {
                row.push_bind(&a.subscription_id)
                    .push_bind(json_list(&a.notification_ids))
                    .push_bind(&a.url)
                    .push_bind(to_ns(a.at))
                    .push_bind(a.status.map(i64::from))
                    .push_bind(a.latency_ms)
                    .push_bind(&a.outcome)
                    .push_bind(&a.error);
            });
            b.build().execute(&mut *conn).await?;
        }
        Ok(())
    }

    async fn forget_subscriptions(conn: &mut SqliteConnection, ids: &[&str]) -> StoreResult<()> {
        for id in ids {
            sqlx::query("DELETE FROM outbox WHERE subscription_id = $1")
                .bind(*id)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    async fn upsert_call_records(
        conn: &mut SqliteConnection,
        tenant_id: &str,
        chunk: &[CallRecordWrite],
        modified: &str,
    ) -> StoreResult<HashMap<String, (i64, i64)>> {
        let mut b: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO call_records (tenant_id, id, version, start_ns, last_modified, body, \
             sessions, participants) ",
        );
        b.push_values(chunk, |mut row, rec| {
            row.push_bind(tenant_id)
                .push_bind(&rec.id)
                .push_bind(1_i64)
                .push_bind(to_ns(rec.start))
                .push_bind(modified)
                .push_bind(&rec.body)
                .push_bind(&rec.sessions)
                .push_bind(&rec.participants);
        });
        b.push(
            " ON CONFLICT (tenant_id, id) DO UPDATE SET version = version + 1, \
             start_ns = excluded.start_ns, last_modified = excluded.last_modified, body = excluded.body, \
             sessions = excluded.sessions, participants = excluded.participants \
             RETURNING id, seq, version",
        );
        let rows = b.build().fetch_all(&mut *conn).await?;
        let mut written = HashMap::with_capacity(rows.len());
        for r in &rows {
            written.insert(r.try_get("id")?, (r.try_get("seq")?, r.try_get("version")?));
        }
        Ok(written)
    }

    async fn unlink_participants(conn: &mut SqliteConnection, seqs: &[i64]) -> StoreResult<()> {
        for chunk in seqs.chunks(VALUES_PER_LIST) {
            let mut b: QueryBuilder<Sqlite> =
                QueryBuilder::new("DELETE FROM call_record_participants WHERE seq");
            push_in(&mut b, chunk);
            b.build().execute(&mut *conn).await?;
        }
        Ok(())
    }

    async fn link_participants(
        conn: &mut SqliteConnection,
        tenant_id: &str,
        links: &[(&str, i64)],
    ) -> StoreResult<()> {
        for part in links.chunks(PARTICIPANT_ROWS_PER_STATEMENT) {
            let mut b: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT OR IGNORE INTO call_record_participants (tenant_id, participant_id, seq) ",
            );
            b.push_values(part, |mut row, (pid, seq)| {
                row.push_bind(tenant_id).push_bind(*pid).push_bind(*seq);
            });
            b.build().execute(&mut *conn).await?;
        }
        Ok(())
    }

    const ADD_APP_SECRET: &'static str =
        "UPDATE apps SET secret_hashes = json_insert(secret_hashes, '$[#]', $1) \
         WHERE tenant_id = $2 AND client_id = $3";
    const GRANT_APP_ROLE: &'static str = "UPDATE apps SET roles = json_insert(roles, '$[#]', $1) \
         WHERE tenant_id = $2 AND client_id = $3 \
           AND NOT EXISTS (SELECT 1 FROM json_each(apps.roles) WHERE value = $1)";
    const REVOKE_APP_ROLE: &'static str = "UPDATE apps SET roles = \
           (SELECT json_group_array(value) FROM json_each(apps.roles) WHERE value <> $1) \
         WHERE tenant_id = $2 AND client_id = $3 \
           AND EXISTS (SELECT 1 FROM json_each(apps.roles) WHERE value = $1)";
    /// The single writer already excludes every other writer.
    const FOR_UPDATE: &'static str = "";
}

/// The ready streams' first rows after [`DUE_SUBSCRIPTIONS`] (see [`DueQuery`]; PostgreSQL's
/// `due_streams_sql` is the same query in its dialect): $1 now, $2 skip and $3 busy streams (JSON arrays), $4 rows per
/// stream, $5 rows in all. The subscriptions with rows are found by skipping through the
/// `outbox_stream` index (one probe each, whatever their backlog), each stream's head and first
/// rows are read through it from the head, so a round costs the streams it looks at and the
/// rows it returns, never the backlog behind them.
const DUE_STREAMS_SQLITE: &str = "heads AS ( \
       SELECT s.sub, k.kind, (SELECT x.seq FROM outbox x WHERE x.subscription_id = s.sub \
         AND x.kind = k.kind AND x.seq NOT IN (SELECT value FROM json_each($2)) \
         ORDER BY x.seq LIMIT 1) AS head_seq \
       FROM subs s, (SELECT 'change' AS kind UNION ALL SELECT 'lifecycle') k \
       WHERE s.sub IS NOT NULL \
         AND (k.kind || '/' || s.sub) NOT IN (SELECT value FROM json_each($3))), \
     ready AS ( \
       SELECT h.sub, h.kind, h.head_seq, \
         (SELECT o.tenant_id FROM outbox o WHERE o.seq = h.head_seq) AS tenant_id \
       FROM heads h WHERE (SELECT o.due_ns FROM outbox o WHERE o.seq = h.head_seq) <= $1), \
     ranked AS (SELECT *, ROW_NUMBER() OVER (PARTITION BY tenant_id ORDER BY head_seq) AS tenant_rank \
       FROM ready), \
     picked AS ( \
       SELECT o.*, r.tenant_rank, r.head_seq, \
         ROW_NUMBER() OVER (PARTITION BY o.subscription_id, o.kind ORDER BY o.seq) AS rn \
       FROM ranked r JOIN outbox o ON o.seq IN (SELECT x.seq FROM outbox x \
         WHERE x.subscription_id = r.sub AND x.kind = r.kind \
         AND x.seq NOT IN (SELECT value FROM json_each($2)) ORDER BY x.seq LIMIT $4)) \
     SELECT * FROM picked ORDER BY rn, tenant_rank, head_seq LIMIT $5";

/// An outbox row as `due_notifications` packs it into JSON.
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

fn unpack(
    (
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
    ): Packed,
) -> OutboxRow {
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
}

store_impl!(SqliteStore {
    async fn due_notifications(&self, q: &DueQuery<'_>) -> StoreResult<Vec<OutboxRow>> {
        // Lists go in as JSON parameters so the statement text never changes and stays prepared.
        let json = |e: serde_json::Error| StoreError::Database(e.to_string());
        let skip = serde_json::to_string(q.skip).map_err(json)?;
        let busy = serde_json::to_string(&q.busy_keys()).map_err(json)?;
        // The rows come back as one JSON array: the engine reads this on every round, and one
        // text value costs far less to hand over than a thousand rows one by one.
        let packed: Option<String> = sqlx::query_scalar(&format!(
            "SELECT json_group_array(json_array(seq, id, tenant_id, subscription_id, kind, event, \
             resource_id, created_ns, due_ns, attempts, first_attempt_ns, subject)) \
             FROM ({DUE_SUBSCRIPTIONS}, {DUE_STREAMS_SQLITE})"
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
        let rows: Vec<Packed> = serde_json::from_str(&packed)
            .map_err(|e| StoreError::Corrupt(format!("outbox rows: {e}")))?;
        // json_group_array keeps the subquery's order.
        Ok(q.due_prefix(rows.into_iter().map(unpack).collect()))
    }
});

identity_impl!(SqliteStore);
meetings_impl!(SqliteStore);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::*;
    use chrono::Utc;

    async fn store_with_app() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
        for t in ["t1", "t2"] {
            store
                .insert_tenant(&Tenant {
                    id: t.into(),
                    display_name: t.into(),
                    created_at: Utc::now(),
                })
                .await
                .unwrap();
        }
        store
            .insert_app(&App {
                client_id: "a1".into(),
                tenant_id: "t1".into(),
                display_name: "app".into(),
                secret_hashes: vec!["h1".into()],
                roles: vec!["CallRecords.Read.All".into()],
                created_at: Utc::now(),
            })
            .await
            .unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn roles_are_granted_and_revoked_once_and_only_in_the_apps_tenant() {
        let (_d, s) = store_with_app().await;
        let role = "OnlineMeetings.Read.All";
        assert_eq!(
            s.grant_app_role("t1", "a1", role).await.unwrap(),
            GrantChange::Changed
        );
        assert_eq!(
            s.grant_app_role("t1", "a1", role).await.unwrap(),
            GrantChange::Unchanged
        );
        assert_eq!(
            s.grant_app_role("t2", "a1", role).await.unwrap(),
            GrantChange::NoSuchApp
        );
        assert_eq!(
            s.app_roles("t1", "a1").await.unwrap().unwrap(),
            vec!["CallRecords.Read.All".to_string(), role.to_string()]
        );
        assert_eq!(s.app_roles("t2", "a1").await.unwrap(), None);
        assert_eq!(
            s.revoke_app_role("t1", "a1", "CallRecords.Read.All")
                .await
                .unwrap(),
            GrantChange::Changed
        );
        assert_eq!(
            s.revoke_app_role("t1", "a1", "CallRecords.Read.All")
                .await
                .unwrap(),
            GrantChange::Unchanged
        );
        assert_eq!(
            s.app("a1").await.unwrap().unwrap().roles,
            vec![role.to_string()]
        );
        assert!(s.add_app_secret("t1", "a1", "h2").await.unwrap());
        assert!(!s.add_app_secret("t2", "a1", "h3").await.unwrap());
        assert_eq!(
            s.app("a1").await.unwrap().unwrap().secret_hashes,
            vec!["h1", "h2"]
        );
    }

    #[tokio::test]
    async fn deleting_an_app_removes_its_grants() {
        let (_d, s) = store_with_app().await;
        assert_eq!(
            s.grant_delegated("t1", "a1", "OnlineMeetings.Read")
                .await
                .unwrap(),
            GrantChange::Changed
        );
        let grant = RscGrant {
            tenant_id: "t1".into(),
            client_id: "a1".into(),
            resource_id: "m1".into(),
            permission: "OnlineMeetingTranscript.Read.Chat".into(),
            created_at: Utc::now(),
        };
        assert_eq!(s.install_rsc(&grant).await.unwrap(), GrantChange::Changed);
        assert_eq!(s.install_rsc(&grant).await.unwrap(), GrantChange::Unchanged);
        assert!(s
            .rsc_granted("t1", "a1", "m1", &grant.permission)
            .await
            .unwrap());
        assert!(!s
            .rsc_granted("t2", "a1", "m1", &grant.permission)
            .await
            .unwrap());
        assert!(!s
            .rsc_granted("t1", "a1", "m2", &grant.permission)
            .await
            .unwrap());
        assert!(!s.delete_app("t2", "a1").await.unwrap());
        assert!(s.delete_app("t1", "a1").await.unwrap());
        assert!(s.delegated_scopes("t1", "a1").await.unwrap().is_empty());
        assert!(!s
            .rsc_granted("t1", "a1", "m1", &grant.permission)
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn sign_in_users_are_found_by_id_or_case_insensitive_name_within_their_tenant() {
        let (_d, s) = store_with_app().await;
        let u = SignInUser {
            tenant_id: "t1".into(),
            id: "u1".into(),
            user_principal_name: "Ada@Contoso.com".into(),
            display_name: "Ada".into(),
            password_hash: "h".into(),
            created_at: Utc::now(),
        };
        assert!(s.insert_sign_in_user(&u).await.unwrap());
        assert!(!s.insert_sign_in_user(&u).await.unwrap());
        assert_eq!(
            s.sign_in_user("t1", "ada@contoso.COM")
                .await
                .unwrap()
                .unwrap()
                .id,
            "u1"
        );
        assert!(s.sign_in_user("t1", "u1").await.unwrap().is_some());
        assert!(s.sign_in_user("t2", "u1").await.unwrap().is_none());
        assert!(!format!("{u:?}").contains("\"h\""));
    }
}
