//! The emulator's own controls, under the reserved prefix `/_callhook/` (ingest key required),
//! and Prometheus metrics at `/metrics`.
//!
//! - `GET  /_callhook/subscriptions/{id}/attempts` — the subscription's delivery attempts, newest
//!   first, `limit` (default 100, at most 1,000) a page, the next page at `@odata.nextLink`;
//! - `POST /_callhook/subscriptions/{id}/lifecycle` `{"lifecycleEvent": "…"}` — send a lifecycle
//!   notification now (`reauthorizationRequired`, `subscriptionRemoved`, `missed`);
//! - `POST /_callhook/clock/advance` `{"seconds": n}` — move the server clock (`--clock manual` only);
//! - `POST /_callhook/keys/rotate` — a new signing key for access and validation tokens; older
//!   keys stay in the JWKS, so tokens already issued keep verifying;
//! - `POST /_callhook/delivery/pause`, `POST /_callhook/delivery/resume`, `GET /_callhook/delivery`
//!   — hold every delivery (notifications keep queueing, e.g. to test a consumer against a burst),
//!   let it go again, and see the state and the queue length;
//! - `/_callhook/admin/…` — tenants, apps, secrets, permissions, users and consent (`admin.rs`).

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{middleware, Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::error::{GraphError, GraphResult};
use crate::AppState;

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/subscriptions/{id}/attempts", get(attempts))
        .route("/subscriptions/{id}/lifecycle", post(fire_lifecycle))
        .route("/clock/advance", post(advance_clock))
        .route("/clock", get(clock))
        .route("/keys/rotate", post(rotate_keys))
        .route("/delivery", get(delivery_state))
        .route("/delivery/pause", post(pause_delivery))
        .route("/delivery/resume", post(resume_delivery))
        .merge(crate::admin::routes())
        .layer(middleware::from_fn_with_state(
            state,
            crate::ingest::require_ingest_key,
        ))
}

async fn rotate_keys(State(state): State<AppState>) -> GraphResult<Response> {
    let kid = state.rotate_signing_key().await.map_err(|e| {
        tracing::error!(error = %e, "rotating the signing key failed");
        GraphError::internal()
    })?;
    Ok(Json(json!({ "kid": kid })).into_response())
}

async fn delivery_state(State(state): State<AppState>) -> GraphResult<Response> {
    let queued = state.store.outbox_len().await?;
    Ok(Json(json!({
        "paused": state.notify.paused.load(Ordering::Relaxed),
        "queued": queued,
        "node": &*state.notify.node_id,
    }))
    .into_response())
}

async fn pause_delivery(State(state): State<AppState>) -> StatusCode {
    state.notify.paused.store(true, Ordering::Relaxed);
    StatusCode::NO_CONTENT
}

async fn resume_delivery(State(state): State<AppState>) -> StatusCode {
    state.notify.paused.store(false, Ordering::Relaxed);
    state.notify.wake.notify_one();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct AttemptsPage {
    limit: Option<u32>,
    /// Attempts recorded before this position (the previous page's last one).
    before: Option<i64>,
}

async fn attempts(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<AttemptsPage>,
) -> GraphResult<Response> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    // One more than the page: whether a next page exists.
    let mut rows = state
        .store
        .delivery_attempts_page(&id, q.before, limit + 1)
        .await?;
    let next = (rows.len() > limit as usize).then(|| {
        rows.truncate(limit as usize);
        rows.last().map(|(seq, _)| *seq)
    });
    let value: Vec<_> = rows
        .iter()
        .map(|(_, a)| {
            json!({
                "at": callhook_model::format_date_time(&a.at),
                "url": a.url,
                "notificationIds": a.notification_ids,
                "status": a.status,
                "latencyMs": a.latency_ms,
                "outcome": a.outcome,
                "error": a.error,
            })
        })
        .collect();
    let mut body = json!({ "value": value });
    if let Some(Some(before)) = next {
        let id = percent_encoding::utf8_percent_encode(&id, percent_encoding::NON_ALPHANUMERIC);
        body["@odata.nextLink"] = json!(format!(
            "{}/_callhook/subscriptions/{id}/attempts?limit={limit}&before={before}",
            state.base_url(&headers)
        ));
    }
    Ok(Json(body).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LifecycleRequest {
    lifecycle_event: String,
}

async fn fire_lifecycle(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> GraphResult<Response> {
    let req: LifecycleRequest = serde_json::from_slice(&body).map_err(|e| {
        GraphError::bad_request(format!("expected {{\"lifecycleEvent\": \"…\"}}: {e}"))
    })?;
    let event = req.lifecycle_event.as_str();
    if !matches!(
        event,
        "reauthorizationRequired" | "subscriptionRemoved" | "missed"
    ) {
        return Err(GraphError::bad_request(
            "lifecycleEvent: expected reauthorizationRequired, subscriptionRemoved or missed",
        ));
    }
    let mut sub = state.store.subscription_by_id(&id).await?.ok_or_else(|| {
        GraphError::not_found(format!(
            "Subscription '{}' does not exist.",
            id.escape_default()
        ))
    })?;
    if sub.lifecycle_url.is_none() {
        return Err(GraphError::bad_request(
            "The subscription has no lifecycleNotificationUrl, so it cannot receive lifecycle notifications.",
        ));
    }
    let now = state.clock.now();
    if event == "subscriptionRemoved" {
        // Removed means no more change notifications; the subscription itself is deleted once
        // the lifecycle notification has been delivered.
        sub.authorized_until = now;
        state.store.update_subscription(&sub).await?;
    }
    state
        .store
        .enqueue_lifecycle(&sub.tenant_id, &sub.id, event, now)
        .await?;
    state.notify.wake.notify_one();
    Ok(StatusCode::ACCEPTED.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    #[serde(default)]
    seconds: i64,
    #[serde(default)]
    minutes: i64,
    #[serde(default)]
    hours: i64,
}

async fn advance_clock(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> GraphResult<Response> {
    if !state.config.manual_clock {
        return Err(GraphError::new(
            StatusCode::CONFLICT,
            "ClockNotManual",
            "The server clock can only be moved when callhook runs with --clock manual.",
        ));
    }
    let a: Advance = serde_json::from_slice(&body).map_err(|e| {
        GraphError::bad_request(format!(
            "expected {{\"seconds\": n}} (or minutes, hours): {e}"
        ))
    })?;
    let total = a
        .seconds
        .checked_add(a.minutes.saturating_mul(60))
        .and_then(|s| s.checked_add(a.hours.saturating_mul(3600)))
        .filter(|s| (0..=10 * 365 * 86_400).contains(s))
        .ok_or_else(|| {
            GraphError::bad_request("the clock only moves forward, by at most ten years")
        })?;
    state
        .clock
        .try_advance(chrono::Duration::seconds(total))
        .map_err(|e| {
            GraphError::bad_request(format!("{e}: the server could not serve requests"))
        })?;
    state.notify.wake.notify_one();
    clock(State(state)).await
}

async fn clock(State(state): State<AppState>) -> GraphResult<Response> {
    Ok(Json(json!({
        "now": callhook_model::format_date_time(&state.clock.now()),
        "manual": state.config.manual_clock,
    }))
    .into_response())
}

/// `GET /metrics` in Prometheus' text format.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let m = &state.notify.metrics;
    let queued = state.store.outbox_len().await.unwrap_or(0);
    let mut out = String::new();
    let counter = |out: &mut String, name: &str, help: &str, v: u64| {
        let _ = write!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}\n"
        );
    };
    let _ = write!(
        out,
        "# HELP callhook_notifications_queued Notifications waiting in the outbox.\n# TYPE callhook_notifications_queued gauge\ncallhook_notifications_queued {queued}\n"
    );
    counter(
        &mut out,
        "callhook_notifications_delivered_total",
        "Notifications delivered (2xx in time).",
        m.delivered.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "callhook_notifications_retried_total",
        "Notifications scheduled for another attempt.",
        m.retried.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "callhook_notifications_dropped_total",
        "Notifications given up.",
        m.dropped.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "callhook_webhook_posts_total",
        "Webhook POSTs made.",
        m.posts.load(Ordering::Relaxed),
    );
    let name = "callhook_notification_delivery_latency_seconds";
    let _ = write!(
        out,
        "# HELP {name} Time from queueing to delivery.\n# TYPE {name} histogram\n"
    );
    for (bound, bucket) in callhook_notify::delivery::LATENCY_BUCKETS_MS
        .iter()
        .zip(&m.latency_buckets)
    {
        let _ = writeln!(
            out,
            "{name}_bucket{{le=\"{}\"}} {}",
            *bound as f64 / 1000.0,
            bucket.load(Ordering::Relaxed)
        );
    }
    let count = m.latency_count.load(Ordering::Relaxed);
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
    let _ = writeln!(
        out,
        "{name}_sum {}",
        m.latency_sum_ms.load(Ordering::Relaxed) as f64 / 1000.0
    );
    let _ = writeln!(out, "{name}_count {count}");
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
}
