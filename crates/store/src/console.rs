//! What the console reads and keeps: the webhook POSTs the delivery engine made, request and
//! response as they went over the wire (bodies up to a cap), for the console and
//! `GET /_callhook/posts/…`, and per-subscription outbox and delivery figures. One
//! implementation for both backends: the SQL uses `$N` placeholders, which SQLite accepts too,
//! and the one macro below expands it for each store type.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::StoreResult;

/// One webhook POST and what came back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookPost {
    /// A stable id (a UUID) the console and the JSON routes address it by.
    pub id: String,
    pub at: DateTime<Utc>,
    pub url: String,
    /// The subscriptions whose notifications the POST carried.
    pub subscription_ids: Vec<String>,
    pub notification_ids: Vec<String>,
    pub latency_ms: i64,
    /// `delivered` or `retry`, as the attempt was recorded.
    pub outcome: String,
    pub request_headers: Vec<(String, String)>,
    /// The body as sent, cut at the cap.
    pub request_body: Vec<u8>,
    /// The body's full size: larger than `request_body.len()` when it was cut.
    pub request_body_size: i64,
    pub response_status: Option<u16>,
    pub response_headers: Vec<(String, String)>,
    pub response_body: Vec<u8>,
    pub response_body_size: i64,
    /// Why no answer came back (timeout, connection refused, …).
    pub error: Option<String>,
}

impl WebhookPost {
    /// The POST without its bodies (sizes kept): what a live view needs, at a fraction of the
    /// memory.
    pub fn without_bodies(&self) -> WebhookPost {
        WebhookPost {
            request_body: Vec::new(),
            response_body: Vec::new(),
            ..self.clone()
        }
    }
}

/// The store's part for the console (a supertrait of [`crate::Store`]).
#[async_trait]
pub trait ConsoleStore {
    /// Records POSTs (each linked to its subscriptions) in one transaction.
    async fn record_webhook_posts(&self, posts: &[WebhookPost]) -> StoreResult<()>;
    /// POSTs newest first, each with its position: those of `subscription_id` (every POST with
    /// `None`) recorded before position `before`, at most `limit`.
    async fn webhook_posts_page(
        &self,
        subscription_id: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<(i64, WebhookPost)>>;
    async fn webhook_post(&self, id: &str) -> StoreResult<Option<WebhookPost>>;
    /// Deletes POSTs made before `cutoff`; returns how many.
    async fn purge_webhook_posts(&self, cutoff: DateTime<Utc>) -> StoreResult<u64>;
    /// Notifications waiting in the outbox, per subscription (those with none are left out).
    async fn outbox_counts(&self) -> StoreResult<Vec<(String, u64)>>;
    /// Each subscription's latest delivered attempt (among the attempts still kept).
    async fn last_deliveries(&self) -> StoreResult<Vec<(String, DateTime<Utc>)>>;
}

const OUTBOX_COUNTS: &str =
    "SELECT subscription_id, COUNT(*) AS n FROM outbox GROUP BY subscription_id";
const LAST_DELIVERIES: &str = "SELECT subscription_id, MAX(at_ns) AS at_ns FROM delivery_attempts \
    WHERE outcome = 'delivered' GROUP BY subscription_id";

const COLUMNS: &str = "p.seq, p.id, p.at_ns, p.url, p.subscription_ids, p.notification_ids, \
    p.latency_ms, p.outcome, p.request_headers, p.request_body, p.request_body_size, \
    p.response_status, p.response_headers, p.response_body, p.response_body_size, p.error";

const INSERT: &str = "INSERT INTO webhook_posts (id, at_ns, url, subscription_ids, \
    notification_ids, latency_ms, outcome, request_headers, request_body, request_body_size, \
    response_status, response_headers, response_body, response_body_size, error) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING seq";

const LINK: &str =
    "INSERT INTO webhook_post_subscriptions (subscription_id, post_seq) VALUES ($1, $2)";

fn page_sql(by_subscription: bool) -> String {
    if by_subscription {
        format!(
            "SELECT {COLUMNS} FROM webhook_post_subscriptions s JOIN webhook_posts p ON p.seq = s.post_seq \
             WHERE s.subscription_id = $1 AND s.post_seq < $2 ORDER BY s.post_seq DESC LIMIT $3"
        )
    } else {
        format!(
            "SELECT {COLUMNS} FROM webhook_posts p WHERE p.seq < $1 ORDER BY p.seq DESC LIMIT $2"
        )
    }
}

/// Purges in slices so a large purge never holds the writer long.
const PURGE_LINKS: &str = "DELETE FROM webhook_post_subscriptions WHERE post_seq IN \
    (SELECT seq FROM webhook_posts WHERE at_ns < $1 ORDER BY seq LIMIT 10000)";
const PURGE_POSTS: &str = "DELETE FROM webhook_posts WHERE seq IN \
    (SELECT seq FROM webhook_posts WHERE at_ns < $1 ORDER BY seq LIMIT 10000)";

fn headers_json(h: &[(String, String)]) -> String {
    serde_json::to_string(h).unwrap_or_else(|_| "[]".into())
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> crate::StoreError {
    crate::StoreError::Corrupt(format!("webhook post {what}: {e}"))
}

macro_rules! impl_post_store {
    ($store:ty, $row:ty, writer: $writer:ident, reader: $reader:ident) => {
        impl $store {
            fn webhook_post_from_row(r: &$row) -> StoreResult<(i64, WebhookPost)> {
                use sqlx::Row;
                let json = |col: &str| -> StoreResult<String> { Ok(r.try_get::<String, _>(col)?) };
                Ok((
                    r.try_get("seq")?,
                    WebhookPost {
                        id: r.try_get("id")?,
                        at: crate::sqlite::from_ns(r.try_get("at_ns")?),
                        url: r.try_get("url")?,
                        subscription_ids: serde_json::from_str(&json("subscription_ids")?)
                            .map_err(|e| corrupt("subscription ids", e))?,
                        notification_ids: serde_json::from_str(&json("notification_ids")?)
                            .map_err(|e| corrupt("notification ids", e))?,
                        latency_ms: r.try_get("latency_ms")?,
                        outcome: r.try_get("outcome")?,
                        request_headers: serde_json::from_str(&json("request_headers")?)
                            .map_err(|e| corrupt("request headers", e))?,
                        request_body: r.try_get("request_body")?,
                        request_body_size: r.try_get("request_body_size")?,
                        response_status: r
                            .try_get::<Option<i64>, _>("response_status")?
                            .and_then(|s| u16::try_from(s).ok()),
                        response_headers: serde_json::from_str(&json("response_headers")?)
                            .map_err(|e| corrupt("response headers", e))?,
                        response_body: r.try_get("response_body")?,
                        response_body_size: r.try_get("response_body_size")?,
                        error: r.try_get("error")?,
                    },
                ))
            }
        }

        #[async_trait]
        impl ConsoleStore for $store {
            async fn record_webhook_posts(&self, posts: &[WebhookPost]) -> StoreResult<()> {
                if posts.is_empty() {
                    return Ok(());
                }
                let mut tx = self.$writer.begin().await?;
                for p in posts {
                    let seq: i64 = sqlx::query_scalar(INSERT)
                        .bind(&p.id)
                        .bind(crate::sqlite::to_ns(p.at))
                        .bind(&p.url)
                        .bind(serde_json::to_string(&p.subscription_ids).unwrap_or_default())
                        .bind(serde_json::to_string(&p.notification_ids).unwrap_or_default())
                        .bind(p.latency_ms)
                        .bind(&p.outcome)
                        .bind(headers_json(&p.request_headers))
                        .bind(&p.request_body)
                        .bind(p.request_body_size)
                        .bind(p.response_status.map(i64::from))
                        .bind(headers_json(&p.response_headers))
                        .bind(&p.response_body)
                        .bind(p.response_body_size)
                        .bind(&p.error)
                        .fetch_one(&mut *tx)
                        .await?;
                    let mut subs: Vec<&String> = p.subscription_ids.iter().collect();
                    subs.sort();
                    subs.dedup();
                    for s in subs {
                        sqlx::query(LINK)
                            .bind(s)
                            .bind(seq)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                tx.commit().await?;
                Ok(())
            }

            async fn webhook_posts_page(
                &self,
                subscription_id: Option<&str>,
                before: Option<i64>,
                limit: u32,
            ) -> StoreResult<Vec<(i64, WebhookPost)>> {
                let sql = page_sql(subscription_id.is_some());
                let mut q = sqlx::query(&sql);
                if let Some(s) = subscription_id {
                    q = q.bind(s);
                }
                let rows = q
                    .bind(before.unwrap_or(i64::MAX))
                    .bind(i64::from(limit))
                    .fetch_all(&self.$reader)
                    .await?;
                rows.iter().map(Self::webhook_post_from_row).collect()
            }

            async fn webhook_post(&self, id: &str) -> StoreResult<Option<WebhookPost>> {
                let sql = format!("SELECT {COLUMNS} FROM webhook_posts p WHERE p.id = $1");
                let row = sqlx::query(&sql)
                    .bind(id)
                    .fetch_optional(&self.$reader)
                    .await?;
                row.as_ref()
                    .map(|r| Self::webhook_post_from_row(r).map(|(_, p)| p))
                    .transpose()
            }

            async fn purge_webhook_posts(&self, cutoff: DateTime<Utc>) -> StoreResult<u64> {
                let mut total = 0;
                loop {
                    let mut tx = self.$writer.begin().await?;
                    sqlx::query(PURGE_LINKS)
                        .bind(crate::sqlite::to_ns(cutoff))
                        .execute(&mut *tx)
                        .await?;
                    let n = sqlx::query(PURGE_POSTS)
                        .bind(crate::sqlite::to_ns(cutoff))
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    tx.commit().await?;
                    total += n;
                    if n < 10_000 {
                        return Ok(total);
                    }
                }
            }

            async fn outbox_counts(&self) -> StoreResult<Vec<(String, u64)>> {
                use sqlx::Row;
                let rows = sqlx::query(OUTBOX_COUNTS).fetch_all(&self.$reader).await?;
                rows.iter()
                    .map(|r| {
                        let n: i64 = r.try_get("n")?;
                        Ok((r.try_get("subscription_id")?, n.max(0) as u64))
                    })
                    .collect()
            }

            async fn last_deliveries(&self) -> StoreResult<Vec<(String, DateTime<Utc>)>> {
                use sqlx::Row;
                let rows = sqlx::query(LAST_DELIVERIES)
                    .fetch_all(&self.$reader)
                    .await?;
                rows.iter()
                    .map(|r| {
                        Ok((
                            r.try_get("subscription_id")?,
                            crate::sqlite::from_ns(r.try_get("at_ns")?),
                        ))
                    })
                    .collect()
            }
        }
    };
}

impl_post_store!(crate::SqliteStore, sqlx::sqlite::SqliteRow, writer: writer, reader: reader);
impl_post_store!(crate::PostgresStore, sqlx::postgres::PgRow, writer: pool, reader: pool);
