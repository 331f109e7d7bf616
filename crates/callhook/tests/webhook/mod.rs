//! A webhook receiver for the notification tests: a real axum server on 127.0.0.1:0 that answers
//! the validation handshake and hands every notification POST to the test through a channel,
//! recorded *before* it answers (so once the server has settled a POST, the test can see it).
//! Its answers to notifications are scripted: fail the next N, stall the next N, or fail all.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::sync::mpsc;

/// One notification POST as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Post {
    pub path: String,
    pub content_type: Option<String>,
    pub body: Value,
    /// The status the receiver answered (or was about to answer, when it stalled).
    pub status: u16,
    /// The receiver held its answer for longer than the server waits.
    pub stalled: bool,
}

impl Post {
    /// The items of `{"value":[…]}`.
    pub fn items(&self) -> Vec<Value> {
        self.body["value"].as_array().cloned().unwrap_or_default()
    }

    /// Answered 2xx in time: the server counts these as delivered.
    pub fn acknowledged(&self) -> bool {
        (200..300).contains(&self.status) && !self.stalled
    }
}

struct Ctl {
    tx: mpsc::UnboundedSender<Post>,
    fail_next: AtomicUsize,
    fail_status: AtomicU16,
    fail_all: AtomicBool,
    stall_next: AtomicUsize,
    stall_for: Mutex<Duration>,
    validations: AtomicUsize,
}

/// Takes one from `n` if it is above zero.
fn take_one(n: &AtomicUsize) -> bool {
    n.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_sub(1))
        .is_ok()
}

async fn receive(
    State(ctl): State<Arc<Ctl>>,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    if let Some(token) = q.get("validationToken") {
        ctl.validations.fetch_add(1, Ordering::SeqCst);
        return (
            StatusCode::OK,
            [("content-type", "text/plain; charset=utf-8")],
            token.clone(),
        )
            .into_response();
    }
    let (status, stall) = if ctl.fail_all.load(Ordering::SeqCst) {
        (500, None)
    } else if take_one(&ctl.fail_next) {
        (ctl.fail_status.load(Ordering::SeqCst), None)
    } else if take_one(&ctl.stall_next) {
        (202, ctl.stall_for.lock().ok().map(|d| *d))
    } else {
        (202, None)
    };
    let post = Post {
        path: uri.path().to_string(),
        content_type: headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        status,
        stalled: stall.is_some(),
    };
    let _ = ctl.tx.send(post);
    if let Some(d) = stall {
        tokio::time::sleep(d).await;
    }
    StatusCode::from_u16(status)
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
        .into_response()
}

pub struct Webhook {
    pub base: String,
    posts: mpsc::UnboundedReceiver<Post>,
    ctl: Arc<Ctl>,
    /// Every POST taken from the channel so far, in arrival order.
    pub seen: Vec<Post>,
}

impl Webhook {
    pub async fn start() -> Webhook {
        let (tx, posts) = mpsc::unbounded_channel();
        let ctl = Arc::new(Ctl {
            tx,
            fail_next: AtomicUsize::new(0),
            fail_status: AtomicU16::new(500),
            fail_all: AtomicBool::new(false),
            stall_next: AtomicUsize::new(0),
            stall_for: Mutex::new(Duration::from_secs(4)),
            validations: AtomicUsize::new(0),
        });
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(ctl.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let addr = listener.local_addr().expect("receiver addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Webhook {
            base: format!("http://{addr}"),
            posts,
            ctl,
            seen: Vec::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Answers the next `n` notification POSTs with `status`.
    pub fn fail_next(&self, n: usize, status: u16) {
        self.ctl.fail_status.store(status, Ordering::SeqCst);
        self.ctl.fail_next.store(n, Ordering::SeqCst);
    }

    /// Answers every notification POST with 500 while `on`.
    pub fn fail_all(&self, on: bool) {
        self.ctl.fail_all.store(on, Ordering::SeqCst);
    }

    /// Holds the answer to the next `n` notification POSTs for `d` (then 202).
    pub fn stall_next(&self, n: usize, d: Duration) {
        if let Ok(mut s) = self.ctl.stall_for.lock() {
            *s = d;
        }
        self.ctl.stall_next.store(n, Ordering::SeqCst);
    }

    pub fn validations(&self) -> usize {
        self.ctl.validations.load(Ordering::SeqCst)
    }

    /// Takes every POST already received (no waiting) into `seen`; returns how many were new.
    pub fn drain(&mut self) -> usize {
        let mut n = 0;
        while let Ok(p) = self.posts.try_recv() {
            self.seen.push(p);
            n += 1;
        }
        n
    }

    /// Receives POSTs until `done(&seen)` holds. Whenever nothing arrives for 200 ms, `tick` runs
    /// (tests use it to move the server's clock so retries fall due). Panics after `limit`.
    pub async fn wait_until(
        &mut self,
        limit: Duration,
        mut tick: impl FnMut(),
        done: impl Fn(&[Post]) -> bool,
    ) {
        let deadline = Instant::now() + limit;
        loop {
            self.drain();
            if done(&self.seen) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "gave up after {limit:?}; received so far: {:#?}",
                self.seen
            );
            match tokio::time::timeout(Duration::from_millis(200), self.posts.recv()).await {
                Ok(Some(p)) => self.seen.push(p),
                Ok(None) => panic!("receiver channel closed"),
                Err(_) => tick(),
            }
        }
    }

    /// The first POST to a path starting with `prefix`, waiting up to `limit` for it.
    pub async fn first_to(&mut self, limit: Duration, prefix: &str) -> Post {
        self.wait_until(
            limit,
            || {},
            |posts| posts.iter().any(|p| p.path.starts_with(prefix)),
        )
        .await;
        self.seen
            .iter()
            .find(|p| p.path.starts_with(prefix))
            .cloned()
            .expect("a POST seen")
    }

    /// Every item of every POST seen, in arrival order, with the POST that carried it.
    pub fn items(&self) -> Vec<(Value, &Post)> {
        self.seen
            .iter()
            .flat_map(|p| p.items().into_iter().map(move |i| (i, p)))
            .collect()
    }

    /// Notification ids in the order they were first seen (redeliveries left out).
    pub fn first_seen(&self) -> Vec<Value> {
        let mut ids = std::collections::HashSet::new();
        self.items()
            .into_iter()
            .filter(|(i, _)| ids.insert(i["id"].as_str().unwrap_or_default().to_string()))
            .map(|(i, _)| i)
            .collect()
    }
}

/// Distinct notification ids among `posts`.
pub fn distinct_ids(posts: &[Post]) -> usize {
    posts
        .iter()
        .flat_map(Post::items)
        .filter_map(|i| i["id"].as_str().map(str::to_string))
        .collect::<std::collections::HashSet<_>>()
        .len()
}

/// The record id named by a notification's `resource`.
pub fn record_of(item: &Value) -> String {
    item["resource"]
        .as_str()
        .and_then(|r| r.strip_prefix("communications/callRecords/"))
        .unwrap_or_default()
        .to_string()
}
