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
//! - `GET /_callhook/subscriptions` — every subscription of every tenant with its delivery
//!   state (endpoint standing, queued notifications, last delivery);
//!   `DELETE /_callhook/subscriptions/{id}` removes one with its queued notifications;
//! - `GET /_callhook/posts` and `GET /_callhook/subscriptions/{id}/posts` — the webhook POSTs
//!   made, newest first (`limit`, `before`, `@odata.nextLink`); `GET /_callhook/posts/{id}` one
//!   with its request and response in full, `…/request/body` and `…/response/body` the bodies
//!   as raw bytes; `POST /_callhook/posts/{id}/replay` sends the same request again;
//! - `/_callhook/admin/…` — tenants, apps, secrets, permissions, users and consent (`admin.rs`).
//!
//! The console (`console/`) calls the same functions as these routes for its actions.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{middleware, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use callhook_store::WebhookPost;

use crate::error::{GraphError, GraphResult};
use crate::AppState;

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/subscriptions", get(http_subscriptions))
        .route(
            "/subscriptions/{id}",
            axum::routing::delete(http_delete_subscription),
        )
        .route("/subscriptions/{id}/posts", get(http_subscription_posts))
        .route("/posts", get(http_posts))
        .route("/posts/{id}", get(http_post))
        .route("/posts/{id}/request/body", get(http_request_body))
        .route("/posts/{id}/response/body", get(http_response_body))
        .route("/posts/{id}/replay", post(http_replay))
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

/// Holds (`true`) or lets go (`false`) every delivery.
pub(crate) fn set_paused(state: &AppState, paused: bool) {
    state.notify.paused.store(paused, Ordering::Relaxed);
    if !paused {
        state.notify.wake.notify_one();
    }
}

async fn pause_delivery(State(state): State<AppState>) -> StatusCode {
    set_paused(&state, true);
    StatusCode::NO_CONTENT
}

async fn resume_delivery(State(state): State<AppState>) -> StatusCode {
    set_paused(&state, false);
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

/// The lifecycle events the emulator can send on demand.
pub(crate) const LIFECYCLE_EVENTS: [&str; 3] =
    ["reauthorizationRequired", "subscriptionRemoved", "missed"];

async fn fire_lifecycle(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> GraphResult<Response> {
    let req: LifecycleRequest = serde_json::from_slice(&body).map_err(|e| {
        GraphError::bad_request(format!("expected {{\"lifecycleEvent\": \"…\"}}: {e}"))
    })?;
    lifecycle(&state, &id, &req.lifecycle_event).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

fn subscription_not_found(id: &str) -> GraphError {
    GraphError::not_found(format!(
        "Subscription '{}' does not exist.",
        id.escape_default()
    ))
}

/// Queues lifecycle notification `event` for subscription `id` now.
pub(crate) async fn lifecycle(state: &AppState, id: &str, event: &str) -> GraphResult<()> {
    if !LIFECYCLE_EVENTS.contains(&event) {
        return Err(GraphError::bad_request(
            "lifecycleEvent: expected reauthorizationRequired, subscriptionRemoved or missed",
        ));
    }
    let mut sub = state
        .store
        .subscription_by_id(id)
        .await?
        .ok_or_else(|| subscription_not_found(id))?;
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
    Ok(())
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
    let a: Advance = serde_json::from_slice(&body).map_err(|e| {
        GraphError::bad_request(format!(
            "expected {{\"seconds\": n}} (or minutes, hours): {e}"
        ))
    })?;
    let total = a
        .seconds
        .checked_add(a.minutes.saturating_mul(60))
        .and_then(|s| s.checked_add(a.hours.saturating_mul(3600)));
    advance(&state, total).await?;
    clock(State(state)).await
}

/// Moves the manual clock forward by `seconds` (`None`: the sum overflowed).
pub(crate) async fn advance(state: &AppState, seconds: Option<i64>) -> GraphResult<()> {
    if !state.config.manual_clock {
        return Err(GraphError::new(
            StatusCode::CONFLICT,
            "ClockNotManual",
            "The server clock can only be moved when callhook runs with --clock manual.",
        ));
    }
    let total = seconds
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
    Ok(())
}

async fn clock(State(state): State<AppState>) -> GraphResult<Response> {
    Ok(Json(json!({
        "now": callhook_model::format_date_time(&state.clock.now()),
        "manual": state.config.manual_clock,
    }))
    .into_response())
}

/// Every subscription of every tenant with its delivery state, in (tenant, id) order.
pub(crate) async fn subscriptions_overview(state: &AppState) -> GraphResult<Vec<Value>> {
    let queued: HashMap<String, u64> = state.store.outbox_counts().await?.into_iter().collect();
    let delivered: HashMap<String, chrono::DateTime<chrono::Utc>> =
        state.store.last_deliveries().await?.into_iter().collect();
    let now = state.clock.now();
    let time = callhook_model::format_date_time;
    let mut out = Vec::new();
    for tenant in state.store.tenants().await? {
        let mut after: Option<String> = None;
        loop {
            let page = state
                .store
                .list_subscriptions(&tenant.id, None, after.as_deref(), 500)
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            for s in &page {
                let metrics = &state.notify.metrics;
                out.push(json!({
                    "id": s.id,
                    "tenantId": s.tenant_id,
                    "appId": s.app_id,
                    "resource": s.resource,
                    "changeType": s.change_type,
                    "notificationUrl": s.notification_url,
                    "lifecycleNotificationUrl": s.lifecycle_url,
                    "expirationDateTime": time(&s.expiration),
                    "authorizationExpirationDateTime": time(&s.authorized_until),
                    "includeResourceData": s.encryption.is_some(),
                    "endpointState": metrics.endpoint_standing(&s.notification_url, now),
                    "queued": queued.get(&s.id).copied().unwrap_or(0),
                    "lastDeliveryDateTime": delivered.get(&s.id).map(time),
                }));
            }
        }
    }
    Ok(out)
}

async fn http_subscriptions(State(state): State<AppState>) -> GraphResult<Response> {
    Ok(Json(json!({ "value": subscriptions_overview(&state).await? })).into_response())
}

/// Deletes subscription `id` (whatever its tenant) and its queued notifications.
pub(crate) async fn delete_subscription(state: &AppState, id: &str) -> GraphResult<()> {
    let sub = state
        .store
        .subscription_by_id(id)
        .await?
        .ok_or_else(|| subscription_not_found(id))?;
    if !state.store.delete_subscription(&sub.tenant_id, id).await? {
        return Err(subscription_not_found(id));
    }
    Ok(())
}

async fn http_delete_subscription(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> GraphResult<Response> {
    delete_subscription(&state, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A body as JSON: as text when it is UTF-8, else base64; with its full size and whether the
/// stored copy was cut.
fn body_json(body: &[u8], size: i64) -> Value {
    use base64::Engine as _;
    let mut v = json!({ "size": size, "truncated": (body.len() as i64) < size });
    match std::str::from_utf8(body) {
        Ok(text) => v["text"] = json!(text),
        Err(_) => v["base64"] = json!(base64::engine::general_purpose::STANDARD.encode(body)),
    }
    v
}

/// A kept POST as the JSON routes show it; bodies only with `full`.
pub(crate) fn post_json(p: &WebhookPost, full: bool) -> Value {
    let mut request = json!({ "method": "POST", "url": p.url, "headers": p.request_headers });
    let mut response = json!({ "status": p.response_status, "headers": p.response_headers });
    if full {
        request["body"] = body_json(&p.request_body, p.request_body_size);
        response["body"] = body_json(&p.response_body, p.response_body_size);
    }
    json!({
        "id": p.id,
        "at": callhook_model::format_date_time(&p.at),
        "subscriptionIds": p.subscription_ids,
        "notificationIds": p.notification_ids,
        "outcome": p.outcome,
        "latencyMs": p.latency_ms,
        "error": p.error,
        "request": request,
        "response": response,
    })
}

/// A page of kept POSTs (of `subscription`, or all) before position `before`, newest first, and
/// the position the next page starts before, if there is one.
pub(crate) async fn posts_page_rows(
    state: &AppState,
    subscription: Option<&str>,
    before: Option<i64>,
    limit: u32,
) -> GraphResult<(Vec<WebhookPost>, Option<i64>)> {
    // One more than the page: whether a next page exists.
    let mut rows = state
        .store
        .webhook_posts_page(subscription, before, limit + 1)
        .await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next = if more {
        rows.last().map(|(seq, _)| *seq)
    } else {
        None
    };
    Ok((rows.into_iter().map(|(_, p)| p).collect(), next))
}

async fn posts_page(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    subscription: Option<&str>,
    q: &AttemptsPage,
) -> GraphResult<Response> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let (rows, next) = posts_page_rows(state, subscription, q.before, limit).await?;
    let mut body = json!({ "value": rows.iter().map(|p| post_json(p, false)).collect::<Vec<_>>() });
    if let Some(before) = next {
        let path = match subscription {
            Some(id) => format!(
                "subscriptions/{}/posts",
                percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC)
            ),
            None => "posts".into(),
        };
        body["@odata.nextLink"] = json!(format!(
            "{}/_callhook/{path}?limit={limit}&before={before}",
            state.base_url(headers)
        ));
    }
    Ok(Json(body).into_response())
}

async fn http_posts(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    Query(q): Query<AttemptsPage>,
) -> GraphResult<Response> {
    posts_page(&state, &headers, None, &q).await
}

async fn http_subscription_posts(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<AttemptsPage>,
) -> GraphResult<Response> {
    posts_page(&state, &headers, Some(&id), &q).await
}

/// A kept POST, or Graph's 404.
pub(crate) async fn find_post(state: &AppState, id: &str) -> GraphResult<WebhookPost> {
    state.store.webhook_post(id).await?.ok_or_else(|| {
        GraphError::not_found(format!("POST '{}' is not kept.", id.escape_default()))
    })
}

async fn http_post(State(state): State<AppState>, Path(id): Path<String>) -> GraphResult<Response> {
    Ok(Json(post_json(&find_post(&state, &id).await?, true)).into_response())
}

/// A stored body as raw bytes, with the content type its headers named.
fn raw_body(headers: &[(String, String)], body: Vec<u8>) -> Response {
    let content_type = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        .and_then(|(_, v)| axum::http::HeaderValue::from_str(v).ok())
        .unwrap_or(axum::http::HeaderValue::from_static(
            "application/octet-stream",
        ));
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn http_request_body(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> GraphResult<Response> {
    let p = find_post(&state, &id).await?;
    Ok(raw_body(&p.request_headers, p.request_body))
}

async fn http_response_body(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> GraphResult<Response> {
    let p = find_post(&state, &id).await?;
    Ok(raw_body(&p.response_headers, p.response_body))
}

/// Sends a kept POST's request body again to its URL, now; the new POST is kept (outcome
/// `replay`) and returned. A receiver sees the same notification ids again, as after a retry.
pub(crate) async fn replay(state: &AppState, id: &str) -> GraphResult<WebhookPost> {
    let original = find_post(state, id).await?;
    if (original.request_body.len() as i64) < original.request_body_size {
        return Err(GraphError::bad_request(
            "Only part of this POST's body was kept (--post-capture-bytes), so it cannot be sent again.",
        ));
    }
    let url = reqwest::Url::parse(&original.url)
        .map_err(|_| GraphError::bad_request("The POST's URL is not a URL."))?;
    if let Some(cause) = callhook_notify::http::target_refusal(&url, &state.notify.config) {
        return Err(GraphError::bad_request(format!(
            "The notification URL's address is not allowed as a webhook target: {cause}"
        )));
    }
    let at = state.clock.now();
    let started = std::time::Instant::now();
    let (exchange, outcome) = callhook_notify::delivery::post_json(
        &state.notify.client,
        &original.url,
        original.request_body.clone(),
        state.notify.config.first_timeout,
        state
            .notify
            .config
            .post_body_cap
            .max(original.request_body.len()),
    )
    .await;
    let error = outcome
        .err()
        .map(|e| callhook_notify::http::cause(&e).to_string());
    let post = exchange.into_post(
        &original.url,
        original.subscription_ids,
        original.notification_ids,
        at,
        started.elapsed(),
        "replay",
        error,
    );
    state
        .store
        .record_webhook_posts(std::slice::from_ref(&post))
        .await?;
    let _ = state
        .notify
        .metrics
        .posts_made
        .send(std::sync::Arc::new(post.without_bodies()));
    Ok(post)
}

async fn http_replay(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> GraphResult<Response> {
    let post = replay(&state, &id).await?;
    Ok((StatusCode::CREATED, Json(post_json(&post, true))).into_response())
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
