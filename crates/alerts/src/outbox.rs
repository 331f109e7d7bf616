//! Alerts and their deliveries in the collector's database (tables `alerts` and
//! `alert_deliveries`, migrations 0150 of `crates/collector/migrations`). Every statement is
//! written once for SQLite and PostgreSQL, as in the collector's store.
//!
//! Invariants: an alert and its delivery rows are written in one transaction, after the
//! cooldown check and under the unique `dedup_key`, so an alert is recorded once and every
//! channel learns of it; a delivery is marked delivered only after its channel accepted it, so
//! a restart re-sends exactly the deliveries that never succeeded.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::Row;

use callhook_collector::store::Store;

use crate::AlertError;

type Result<T> = std::result::Result<T, AlertError>;

/// One alert as channels receive it (the generic webhook's JSON body).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// Receivers deduplicate by this id (a crash between a POST and its bookkeeping can send
    /// an alert twice to one channel).
    pub alert_id: String,
    pub tenant_id: String,
    pub rule_name: String,
    /// `emergency`, `poor-stream-rate`, `poor-streak`, `direct-routing-failures`.
    pub rule_type: String,
    pub severity: String,
    pub alert_title: String,
    pub summary: String,
    /// What the alert is about: a building, subnet, user, gateway, or the call.
    pub scope: String,
    /// Raised from call records or report rows rather than from a real-time event.
    pub late: bool,
    pub alert_raised_at: DateTime<Utc>,
    /// Name/value pairs shown in order (Teams renders them as a fact set).
    pub facts: Vec<(String, String)>,
    /// The measures or the event behind the alert.
    pub details: Value,
    /// One alert per key, ever.
    #[serde(skip)]
    pub dedup_key: String,
}

/// What [`Outbox::raise`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Raised {
    /// Recorded, deliveries queued.
    New,
    /// The same alert (dedup key) was raised before.
    Duplicate,
    /// The rule alerted for this scope within its cooldown.
    CoolingDown,
}

/// A delivery claimed for an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub alert_id: String,
    pub channel: String,
    /// Attempts before this one.
    pub attempts: i64,
}

/// An alert with the state of its deliveries, for `callhook alerts list` and the dashboard.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertStatus {
    #[serde(flatten)]
    pub alert: Alert,
    pub deliveries: Vec<DeliveryStatus>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryStatus {
    pub channel: String,
    pub attempts: i64,
    pub delivered_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// The collector's store seen by the alerts.
#[derive(Clone, Debug)]
pub struct Outbox {
    pub store: Store,
}

impl Outbox {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Records `alert` and a delivery per channel unless its dedup key was seen or the rule
    /// alerted for the same scope less than `cooldown` before `alert_raised_at`.
    pub async fn raise(
        &self,
        alert: &Alert,
        channels: &[String],
        cooldown: chrono::Duration,
    ) -> Result<Raised> {
        let json = serde_json::to_string(alert).map_err(|e| AlertError::Other(e.to_string()))?;
        let a = alert;
        with_pool!(&self.store.db, pool => {
            let mut tx = pool.begin().await?;
            let recent: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM alerts WHERE tenant_id = $1 AND rule = $2 AND scope = $3 \
                 AND raised_at > $4",
            )
            .bind(&a.tenant_id)
            .bind(&a.rule_name)
            .bind(&a.scope)
            .bind(a.alert_raised_at - cooldown)
            .fetch_one(&mut *tx)
            .await?;
            let seen: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM alerts WHERE dedup_key = $1")
                .bind(&a.dedup_key)
                .fetch_one(&mut *tx)
                .await?;
            if seen > 0 {
                return Ok(Raised::Duplicate);
            }
            if recent > 0 {
                return Ok(Raised::CoolingDown);
            }
            let inserted = sqlx::query(
                "INSERT INTO alerts (id, tenant_id, rule, kind, scope, dedup_key, severity, title, late, \
                 raised_at, alert_json) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                 ON CONFLICT (dedup_key) DO NOTHING",
            )
            .bind(&a.alert_id)
            .bind(&a.tenant_id)
            .bind(&a.rule_name)
            .bind(&a.rule_type)
            .bind(&a.scope)
            .bind(&a.dedup_key)
            .bind(&a.severity)
            .bind(&a.alert_title)
            .bind(a.late)
            .bind(a.alert_raised_at)
            .bind(&json)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                // Another collector process raised it a moment ago.
                return Ok(Raised::Duplicate);
            }
            for ch in channels {
                sqlx::query(
                    "INSERT INTO alert_deliveries (alert_id, channel, attempts, due_at) VALUES ($1, $2, 0, $3)",
                )
                .bind(&a.alert_id)
                .bind(ch)
                .bind(a.alert_raised_at)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(Raised::New)
        })
    }

    /// Claims up to `limit` deliveries due at `now` for one attempt each: their `due_at` moves
    /// to `now + lease`, so another process (or this one after a restart) retries them only if
    /// this attempt never reports back.
    pub async fn claim(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
        limit: i64,
    ) -> Result<Vec<Delivery>> {
        let lock = if self.store.is_postgres() {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE alert_deliveries SET due_at = $1, attempts = attempts + 1 \
             WHERE (alert_id, channel) IN (SELECT alert_id, channel FROM alert_deliveries \
             WHERE delivered_at IS NULL AND due_at <= $2 ORDER BY due_at LIMIT $3{lock}) \
             RETURNING alert_id, channel, attempts"
        );
        with_pool!(&self.store.db, pool => {
            let rows = sqlx::query(&sql)
                .bind(now + lease)
                .bind(now)
                .bind(limit)
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(Delivery {
                        alert_id: r.try_get("alert_id")?,
                        channel: r.try_get("channel")?,
                        attempts: r.try_get::<i64, _>("attempts")? - 1,
                    })
                })
                .collect()
        })
    }

    /// The earliest time a delivery is due, if any is waiting.
    pub async fn next_due(&self) -> Result<Option<DateTime<Utc>>> {
        with_pool!(&self.store.db, pool => {
            Ok(sqlx::query_scalar(
                "SELECT MIN(due_at) FROM alert_deliveries WHERE delivered_at IS NULL",
            )
            .fetch_one(pool)
            .await?)
        })
    }

    pub async fn delivered(&self, d: &Delivery, now: DateTime<Utc>) -> Result<()> {
        with_pool!(&self.store.db, pool => {
            sqlx::query(
                "UPDATE alert_deliveries SET delivered_at = $3, last_error = NULL \
                 WHERE alert_id = $1 AND channel = $2",
            )
            .bind(&d.alert_id)
            .bind(&d.channel)
            .bind(now)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    pub async fn failed(&self, d: &Delivery, error: &str, due: DateTime<Utc>) -> Result<()> {
        with_pool!(&self.store.db, pool => {
            sqlx::query(
                "UPDATE alert_deliveries SET due_at = $3, last_error = $4 \
                 WHERE alert_id = $1 AND channel = $2",
            )
            .bind(&d.alert_id)
            .bind(&d.channel)
            .bind(due)
            .bind(error)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    pub async fn alert(&self, id: &str) -> Result<Option<Alert>> {
        let row: Option<(String, String)> = with_pool!(&self.store.db, pool => {
            sqlx::query_as("SELECT alert_json, dedup_key FROM alerts WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        row.map(|(json, key)| {
            let mut a: Alert =
                serde_json::from_str(&json).map_err(|e| AlertError::Other(e.to_string()))?;
            a.dedup_key = key;
            Ok(a)
        })
        .transpose()
    }

    /// The latest alerts (newest first) raised at or after `since`, with their deliveries.
    pub async fn list(&self, since: DateTime<Utc>, limit: i64) -> Result<Vec<AlertStatus>> {
        let rows: Vec<(String, String)> = with_pool!(&self.store.db, pool => {
            sqlx::query_as(
                "SELECT alert_json, dedup_key FROM alerts WHERE raised_at >= $1 \
                 ORDER BY raised_at DESC, id LIMIT $2",
            )
            .bind(since)
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        let mut out = Vec::new();
        for (json, key) in rows {
            let mut alert: Alert =
                serde_json::from_str(&json).map_err(|e| AlertError::Other(e.to_string()))?;
            alert.dedup_key = key;
            let deliveries = with_pool!(&self.store.db, pool => {
                let rows = sqlx::query(
                    "SELECT channel, attempts, delivered_at, last_error FROM alert_deliveries \
                     WHERE alert_id = $1 ORDER BY channel",
                )
                .bind(&alert.alert_id)
                .fetch_all(pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(DeliveryStatus {
                            channel: r.try_get("channel")?,
                            attempts: r.try_get("attempts")?,
                            delivered_at: r.try_get("delivered_at")?,
                            last_error: r.try_get("last_error")?,
                        })
                    })
                    .collect::<Result<Vec<_>>>()?
            });
            out.push(AlertStatus { alert, deliveries });
        }
        Ok(out)
    }
}
