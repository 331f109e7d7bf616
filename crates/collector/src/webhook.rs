//! Webhook mode: the listener (`/notifications`, `/lifecycle`, `/metrics`, `/healthz`) and the
//! subscriptions behind it (created with a random `clientState` each, renewed before expiry,
//! reauthorized, recreated when removed).
//!
//! A change notification is checked (subscription known, `clientState`, validation tokens when
//! present) and its record queued in the store **before** the 202 is sent, so a crash after
//! the answer loses nothing; the fetchers take it from there.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use callhook_client::{ChangeNotification, ChangeNotificationCollection, LifecycleEvent};
use chrono::Utc;
use reqwest::Method;
use serde_json::json;
use tokio::sync::watch;

use crate::collector::Collector;
use crate::error::{CollectError, Result};
use crate::graph::Answer;
use crate::store::SubscriptionRow;

pub const CALL_RECORDS_RESOURCE: &str = "communications/callRecords";
/// Graph's longest lifetime of a call-records subscription: 4,230 minutes.
pub const MAX_LIFETIME_MINUTES: i64 = 4230;
/// A subscription is renewed when less than this much of its life is left.
const RENEW_WHEN_LEFT: chrono::Duration = chrono::Duration::hours(24);

/// Binds the listener on `addr` and returns its actual address (port 0 picks one) with the
/// server task, for callers that need the address before creating subscriptions.
pub async fn bind(
    collector: Arc<Collector>,
    addr: SocketAddr,
    mut stop: watch::Receiver<bool>,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| CollectError::Config(format!("cannot listen on {addr}: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| CollectError::Config(e.to_string()))?;
    let extra = collector.options.extra_routes.clone();
    let app = match extra {
        Some(more) => router(collector).merge(more),
        None => router(collector),
    };
    Ok((
        local,
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    while !*stop.borrow() {
                        if stop.changed().await.is_err() {
                            break;
                        }
                    }
                })
                .await;
        }),
    ))
}

pub fn router(collector: Arc<Collector>) -> Router {
    Router::new()
        .route("/notifications", post(notifications))
        .route("/lifecycle", post(lifecycle))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(collector)
}

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain")], body.into()).into_response()
}

async fn metrics(State(c): State<Arc<Collector>>) -> Response {
    let depth = c.store.queue_depth().await.map(|d| d.0).unwrap_or(-1);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        c.metrics.render(depth),
    )
        .into_response()
}

/// Why a notification was refused.
#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    UnknownSubscription,
    ClientState,
}

/// The subscription row a notification claims to come from, if its `clientState` matches.
fn check(
    subs: &[SubscriptionRow],
    n: &ChangeNotification,
) -> std::result::Result<SubscriptionRow, Refusal> {
    // A notification can arrive before the creation's answer told us the id: then the row is
    // still pending and only its clientState identifies it.
    let found = subs
        .iter()
        .find(|s| s.subscription_id.as_deref() == Some(n.subscription_id.as_str()))
        .or_else(|| {
            subs.iter().find(|s| {
                s.subscription_id.is_none()
                    && n.client_state.as_deref() == Some(s.client_state.as_str())
            })
        });
    let Some(sub) = found else {
        return Err(Refusal::UnknownSubscription);
    };
    if n.verify_client_state(&sub.client_state).is_err() {
        return Err(Refusal::ClientState);
    }
    Ok(sub.clone())
}

/// Reads a POST body with the subscriptions to check it against: the validation handshake is
/// answered, a malformed body refused (`400`), a store failure a `503` Graph retries.
async fn read(
    c: &Collector,
    query: Option<&str>,
    body: &[u8],
) -> std::result::Result<(ChangeNotificationCollection, Vec<SubscriptionRow>), Box<Response>> {
    if let Some(h) = query.and_then(callhook_client::handshake_response) {
        return Err(Box::new(text(
            StatusCode::from_u16(h.status).unwrap_or(StatusCode::OK),
            h.body,
        )));
    }
    let delivery = ChangeNotificationCollection::from_slice(body).map_err(|e| {
        tracing::warn!(error = %e, "refused a malformed notification body");
        Box::new(refuse(
            c,
            StatusCode::BAD_REQUEST,
            "malformed notification body",
        ))
    })?;
    let subs = c.store.subscriptions().await.map_err(|e| {
        tracing::error!(error = %e, "cannot check a notification");
        Box::new(text(StatusCode::SERVICE_UNAVAILABLE, "store unavailable"))
    })?;
    Ok((delivery, subs))
}

fn refuse(c: &Collector, status: StatusCode, why: &str) -> Response {
    c.metrics
        .notifications_refused
        .fetch_add(1, Ordering::Relaxed);
    tracing::warn!(reason = why, "refused a notification");
    text(status, why.to_string())
}

async fn notifications(
    State(c): State<Arc<Collector>>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let (delivery, subs) = match read(&c, query.as_deref(), &body).await {
        Ok(d) => d,
        Err(answer) => return *answer,
    };
    if delivery.validation_tokens.is_some() || delivery.has_encrypted_content() {
        // Only the emergency subscriptions carry resource data; anything else is refused.
        return match crate::emergency::receive(&c, &delivery).await {
            Ok(()) => text(StatusCode::ACCEPTED, ""),
            Err((status, why)) => refuse(&c, status, why),
        };
    }
    let mut ids = Vec::new();
    let mut refused = None;
    for n in &delivery.value {
        match check(&subs, n) {
            Err(r) => refused = Some(r),
            Ok(sub) => {
                let id = n
                    .resource_data
                    .as_ref()
                    .and_then(|r| r.id.clone())
                    .or_else(|| {
                        n.resource
                            .as_deref()
                            .and_then(|r| r.rsplit('/').next())
                            .map(|s| {
                                s.trim_start_matches("callRecords('")
                                    .trim_end_matches("')")
                                    .to_string()
                            })
                    });
                match id {
                    Some(id) if !id.is_empty() && sub.tenant_id == c.tenant_id() => ids.push(id),
                    _ => refused = Some(Refusal::UnknownSubscription),
                }
            }
        }
    }
    if ids.is_empty() {
        return match refused {
            Some(Refusal::ClientState) => {
                refuse(&c, StatusCode::FORBIDDEN, "clientState does not match")
            }
            Some(Refusal::UnknownSubscription) => {
                refuse(&c, StatusCode::FORBIDDEN, "unknown subscription")
            }
            None => text(StatusCode::ACCEPTED, ""),
        };
    }
    if let Some(r) = refused {
        c.metrics
            .notifications_refused
            .fetch_add(1, Ordering::Relaxed);
        tracing::warn!(reason = ?r, "refused part of a delivery");
    }
    // Durable before the answer: Graph does not redeliver what we acknowledged.
    if let Err(e) = c.store.enqueue(c.tenant_id(), &ids, Utc::now()).await {
        tracing::error!(error = %e, "cannot queue notifications; Graph will retry");
        return text(StatusCode::SERVICE_UNAVAILABLE, "store unavailable");
    }
    c.metrics
        .notifications_received
        .fetch_add(ids.len() as u64, Ordering::Relaxed);
    c.wake.notify_waiters();
    text(StatusCode::ACCEPTED, "")
}

async fn lifecycle(
    State(c): State<Arc<Collector>>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let (delivery, subs) = match read(&c, query.as_deref(), &body).await {
        Ok(d) => d,
        Err(answer) => return *answer,
    };
    let mut accepted = false;
    for n in &delivery.value {
        let Ok(sub) = check(&subs, n) else { continue };
        accepted = true;
        c.metrics.lifecycle_events.fetch_add(1, Ordering::Relaxed);
        let event = n.lifecycle_event.clone();
        let me = c.clone();
        // Answer at once; act in the background (Graph expects a quick 202).
        tokio::spawn(async move {
            if let Err(e) = on_lifecycle(&me, &sub, event).await {
                tracing::error!(error = %e, "handling a lifecycle event failed");
                let _ = me
                    .store
                    .set_state(me.tenant_id(), "subscription:error", &e.to_string())
                    .await;
            }
            me.lifecycle_done.send_modify(|n| *n += 1);
        });
    }
    if accepted || delivery.value.is_empty() {
        text(StatusCode::ACCEPTED, "")
    } else {
        refuse(
            &c,
            StatusCode::FORBIDDEN,
            "unknown subscription or clientState",
        )
    }
}

async fn on_lifecycle(
    c: &Arc<Collector>,
    sub: &SubscriptionRow,
    event: Option<LifecycleEvent>,
) -> Result<()> {
    let id = sub.subscription_id.clone().unwrap_or_default();
    match event {
        Some(LifecycleEvent::ReauthorizationRequired) => {
            tracing::info!(subscription = %id, "reauthorizing");
            match c
                .graph
                .send(
                    Method::POST,
                    &format!("/v1.0/subscriptions/{id}/reauthorize"),
                    None,
                )
                .await?
            {
                Answer::NotFound => recreate(c, sub).await?,
                // Reauthorized; renewing too keeps the subscription far from expiry.
                _ => renew(c, sub).await?,
            }
        }
        Some(LifecycleEvent::SubscriptionRemoved) => {
            tracing::info!(subscription = %id, "subscription removed; recreating and backfilling");
            recreate(c, sub).await?;
            c.sweep_now.notify_one();
        }
        Some(LifecycleEvent::Missed) => {
            tracing::info!(subscription = %id, "notifications missed; backfilling");
            c.sweep_now.notify_one();
        }
        other => tracing::warn!(event = ?other, "unknown lifecycle event ignored"),
    }
    c.store
        .set_state(
            c.tenant_id(),
            "subscription:last_lifecycle",
            &Utc::now().to_rfc3339(),
        )
        .await
}

async fn recreate(c: &Arc<Collector>, old: &SubscriptionRow) -> Result<()> {
    if let Some(id) = &old.subscription_id {
        // Gone already, most likely; a leftover would only send duplicates.
        let _ = c
            .graph
            .send(Method::DELETE, &format!("/v1.0/subscriptions/{id}"), None)
            .await;
    }
    c.store.delete_subscription(&old.client_state).await?;
    if let (Some(policy), Some(r)) = (
        crate::emergency::policy_of(c, &old.resource),
        c.emergency.as_ref(),
    ) {
        return crate::emergency::create(c, r, &policy).await.map(|_| ());
    }
    create(c).await.map(|_| ())
}

fn public_base(c: &Collector) -> Result<String> {
    c.public_base.get().cloned().ok_or_else(|| {
        CollectError::Config("webhook mode needs --listen (and --public-url)".into())
    })
}

/// Creates the call-records subscription (`created,updated`) and stores it.
pub async fn create(c: &Arc<Collector>) -> Result<SubscriptionRow> {
    create_subscription(
        c,
        CALL_RECORDS_RESOURCE,
        "created,updated",
        "v1.0",
        MAX_LIFETIME_MINUTES,
        json!({}),
    )
    .await
}

/// Creates a subscription to `resource` on Graph `version` and stores it (first as pending,
/// so a notification arriving before the answer is recognised by its clientState). `extra`
/// adds members such as a rich subscription's certificate.
pub async fn create_subscription(
    c: &Arc<Collector>,
    resource: &str,
    change_type: &str,
    version: &str,
    lifetime_minutes: i64,
    extra: serde_json::Value,
) -> Result<SubscriptionRow> {
    let base = public_base(c)?;
    let mut row = SubscriptionRow {
        client_state: callhook_crypto::random_secret(24)
            .map_err(|e| CollectError::Other(format!("generating a clientState: {e}")))?,
        tenant_id: c.tenant_id().to_string(),
        subscription_id: None,
        resource: resource.into(),
        change_type: change_type.into(),
        notification_url: format!("{base}/notifications"),
        expiration_date_time: None,
        status: "pending".into(),
    };
    c.store.put_subscription(&row).await?;
    let expiry = Utc::now() + chrono::Duration::minutes(lifetime_minutes - 1);
    let mut body = json!({
        "changeType": row.change_type,
        "notificationUrl": row.notification_url,
        "lifecycleNotificationUrl": format!("{base}/lifecycle"),
        "resource": row.resource,
        "expirationDateTime": expiry.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "clientState": row.client_state,
    });
    if let (Some(b), Some(x)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(x.clone());
    }
    let created = match c
        .graph
        .send(
            Method::POST,
            &format!("/{version}/subscriptions"),
            Some(&body),
        )
        .await
    {
        Ok(Answer::Json(v)) => v,
        Ok(_) => {
            c.store.delete_subscription(&row.client_state).await?;
            return Err(CollectError::Other(
                "creating the subscription: empty answer".into(),
            ));
        }
        Err(e) => {
            c.store.delete_subscription(&row.client_state).await?;
            return Err(explain_creation_error(e, &row.notification_url));
        }
    };
    row.subscription_id = created["id"].as_str().map(str::to_string);
    row.expiration_date_time = created["expirationDateTime"]
        .as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&Utc));
    row.status = "active".into();
    c.store.put_subscription(&row).await?;
    tracing::info!(resource, subscription = ?row.subscription_id, "subscribed");
    Ok(row)
}

/// Graph's 400 on creation mostly means its validation request did not reach us.
fn explain_creation_error(e: CollectError, url: &str) -> CollectError {
    match e {
        CollectError::Graph { status: 400, message, .. } if message.to_ascii_lowercase().contains("validation") => {
            CollectError::Config(format!(
                "Graph could not validate the notification URL {url}: {message}. Check that --public-url reaches this \
                 collector's --listen address from Graph (HTTPS with a trusted certificate for real Graph)"
            ))
        }
        other => other,
    }
}

/// Extends a subscription to Graph's maximum lifetime.
async fn renew(c: &Arc<Collector>, sub: &SubscriptionRow) -> Result<()> {
    let Some(id) = &sub.subscription_id else {
        return Ok(());
    };
    let lifetime = if crate::emergency::is_emergency(&sub.resource) {
        crate::emergency::MAX_LIFETIME_MINUTES
    } else {
        MAX_LIFETIME_MINUTES
    };
    let expiry = Utc::now() + chrono::Duration::minutes(lifetime - 1);
    let body =
        json!({"expirationDateTime": expiry.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)});
    match c
        .graph
        .send(
            Method::PATCH,
            &format!("/v1.0/subscriptions/{id}"),
            Some(&body),
        )
        .await?
    {
        Answer::NotFound => {
            recreate(c, sub).await?;
            c.sweep_now.notify_one();
        }
        Answer::Json(v) => {
            let mut row = sub.clone();
            row.expiration_date_time = v["expirationDateTime"]
                .as_str()
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                .map(|d| d.with_timezone(&Utc))
                .or(Some(expiry));
            c.store.put_subscription(&row).await?;
        }
        Answer::NoContent => {}
    }
    Ok(())
}

/// Makes sure the tenant has a live call-records subscription: keeps a stored one Graph still
/// knows (renewing it when due), otherwise creates one and sweeps for what was missed meanwhile.
pub async fn ensure_subscriptions(c: &Arc<Collector>) -> Result<()> {
    let mut have = false;
    for sub in c.store.subscriptions().await? {
        if sub.tenant_id != c.tenant_id() || sub.resource != CALL_RECORDS_RESOURCE {
            continue;
        }
        let alive = match &sub.subscription_id {
            Some(id) => matches!(
                c.graph
                    .send(Method::GET, &format!("/v1.0/subscriptions/{id}"), None)
                    .await?,
                Answer::Json(_)
            ),
            None => false,
        };
        if !alive || have {
            c.store.delete_subscription(&sub.client_state).await?;
            continue;
        }
        have = true;
        renew(c, &sub).await?;
    }
    if !have {
        create(c).await?;
        c.sweep_now.notify_one();
    }
    crate::emergency::ensure(c).await
}

/// Renews subscriptions whose remaining life is short; runs until `stop`.
pub async fn renew_loop(c: Arc<Collector>, mut stop: watch::Receiver<bool>) -> Result<()> {
    loop {
        match c.store.subscriptions().await {
            Ok(subs) => {
                for sub in subs {
                    let due = sub
                        .expiration_date_time
                        .is_none_or(|e| e - Utc::now() < RENEW_WHEN_LEFT);
                    if sub.tenant_id == c.tenant_id() && sub.status == "active" && due {
                        if let Err(e) = renew(&c, &sub).await {
                            tracing::error!(error = %e, "renewing a subscription failed");
                            let _ = c
                                .store
                                .set_state(c.tenant_id(), "subscription:error", &e.to_string())
                                .await;
                        }
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "reading subscriptions failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(600)) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return Ok(());
        }
    }
}
