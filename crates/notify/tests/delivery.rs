//! The delivery engine against real HTTP receivers on loopback. Time that the engine waits on
//! (backoff, retry window, expiry) is moved with the server clock, so no test sleeps for it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use chrono::Utc;
use serde_json::Value;
use tokio::sync::{mpsc, Notify};

use callhook_notify::delivery::{DeliveryMetrics, Engine};
use callhook_notify::{Clock, NotifyConfig};
use callhook_store::{CallRecordWrite, SqliteStore, Store, SubscriptionRow};

/// What the receiver does with the next request.
#[derive(Clone, Copy)]
enum Answer {
    Status(u16),
    Stall(Duration),
}

#[derive(Clone)]
struct Receiver {
    script: Arc<Mutex<VecDeque<Answer>>>,
    seen: mpsc::UnboundedSender<Value>,
}

async fn receive(State(r): State<Receiver>, body: String) -> StatusCode {
    let answer = r
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(Answer::Status(202));
    let _ = r
        .seen
        .send(serde_json::from_str(&body).unwrap_or(Value::Null));
    match answer {
        Answer::Status(s) => StatusCode::from_u16(s).unwrap(),
        Answer::Stall(d) => {
            tokio::time::sleep(d).await;
            StatusCode::ACCEPTED
        }
    }
}

/// A webhook on 127.0.0.1 answering per `script` (then 202), and the bodies it received.
async fn receiver(script: Vec<Answer>) -> (String, mpsc::UnboundedReceiver<Value>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let state = Receiver {
        script: Arc::new(Mutex::new(script.into())),
        seen: tx,
    };
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), rx)
}

/// A loopback URL nobody listens on.
fn dead_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}/hook", l.local_addr().unwrap())
}

struct Rig {
    _dir: tempfile::TempDir,
    store: Arc<SqliteStore>,
    clock: Clock,
    wake: Arc<Notify>,
    metrics: Arc<DeliveryMetrics>,
    paused: Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Rig {
    async fn start(config: NotifyConfig) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("t.db")).await.unwrap());
        let clock = Clock::system();
        let wake = Arc::new(Notify::new());
        let metrics = Arc::new(DeliveryMetrics::default());
        let client = callhook_notify::http::webhook_client(&config).unwrap();
        let engine = Engine::new(
            store.clone(),
            client,
            Arc::new(config),
            clock.clone(),
            wake.clone(),
            metrics.clone(),
        );
        let paused = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let engine = engine.with_pause(paused.clone());
        let task = tokio::spawn(engine.run());
        Rig {
            _dir: dir,
            store,
            clock,
            wake,
            metrics,
            paused,
            task,
        }
    }

    async fn subscribe(&self, id: &str, url: &str, lifecycle: Option<&str>) {
        self.subscribe_in("tenant-1", id, url, lifecycle).await
    }

    async fn subscribe_in(&self, tenant: &str, id: &str, url: &str, lifecycle: Option<&str>) {
        let now = self.clock.now();
        let row = SubscriptionRow {
            id: id.into(),
            tenant_id: tenant.into(),
            app_id: format!("app-{id}"),
            resource_kind: "callRecords".into(),
            resource: "communications/callRecords".into(),
            change_type: "created,updated".into(),
            notify_created: true,
            notify_updated: true,
            participant_filter: vec![],
            notification_url: url.into(),
            lifecycle_url: lifecycle.map(String::from),
            client_state: Some(format!("state-{id}")),
            expiration: now + chrono::Duration::hours(48),
            authorized_until: now + chrono::Duration::hours(48),
            scope: None,
            created: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
            encryption: None,
            notification_url_app_id: None,
            body: "{}".into(),
        };
        self.store
            .create_subscription(
                &row,
                &[callhook_store::QuotaRule::per_tenant("callRecords", 100)],
            )
            .await
            .unwrap()
            .unwrap();
    }

    async fn ingest(&self, ids: &[&str]) {
        self.ingest_in("tenant-1", ids).await
    }

    async fn ingest_in(&self, tenant: &str, ids: &[&str]) {
        let recs: Vec<_> = ids
            .iter()
            .map(|id| CallRecordWrite {
                id: id.to_string(),
                start: Utc::now(),
                participant_ids: vec![],
                body: "{}".into(),
                sessions: "[]".into(),
                participants: "[]".into(),
            })
            .collect();
        self.store
            .put_call_records(tenant, &recs, self.clock.now())
            .await
            .unwrap();
        self.wake.notify_one();
    }

    /// Moves server time forward and lets the engine look again.
    fn advance(&self, by: chrono::Duration) {
        self.clock.advance(by);
        self.wake.notify_one();
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Value>) -> Value {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("a POST arrives")
        .expect("receiver alive")
}

fn resources(body: &Value) -> Vec<String> {
    body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["resource"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn ids(body: &Value) -> Vec<String> {
    body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_stored_record_is_posted_with_graphs_payload() {
    let rig = Rig::start(NotifyConfig::default()).await;
    let (url, mut rx) = receiver(vec![]).await;
    rig.subscribe("s1", &url, None).await;
    rig.ingest(&["rec-1"]).await;
    let body = next(&mut rx).await;
    let items = body["value"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    let n = &items[0];
    assert_eq!(n["subscriptionId"], "s1");
    assert_eq!(n["clientState"], "state-s1");
    assert_eq!(n["changeType"], "created");
    assert_eq!(n["resource"], "communications/callRecords/rec-1");
    assert_eq!(n["tenantId"], "tenant-1");
    assert_eq!(
        n["resourceData"]["@odata.type"],
        "#Microsoft.Graph.callRecord"
    );
    assert_eq!(
        n["resourceData"]["@odata.id"],
        "communications/callRecords/rec-1"
    );
    assert_eq!(n["resourceData"]["id"], "rec-1");
    assert!(n["subscriptionExpirationDateTime"]
        .as_str()
        .unwrap()
        .ends_with("+00:00"));
    assert!(
        body.get("validationTokens").is_none(),
        "basic notifications carry no tokens"
    );
    // Delivered means gone from the outbox.
    while rig.store.outbox_len().await.unwrap() > 0 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn failures_are_retried_with_the_same_ids_and_in_order() {
    let rig = Rig::start(NotifyConfig::default()).await;
    let (url, mut rx) = receiver(vec![Answer::Status(500), Answer::Status(429)]).await;
    rig.subscribe("s1", &url, None).await;
    rig.ingest(&["r1", "r2", "r3"]).await;
    let first = next(&mut rx).await;
    assert_eq!(
        resources(&first),
        [
            "communications/callRecords/r1",
            "communications/callRecords/r2",
            "communications/callRecords/r3"
        ]
    );
    rig.advance(chrono::Duration::minutes(20));
    let second = next(&mut rx).await;
    rig.advance(chrono::Duration::minutes(20));
    let third = next(&mut rx).await;
    assert_eq!(ids(&first), ids(&second));
    assert_eq!(
        ids(&first),
        ids(&third),
        "a redelivery carries the same notification ids"
    );
    // The delivery is recorded just after the receiver answers.
    let attempts = loop {
        let a = rig.store.delivery_attempts("s1", 10).await.unwrap();
        if a.len() == 3 {
            break a;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let outcomes: Vec<_> = attempts
        .iter()
        .map(|a| (a.outcome.as_str(), a.status))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("delivered", Some(202)),
            ("retry", Some(429)),
            ("retry", Some(500))
        ]
    );
}

#[tokio::test]
async fn a_receiver_that_stalls_past_the_timeout_gets_it_again() {
    let config = NotifyConfig {
        first_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let rig = Rig::start(config).await;
    let (url, mut rx) = receiver(vec![Answer::Stall(Duration::from_secs(2))]).await;
    rig.subscribe("s1", &url, None).await;
    rig.ingest(&["r1"]).await;
    let first = next(&mut rx).await;
    // The attempt is recorded as a retry once its timeout passes.
    loop {
        let a = rig.store.delivery_attempts("s1", 1).await.unwrap();
        if !a.is_empty() {
            assert_eq!(a[0].outcome, "retry");
            assert!(
                a[0].error.as_deref().unwrap_or("").contains("no answer"),
                "{:?}",
                a[0].error
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    rig.advance(chrono::Duration::minutes(5));
    let second = next(&mut rx).await;
    assert_eq!(ids(&first), ids(&second));
}

#[tokio::test]
async fn after_four_hours_of_failure_the_notification_is_dropped_and_missed_is_sent() {
    let rig = Rig::start(NotifyConfig::default()).await;
    let (lifecycle, mut life_rx) = receiver(vec![]).await;
    rig.subscribe("s1", &dead_url(), Some(&lifecycle)).await;
    rig.ingest(&["r1"]).await;
    // First attempt fails (nobody listens); wait until it is recorded.
    loop {
        if !rig
            .store
            .delivery_attempts("s1", 1)
            .await
            .unwrap()
            .is_empty()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    rig.advance(chrono::Duration::hours(5));
    let body = next(&mut life_rx).await;
    let n = &body["value"][0];
    assert_eq!(n["lifecycleEvent"], "missed");
    assert_eq!(n["subscriptionId"], "s1");
    assert_eq!(n["clientState"], "state-s1");
    assert!(n.get("resource").is_none() && n.get("changeType").is_none());
    let attempts = rig.store.delivery_attempts("s1", 10).await.unwrap();
    assert!(
        attempts.iter().any(|a| a.outcome == "dropped"),
        "{attempts:?}"
    );
    assert!(
        rig.metrics
            .dropped
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );
}

#[tokio::test]
async fn notifications_for_one_url_share_a_post() {
    let rig = Rig::start(NotifyConfig::default()).await;
    let (url, mut rx) = receiver(vec![]).await;
    rig.subscribe("s1", &url, None).await;
    rig.subscribe("s2", &url, None).await;
    rig.ingest(&["r1", "r2"]).await;
    let body = next(&mut rx).await;
    let subs: Vec<_> = body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["subscriptionId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(subs.len(), 4, "one POST for both subscriptions: {body}");
    assert!(subs.contains(&"s1".to_string()) && subs.contains(&"s2".to_string()));
}

#[tokio::test]
async fn an_expired_subscription_is_removed_and_gets_nothing() {
    let rig = Rig::start(NotifyConfig::default()).await;
    let (url, mut rx) = receiver(vec![Answer::Status(500)]).await;
    rig.subscribe("s1", &url, None).await;
    rig.ingest(&["r1"]).await;
    next(&mut rx).await; // the failed first attempt
    rig.advance(chrono::Duration::hours(49));
    while rig
        .store
        .subscription("tenant-1", "s1")
        .await
        .unwrap()
        .is_some()
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(rig.store.outbox_len().await.unwrap(), 0);
    assert!(rx.try_recv().is_err(), "nothing more was posted");
}

#[tokio::test]
async fn lapsed_authorization_holds_notifications_until_reauthorized() {
    let rig = Rig::start(NotifyConfig::default()).await;
    let (url, mut rx) = receiver(vec![]).await;
    rig.subscribe("s1", &url, None).await;
    let mut sub = rig
        .store
        .subscription("tenant-1", "s1")
        .await
        .unwrap()
        .unwrap();
    sub.authorized_until = rig.clock.now() - chrono::Duration::seconds(1);
    rig.store.update_subscription(&sub).await.unwrap();
    rig.ingest(&["r1"]).await;
    // Held: the row is looked at and put back, nothing is posted.
    while rig
        .store
        .next_due()
        .await
        .unwrap()
        .map(|d| d <= rig.clock.now())
        .unwrap_or(false)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(rx.try_recv().is_err());
    sub.authorized_until = rig.clock.now() + chrono::Duration::hours(1);
    rig.store.update_subscription(&sub).await.unwrap();
    rig.advance(chrono::Duration::minutes(1));
    let body = next(&mut rx).await;
    assert_eq!(resources(&body), ["communications/callRecords/r1"]);
}

#[tokio::test]
async fn reauthorization_is_requested_before_the_authorization_runs_out() {
    let rig = Rig::start(NotifyConfig::default()).await;
    let (url, _rx) = receiver(vec![]).await;
    let (lifecycle, mut life_rx) = receiver(vec![]).await;
    rig.subscribe("s1", &url, Some(&lifecycle)).await;
    let mut sub = rig
        .store
        .subscription("tenant-1", "s1")
        .await
        .unwrap()
        .unwrap();
    sub.authorized_until = rig.clock.now() + chrono::Duration::hours(1);
    rig.store.update_subscription(&sub).await.unwrap();
    // A quarter of an hour into its hour, the subscription is asked to reauthorize.
    rig.advance(chrono::Duration::minutes(16));
    let body = next(&mut life_rx).await;
    let n = &body["value"][0];
    assert_eq!(n["lifecycleEvent"], "reauthorizationRequired");
    assert_eq!(n["subscriptionId"], "s1");
    assert!(n.get("resource").is_none());
}

/// Timeouts short enough to trip the slow/drop rules quickly, judged after two answers.
fn touchy() -> NotifyConfig {
    NotifyConfig {
        first_timeout: Duration::from_millis(150),
        retry_timeout: Duration::from_millis(400),
        throttle_min_samples: 2,
        ..Default::default()
    }
}

async fn wait_attempts(rig: &Rig, sub: &str, n: usize) -> Vec<callhook_store::DeliveryAttempt> {
    loop {
        let a = rig.store.delivery_attempts(sub, 50).await.unwrap();
        if a.len() >= n {
            return a;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_slow_endpoint_gets_new_notifications_ten_minutes_late() {
    let rig = Rig::start(touchy()).await;
    // Every answer takes 250 ms: past the first timeout, within the retry timeout.
    let slow = vec![Answer::Stall(Duration::from_millis(250)); 2];
    let (url, mut rx) = receiver(slow).await;
    rig.subscribe("s1", &url, None).await;
    rig.ingest(&["r1"]).await;
    next(&mut rx).await; // first attempt: too slow
    wait_attempts(&rig, "s1", 1).await;
    rig.advance(chrono::Duration::minutes(1));
    next(&mut rx).await; // the retry: delivered, but slow too
    wait_attempts(&rig, "s1", 2).await;

    // Now judged slow: a new notification waits out the window.
    rig.ingest(&["r2"]).await;
    loop {
        match rig.store.next_due().await.unwrap() {
            Some(due) if due - rig.clock.now() > chrono::Duration::minutes(5) => break,
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    assert!(
        rx.try_recv().is_err(),
        "nothing is sent while the endpoint is slow"
    );
    rig.advance(chrono::Duration::minutes(11));
    let body = next(&mut rx).await;
    assert_eq!(resources(&body), ["communications/callRecords/r2"]);
}

/// Every log line this test binary writes, from any thread: one process-wide subscriber, since
/// a thread-scoped one can miss events while tests run in parallel (tracing caches each
/// callsite's interest globally). Tests pick their own lines out by subscription and cause.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(b);
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn global() -> Logs {
        static LOGS: std::sync::OnceLock<Logs> = std::sync::OnceLock::new();
        LOGS.get_or_init(|| {
            let logs = Logs::default();
            let writer = logs.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_ansi(false)
                .with_max_level(tracing::Level::INFO)
                .with_writer(move || writer.clone())
                .finish();
            // Fails only if a subscriber is already set, and this is the one place that sets it.
            let _ = tracing::subscriber::set_global_default(subscriber);
            logs
        })
        .clone()
    }

    fn text(&self) -> String {
        self.0
            .lock()
            .map(|v| String::from_utf8_lossy(&v).to_string())
            .unwrap_or_default()
    }
}

#[tokio::test]
async fn an_endpoint_past_the_retry_timeout_gets_new_notifications_dropped() {
    let logs = Logs::global();
    let rig = Rig::start(touchy()).await;
    let stalls = vec![Answer::Stall(Duration::from_secs(2)); 2];
    let (url, mut rx) = receiver(stalls).await;
    let (lifecycle, mut life_rx) = receiver(vec![]).await;
    rig.subscribe("s1", &url, Some(&lifecycle)).await;
    rig.ingest(&["r1"]).await;
    next(&mut rx).await;
    wait_attempts(&rig, "s1", 1).await;
    rig.advance(chrono::Duration::minutes(1));
    next(&mut rx).await; // the retry also stalls past its timeout
    wait_attempts(&rig, "s1", 2).await;

    // Judged dropped: a new notification is given up at once, with a `missed` event.
    rig.ingest(&["r2"]).await;
    let body = next(&mut life_rx).await;
    assert_eq!(body["value"][0]["lifecycleEvent"], "missed");
    let attempts = wait_attempts(&rig, "s1", 3).await;
    let dropped = attempts
        .iter()
        .find(|a| a.outcome == "dropped")
        .expect("a dropped notification");
    assert!(
        dropped
            .error
            .as_deref()
            .unwrap_or("")
            .contains("drop state"),
        "{dropped:?}"
    );
    // The operator's one line: the subscription, the receiver's host and the cause.
    let text = logs.text();
    let line = text
        .lines()
        .find(|l| l.contains("notifications dropped") && l.contains("drop state"))
        .unwrap_or_else(|| panic!("no give-up line in {text}"));
    assert!(
        line.contains("WARN")
            && line.contains("subscription=s1")
            && line.contains("host=127.0.0.1"),
        "{line}"
    );
}

/// A loopback TCP server that closes its first `drops` connections without a word, then answers
/// every request `202 Accepted` and forwards the request bodies.
async fn socket_closer(drops: usize) -> (String, mpsc::UnboundedReceiver<Value>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut seen = 0usize;
        while let Ok((mut sock, _)) = listener.accept().await {
            seen += 1;
            if seen <= drops {
                drop(sock);
                continue;
            }
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                loop {
                    let Ok(n) = sock.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    let Some(end) = text.find("\r\n\r\n") else {
                        continue;
                    };
                    let len = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if buf.len() < end + 4 + len {
                        continue;
                    }
                    let body = &buf[end + 4..end + 4 + len];
                    let _ = tx.send(serde_json::from_slice(body).unwrap_or(Value::Null));
                    let _ = sock
                        .write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")
                        .await;
                    buf.drain(..end + 4 + len);
                }
            });
        }
    });
    (format!("http://{addr}/hook"), rx)
}

#[tokio::test]
async fn a_receiver_that_closes_the_socket_gets_it_again() {
    let rig = Rig::start(NotifyConfig::default()).await;
    let (url, mut rx) = socket_closer(1).await;
    rig.subscribe("s1", &url, None).await;
    rig.ingest(&["r1"]).await;
    let attempts = wait_attempts(&rig, "s1", 1).await;
    assert_eq!(
        (attempts[0].outcome.as_str(), attempts[0].status),
        ("retry", None)
    );
    rig.advance(chrono::Duration::minutes(5));
    let body = next(&mut rx).await;
    assert_eq!(resources(&body), ["communications/callRecords/r1"]);
}

#[tokio::test]
async fn a_receiver_down_for_an_hour_gets_everything_when_it_comes_back() {
    let rig = Rig::start(NotifyConfig::default()).await;
    // Reserve a port, and leave it closed for now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/hook");
    rig.subscribe("s1", &url, None).await;
    rig.ingest(&["r1", "r2"]).await;
    wait_attempts(&rig, "s1", 1).await;
    rig.advance(chrono::Duration::minutes(30));
    wait_attempts(&rig, "s1", 2).await;

    // The receiver comes up on that port an hour in; the next retry reaches it.
    let (tx, mut rx) = mpsc::unbounded_channel();
    let state = Receiver {
        script: Arc::new(Mutex::new(VecDeque::new())),
        seen: tx,
    };
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    rig.advance(chrono::Duration::minutes(30));
    let body = next(&mut rx).await;
    assert_eq!(
        resources(&body),
        [
            "communications/callRecords/r1",
            "communications/callRecords/r2"
        ]
    );
}

#[tokio::test]
async fn busy_subscriptions_sharing_a_url_fill_posts_of_their_own_and_keep_their_order() {
    let rig = Rig::start(NotifyConfig::default()).await;
    let (url, mut rx) = receiver(vec![]).await;
    for sub in ["s1", "s2", "s3"] {
        rig.subscribe(sub, &url, None).await;
    }
    // A backlog: 150 records, so 150 notifications per subscription, all due at once.
    rig.paused.store(true, std::sync::atomic::Ordering::Relaxed);
    let names: Vec<String> = (0..150).map(|i| format!("rec-{i:03}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    rig.ingest(&refs).await;
    rig.paused
        .store(false, std::sync::atomic::Ordering::Relaxed);
    rig.wake.notify_one();

    let mut per_sub: std::collections::HashMap<String, Vec<String>> = Default::default();
    let mut single_sub_full_posts = 0;
    let mut received = 0;
    while received < 450 {
        let body = next(&mut rx).await;
        let items = body["value"].as_array().unwrap();
        assert!(items.len() <= 100, "a POST holds at most max_batch items");
        let subs: std::collections::HashSet<&str> = items
            .iter()
            .map(|n| n["subscriptionId"].as_str().unwrap())
            .collect();
        if items.len() == 100 && subs.len() == 1 {
            single_sub_full_posts += 1;
        }
        for n in items {
            per_sub
                .entry(n["subscriptionId"].as_str().unwrap().to_string())
                .or_default()
                .push(n["resourceData"]["id"].as_str().unwrap().to_string());
        }
        received += items.len();
    }
    assert_eq!(
        single_sub_full_posts, 3,
        "each subscription's first 100 went in a full POST of its own"
    );
    for sub in ["s1", "s2", "s3"] {
        assert_eq!(per_sub[sub], names, "{sub} got everything, in order");
    }
}

#[tokio::test]
async fn a_stuck_tenant_never_delays_another_tenants_notifications() {
    // One notification per POST, and POSTs that stay in flight for 10 s: every stuck stream
    // holds its backlog for as long as a read could need to get past it.
    let config = NotifyConfig {
        max_batch: 1,
        first_timeout: Duration::from_secs(10),
        ..NotifyConfig::default()
    };
    let rig = Rig::start(config).await;
    // Tenant 2: six subscriptions on a webhook that never answers in time (more than its URL's
    // four POST slots), 50 notifications each.
    let (stuck, mut stuck_rx) = receiver(vec![Answer::Stall(Duration::from_secs(60)); 6]).await;
    for i in 0..6 {
        rig.subscribe_in("tenant-2", &format!("stuck-{i}"), &stuck, None)
            .await;
    }
    let names: Vec<String> = (0..50).map(|i| format!("stuck-rec-{i:02}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    rig.ingest_in("tenant-2", &refs).await;
    for _ in 0..4 {
        next(&mut stuck_rx).await;
    }

    // Tenant 1's one record reaches its healthy webhook at once.
    let (healthy, mut rx) = receiver(vec![]).await;
    rig.subscribe("healthy", &healthy, None).await;
    let started = std::time::Instant::now();
    rig.ingest(&["fresh"]).await;
    let body = next(&mut rx).await;
    let waited = started.elapsed();
    assert_eq!(resources(&body), ["communications/callRecords/fresh"]);
    assert!(
        waited < Duration::from_secs(1),
        "the healthy tenant waited {waited:?} behind the stuck one"
    );
    assert!(
        stuck_rx.try_recv().is_err(),
        "the stuck URL never gets more than its four POST slots"
    );
}
