//! The console's pages and the actions they post.

use std::convert::Infallible;
use std::sync::atomic::Ordering;

use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use callhook_web::charts::{self, Bar};

use super::{back, outcome, Action, Page};
use crate::controls;
use crate::error::GraphResult;
use crate::AppState;

pub(super) const TEMPLATES: &[(&str, &str)] = &[
    ("login.html", include_str!("templates/login.html")),
    ("overview.html", include_str!("templates/overview.html")),
    ("tenants.html", include_str!("templates/tenants.html")),
    (
        "subscriptions.html",
        include_str!("templates/subscriptions.html"),
    ),
    (
        "subscription.html",
        include_str!("templates/subscription.html"),
    ),
    ("outbox.html", include_str!("templates/outbox.html")),
    ("posts.html", include_str!("templates/posts.html")),
    ("post.html", include_str!("templates/post.html")),
    ("tail.html", include_str!("templates/tail.html")),
    ("clock.html", include_str!("templates/clock.html")),
    ("simulator.html", include_str!("templates/simulator.html")),
];

/// `?flash=…&kind=…` after an action.
#[derive(Deserialize, Default)]
pub(super) struct Flash {
    flash: Option<String>,
    kind: Option<String>,
}

impl Flash {
    pub(super) fn into_context(self, mut ctx: Value) -> Value {
        if let Some(f) = self.flash {
            ctx["flash"] = json!(f);
            ctx["flash_kind"] = json!(if self.kind.as_deref() == Some("error") {
                "error"
            } else {
                "ok"
            });
        }
        ctx
    }
}

/// A page, or the error that kept it from rendering (shown as Graph's error, like the routes').
type PageResult = GraphResult<Response>;

fn render(state: &AppState, template: &str, active: &str, page: &Page, ctx: Value) -> Response {
    state
        .console()
        .site
        .render(template, active, Some(&page.0), ctx)
}

/// A page with its `chart`.
fn render_charts(
    state: &AppState,
    template: &str,
    active: &str,
    page: &Page,
    ctx: Value,
    chart: &charts::Svg,
) -> Response {
    state.console().site.render_with_charts(
        template,
        active,
        Some(&page.0),
        ctx,
        &[("chart", chart)],
    )
}

fn time(t: &chrono::DateTime<chrono::Utc>) -> String {
    callhook_model::format_date_time(t)
}

pub(super) async fn login_page(
    State(state): State<AppState>,
    Query(flash): Query<Flash>,
) -> Response {
    let console = state.console();
    let ctx = flash.into_context(json!({
        "login_token": console.sessions.login_token(chrono::Utc::now()),
    }));
    console.site.render("login.html", "", None, ctx)
}

pub(super) async fn overview(
    State(state): State<AppState>,
    page: Page,
    Query(flash): Query<Flash>,
) -> PageResult {
    let tenants = state.store.tenants().await?;
    let mut apps = 0;
    for t in &tenants {
        apps += state.store.apps(&t.id).await?.len();
    }
    let subs = controls::subscriptions_overview(&state).await?;
    let queued = state.store.outbox_len().await?;
    let recent = state.store.webhook_posts_page(None, None, 60).await?;
    let m = &state.notify.metrics;
    let ctx = json!({
        "tenants": tenants.len(),
        "apps": apps,
        "subscriptions": subs.len(),
        "queued": queued,
        "paused": state.notify.paused.load(Ordering::Relaxed),
        "delivered": m.delivered.load(Ordering::Relaxed),
        "retried": m.retried.load(Ordering::Relaxed),
        "dropped": m.dropped.load(Ordering::Relaxed),
        "now": time(&state.clock.now()),
        "manual_clock": state.config.manual_clock,
    });
    let chart = latency_chart("Latency of the latest POSTs", &recent);
    Ok(render_charts(
        &state,
        "overview.html",
        "",
        &page,
        flash.into_context(ctx),
        &chart,
    ))
}

/// Latency per POST, oldest first, coloured by outcome.
fn latency_chart(title: &str, posts: &[(i64, callhook_store::WebhookPost)]) -> charts::Svg {
    let bars: Vec<Bar> = posts
        .iter()
        .rev()
        .map(|(_, p)| Bar {
            label: format!("{} {}", time(&p.at), p.outcome),
            value: p.latency_ms as f64,
            class: match (p.outcome.as_str(), p.response_status) {
                ("delivered", _) => "ok",
                (_, Some(_)) => "warn",
                _ => "bad",
            },
        })
        .collect();
    charts::bars(title, "ms", &bars)
}

pub(super) async fn tenants(State(state): State<AppState>, page: Page) -> PageResult {
    let store = state.store.as_ref();
    let mut tenants = Vec::new();
    for t in store.tenants().await? {
        let mut apps = Vec::new();
        for app in store.apps(&t.id).await? {
            apps.push(crate::admin::app_json(store, &app).await?);
        }
        let mut v = crate::admin::tenant_json(&t);
        v["apps"] = json!(apps);
        tenants.push(v);
    }
    Ok(render(
        &state,
        "tenants.html",
        "/tenants",
        &page,
        json!({ "tenants": tenants }),
    ))
}

pub(super) async fn subscriptions(
    State(state): State<AppState>,
    page: Page,
    Query(flash): Query<Flash>,
) -> PageResult {
    let subs = controls::subscriptions_overview(&state).await?;
    let ctx = json!({ "subscriptions": subs, "events": controls::LIFECYCLE_EVENTS });
    Ok(render(
        &state,
        "subscriptions.html",
        "/subscriptions",
        &page,
        flash.into_context(ctx),
    ))
}

pub(super) async fn subscription(
    State(state): State<AppState>,
    page: Page,
    Path(id): Path<String>,
    Query(flash): Query<Flash>,
) -> PageResult {
    let all = controls::subscriptions_overview(&state).await?;
    let Some(sub) = all.into_iter().find(|s| s["id"] == json!(id)) else {
        return Ok(back(
            "/subscriptions",
            &format!("Subscription '{id}' does not exist (any more)."),
            false,
        ));
    };
    let posts = state.store.webhook_posts_page(Some(&id), None, 100).await?;
    let attempts = state.store.delivery_attempts(&id, 100).await?;
    let ctx = json!({
        "sub": sub,
        "events": controls::LIFECYCLE_EVENTS,
        "posts": posts.iter().map(|(_, p)| controls::post_json(p, false)).collect::<Vec<_>>(),
        "attempts": attempts.iter().map(|a| json!({
            "at": time(&a.at), "url": a.url, "notifications": a.notification_ids.len(),
            "status": a.status, "latencyMs": a.latency_ms, "outcome": a.outcome, "error": a.error,
        })).collect::<Vec<_>>(),
    });
    let chart = latency_chart("Latency of this subscription's POSTs", &posts);
    Ok(render_charts(
        &state,
        "subscription.html",
        "/subscriptions",
        &page,
        flash.into_context(ctx),
        &chart,
    ))
}

fn subscription_path(id: &str) -> String {
    format!(
        "/subscriptions/{}",
        percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC)
    )
}

pub(super) async fn fire_lifecycle(
    State(state): State<AppState>,
    Path(id): Path<String>,
    action: Action,
) -> Response {
    let event = action.form.get("event").cloned().unwrap_or_default();
    let result = controls::lifecycle(&state, &id, &event).await;
    // A removed subscription is gone once told so: its page would soon be no more.
    let path = if event == "subscriptionRemoved" && result.is_ok() {
        "/subscriptions".to_string()
    } else {
        subscription_path(&id)
    };
    outcome(&path, &format!("{event} queued."), result)
}

pub(super) async fn delete_subscription(
    State(state): State<AppState>,
    Path(id): Path<String>,
    _action: Action,
) -> Response {
    match controls::delete_subscription(&state, &id).await {
        Ok(()) => back(
            "/subscriptions",
            &format!("Subscription {id} deleted."),
            true,
        ),
        Err(e) => back(&subscription_path(&id), &e.message, false),
    }
}

pub(super) async fn outbox(
    State(state): State<AppState>,
    page: Page,
    Query(flash): Query<Flash>,
) -> PageResult {
    let subs = controls::subscriptions_overview(&state).await?;
    let mut queued: Vec<Value> = subs
        .into_iter()
        .filter(|s| s["queued"].as_u64().unwrap_or(0) > 0)
        .collect();
    queued.sort_by_key(|s| std::cmp::Reverse(s["queued"].as_u64().unwrap_or(0)));
    let ctx = json!({
        "queued": state.store.outbox_len().await?,
        "paused": state.notify.paused.load(Ordering::Relaxed),
        "node": &*state.notify.node_id,
        "subscriptions": queued,
    });
    Ok(render(
        &state,
        "outbox.html",
        "/outbox",
        &page,
        flash.into_context(ctx),
    ))
}

pub(super) async fn pause(State(state): State<AppState>, _action: Action) -> Response {
    controls::set_paused(&state, true);
    back(
        "/outbox",
        "Delivery paused: notifications keep queueing.",
        true,
    )
}

pub(super) async fn resume(State(state): State<AppState>, _action: Action) -> Response {
    controls::set_paused(&state, false);
    back("/outbox", "Delivery resumed.", true)
}

#[derive(Deserialize)]
pub(super) struct PostsQuery {
    before: Option<i64>,
}

pub(super) async fn posts(
    State(state): State<AppState>,
    page: Page,
    Query(q): Query<PostsQuery>,
) -> PageResult {
    let (rows, next) = controls::posts_page_rows(&state, None, q.before, 100).await?;
    let ctx = json!({
        "posts": rows.iter().map(|p| controls::post_json(p, false)).collect::<Vec<_>>(),
        "next": next,
    });
    Ok(render(&state, "posts.html", "/posts", &page, ctx))
}

/// A body for the page: pretty JSON when it parses, else the text (or a note for binary).
fn body_view(body: &[u8], size: i64) -> Value {
    let pretty = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok());
    let text = match (pretty, std::str::from_utf8(body)) {
        (Some(p), _) => p,
        (None, Ok(t)) => t.to_string(),
        (None, Err(_)) => format!("({} bytes that are not text)", body.len()),
    };
    json!({ "text": text, "size": size, "kept": body.len(), "truncated": (body.len() as i64) < size })
}

async fn post_context(state: &AppState, id: &str) -> GraphResult<Value> {
    let p = controls::find_post(state, id).await?;
    let mut v = controls::post_json(&p, false);
    v["request"]["body"] = body_view(&p.request_body, p.request_body_size);
    v["response"]["body"] = body_view(&p.response_body, p.response_body_size);
    v["encrypted"] = json!(encrypted_items(&p.request_body).next().is_some());
    Ok(json!({ "post": v, "replayable": (p.request_body.len() as i64) >= p.request_body_size }))
}

/// The `encryptedContent` of each item of a notification body.
fn encrypted_items(body: &[u8]) -> impl Iterator<Item = (usize, Value)> {
    let items = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("value").and_then(Value::as_array).cloned())
        .unwrap_or_default();
    items
        .into_iter()
        .enumerate()
        .filter_map(|(i, item)| item.get("encryptedContent").cloned().map(|c| (i, c)))
}

pub(super) async fn post(
    State(state): State<AppState>,
    page: Page,
    Path(id): Path<String>,
    Query(flash): Query<Flash>,
) -> PageResult {
    let ctx = post_context(&state, &id).await?;
    Ok(render(
        &state,
        "post.html",
        "/posts",
        &page,
        flash.into_context(ctx),
    ))
}

/// Decrypts the POST's rich items with the private key the form carries. The key is used for
/// this answer only: never stored, never logged.
pub(super) async fn decrypt(
    State(state): State<AppState>,
    Path(id): Path<String>,
    action: Action,
) -> PageResult {
    let page = Page(action.session);
    let mut ctx = post_context(&state, &id).await?;
    let p = controls::find_post(&state, &id).await?;
    let pem = action.form.get("key").map(String::as_str).unwrap_or("");
    let decrypted: Vec<Value> = match callhook_client::DecryptionKey::from_pkcs8(pem.trim().as_bytes()) {
        Err(e) => vec![json!({ "error": format!("The private key could not be read: {e}") })],
        Ok(key) => encrypted_items(&p.request_body)
            .map(|(i, content)| {
                let result = serde_json::from_value::<callhook_client::EncryptedContent>(content)
                    .map_err(|e| e.to_string())
                    .and_then(|c| c.decrypt_json(&key).map_err(|e| e.to_string()));
                match result {
                    Ok(v) => json!({ "item": i, "json": serde_json::to_string_pretty(&v).unwrap_or_default() }),
                    Err(e) => json!({ "item": i, "error": e }),
                }
            })
            .collect(),
    };
    ctx["decrypted"] = json!(decrypted);
    Ok(render(&state, "post.html", "/posts", &page, ctx))
}

pub(super) async fn replay(
    State(state): State<AppState>,
    Path(id): Path<String>,
    _action: Action,
) -> Response {
    match controls::replay(&state, &id).await {
        Ok(p) => {
            let status = p
                .response_status
                .map_or_else(|| "no answer".to_string(), |s| s.to_string());
            let path = format!("/posts/{}", p.id);
            back(&path, &format!("Sent again: {status}."), p.error.is_none())
        }
        Err(e) => back(&format!("/posts/{id}"), &e.message, false),
    }
}

pub(super) async fn tail(State(state): State<AppState>, page: Page) -> PageResult {
    let recent = state.store.webhook_posts_page(None, None, 20).await?;
    let ctx = json!({
        "posts": recent.iter().map(|(_, p)| controls::post_json(p, false)).collect::<Vec<_>>(),
    });
    Ok(render(&state, "tail.html", "/tail", &page, ctx))
}

/// Server-sent events: one `post` event per webhook POST this node makes from now on.
pub(super) async fn tail_events(State(state): State<AppState>, _page: Page) -> Response {
    let rx = state.notify.metrics.posts_made.subscribe();
    let stream = futures_stream(rx);
    super::no_store(
        Sse::new(stream)
            .keep_alive(KeepAlive::default())
            .into_response(),
    )
}

/// The broadcast as a stream of events; a listener that fell behind skips what it missed.
fn futures_stream(
    rx: tokio::sync::broadcast::Receiver<std::sync::Arc<callhook_store::WebhookPost>>,
) -> impl futures_util::Stream<Item = Result<Event, Infallible>> {
    futures_util::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(p) => {
                    let data = controls::post_json(&p, false).to_string();
                    return Some((Ok(Event::default().event("post").data(data)), rx));
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
}

pub(super) async fn clock(
    State(state): State<AppState>,
    page: Page,
    Query(flash): Query<Flash>,
) -> PageResult {
    let ctx = json!({
        "now": time(&state.clock.now()),
        "manual": state.config.manual_clock,
    });
    Ok(render(
        &state,
        "clock.html",
        "/clock",
        &page,
        flash.into_context(ctx),
    ))
}

pub(super) async fn advance_clock(State(state): State<AppState>, action: Action) -> Response {
    let number = |k: &str| -> Option<i64> {
        let v = action.form.get(k).map(|s| s.trim()).unwrap_or("");
        if v.is_empty() {
            Some(0)
        } else {
            v.parse().ok()
        }
    };
    let seconds = match (number("seconds"), number("minutes"), number("hours")) {
        (Some(s), Some(m), Some(h)) => s
            .checked_add(m.saturating_mul(60))
            .and_then(|t| t.checked_add(h.saturating_mul(3600))),
        _ => {
            return back(
                "/clock",
                "Seconds, minutes and hours are whole numbers.",
                false,
            )
        }
    };
    let result = controls::advance(&state, seconds).await;
    outcome("/clock", "The clock moved.", result)
}
