//! Alerts on the collector's store (SQLite and PostgreSQL; the PostgreSQL half is skipped with a
//! notice when `CALLHOOK_TEST_POSTGRES_URL` is unreachable unless `CALLHOOK_REQUIRE_POSTGRES=1`):
//! an alert is recorded once, a failing channel is retried with backoff, a restart re-delivers
//! what never succeeded and nothing twice, Teams gets its Adaptive Card envelope, and a
//! simulator-staged degraded building raises exactly its alert, once, then cools down.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::routing::post;
use axum::Router;
use callhook_alerts::{channels, Alerter, AlertsConfig};
use callhook_collector::store::Store;
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{json, Value};
use tokio::sync::watch;

/// A loopback alert receiver: keeps every POST (path and JSON body) and answers 500 while
/// `failing` is set.
#[derive(Clone)]
struct Receiver {
    posts: Arc<Mutex<Vec<(String, Value, u16)>>>,
    failing: Arc<Mutex<bool>>,
    count: watch::Sender<usize>,
    url: String,
}

async fn receive(State(r): State<Receiver>, uri: Uri, body: Bytes) -> StatusCode {
    let fail = *r.failing.lock().expect("lock");
    let status = if fail {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    r.posts
        .lock()
        .expect("lock")
        .push((uri.path().to_string(), v, status.as_u16()));
    r.count.send_modify(|n| *n += 1);
    status
}

impl Receiver {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let r = Receiver {
            posts: Arc::default(),
            failing: Arc::default(),
            count: watch::channel(0).0,
            url,
        };
        let app = Router::new()
            .route("/{*path}", post(receive))
            .with_state(r.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        r
    }

    fn posts(&self) -> Vec<(String, Value, u16)> {
        self.posts.lock().expect("lock").clone()
    }

    fn fail(&self, on: bool) {
        *self.failing.lock().expect("lock") = on;
    }
}

async fn postgres_database() -> Result<String, String> {
    use sqlx::{ConnectOptions, Connection};
    use std::str::FromStr;
    let admin = std::env::var("CALLHOOK_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let options = sqlx::postgres::PgConnectOptions::from_str(&admin).map_err(|e| e.to_string())?;
    let mut conn = options
        .connect()
        .await
        .map_err(|e| format!("PostgreSQL at {admin}: {e}"))?;
    // Named like callhook's test databases, so `.ci/run` sweeps them.
    let name = format!(
        "callhook_test_{}_{}",
        Utc::now().timestamp(),
        uuid::Uuid::new_v4().simple()
    );
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    let _ = conn.close().await;
    Ok(options.database(&name).to_url_lossy().to_string())
}

/// Where each backend's store lives: a SQLite file, and a fresh PostgreSQL database.
async fn targets(test: &str) -> (Vec<String>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut out = vec![dir.path().join("c.db").display().to_string()];
    match postgres_database().await {
        Ok(url) => out.push(url),
        Err(e) if std::env::var("CALLHOOK_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") => {
            panic!("CALLHOOK_REQUIRE_POSTGRES=1 but {e}")
        }
        Err(e) => eprintln!("SKIPPED the PostgreSQL half of {test}: {e}"),
    }
    (out, dir)
}

fn emergency_event(id: &str) -> Value {
    json!({"emergencyCallEvent": {
        "id": id, "callEventType": "callStarted", "policyName": "Redmond HQ",
        "eventDateTime": "2026-03-02T09:15:00Z", "emergencyNumberDialed": "933",
        "callerInfo": {"displayName": "Adele Vance", "upn": "adele@contoso.example",
            "phoneNumber": "+14255550123",
            "location": {"address": {"street": "1 Microsoft Way", "city": "Redmond",
                "state": "WA", "countryOrRegion": "US"}}}}})
}

fn config(receiver: &Receiver) -> AlertsConfig {
    AlertsConfig::parse(&format!(
        r#"
retry_initial = "1s"
retry_max = "1m"
[[channel]]
name = "hook"
kind = "webhook"
url = "{0}/hook"
[[channel]]
name = "teams"
kind = "teams"
url = "{0}/teams?sig=secret"
[[rule]]
name = "emergency"
kind = "emergency"
"#,
        receiver.url
    ))
    .expect("config")
}

#[tokio::test]
async fn an_alert_is_recorded_once_retried_while_its_channel_fails_and_redelivered_once_after_a_restart(
) {
    let (targets, _dir) = targets("alerts_outbox").await;
    for target in targets {
        let r = Receiver::start().await;
        let store = Store::open(&target, 2).await.expect("store");
        let alerter = Alerter::new(config(&r), store.clone())
            .await
            .expect("alerter");
        let t0 = Utc::now();
        assert_eq!(
            alerter
                .emergency_event("t1", &emergency_event("em-1"))
                .await
                .expect("raise"),
            1
        );
        // The same event again (a redelivered notification) is not a second alert.
        assert_eq!(
            alerter
                .emergency_event("t1", &emergency_event("em-1"))
                .await
                .expect("raise"),
            0
        );

        // Both channels fail: one attempt each, then each waits its backoff.
        r.fail(true);
        assert_eq!(
            alerter
                .deliver_due(t0 + Duration::seconds(1))
                .await
                .expect("deliver"),
            0
        );
        assert_eq!(r.posts().len(), 2);
        assert!(r.posts().iter().all(|p| p.2 == 500));
        assert_eq!(
            alerter
                .deliver_due(t0 + Duration::seconds(1))
                .await
                .expect("deliver"),
            0
        );
        assert_eq!(r.posts().len(), 2, "not retried before its backoff");
        // The second failure doubles the wait.
        assert_eq!(
            alerter
                .deliver_due(t0 + Duration::seconds(10))
                .await
                .expect("deliver"),
            0
        );
        assert_eq!(r.posts().len(), 4);
        let listed = alerter
            .outbox
            .list(t0 - Duration::hours(1), 10)
            .await
            .expect("list");
        assert_eq!(listed.len(), 1);
        assert!(listed[0].deliveries.iter().all(|d| d.attempts == 2
            && d.delivered_at.is_none()
            && d.last_error.as_deref() == Some("answered 500 Internal Server Error")));
        drop(alerter);
        store.close().await;

        // A restart on the same database: the channels work again; each gets the alert once.
        r.fail(false);
        let store = Store::open(&target, 2).await.expect("store");
        let alerter = Alerter::new(config(&r), store.clone())
            .await
            .expect("alerter");
        assert_eq!(
            alerter
                .emergency_event("t1", &emergency_event("em-1"))
                .await
                .expect("raise"),
            0
        );
        assert_eq!(
            alerter
                .deliver_due(t0 + Duration::minutes(5))
                .await
                .expect("deliver"),
            2
        );
        assert_eq!(
            alerter
                .deliver_due(t0 + Duration::hours(5))
                .await
                .expect("deliver"),
            0
        );
        let ok: Vec<_> = r.posts().into_iter().filter(|p| p.2 == 200).collect();
        assert_eq!(ok.len(), 2, "{ok:?}");
        let hook = ok.iter().find(|p| p.0 == "/hook").expect("webhook POST");
        assert_eq!(hook.1["ruleName"], "emergency");
        assert_eq!(hook.1["severity"], "critical");
        assert_eq!(hook.1["late"], false);
        assert_eq!(hook.1["scope"], "adele@contoso.example");
        assert_eq!(hook.1["details"]["emergencyNumberDialed"], "933");
        let teams = ok.iter().find(|p| p.0 == "/teams").expect("Teams POST");
        assert_eq!(teams.1["type"], "message");
        assert_eq!(
            teams.1["attachments"][0]["contentType"],
            channels::ADAPTIVE_CARD
        );
        let listed = alerter
            .outbox
            .list(t0 - Duration::hours(1), 10)
            .await
            .expect("list");
        assert!(listed[0]
            .deliveries
            .iter()
            .all(|d| d.attempts == 3 && d.delivered_at.is_some()));
        store.close().await;
    }
}

#[test]
fn a_teams_workflows_message_carries_an_adaptive_card_1_4() {
    let alert = callhook_alerts::Alert {
        alert_id: "a1".into(),
        tenant_id: "t".into(),
        rule_name: "building-quality".into(),
        rule_type: "poor-stream-rate".into(),
        severity: "warning".into(),
        alert_title: "Building HQ: poor-stream rate 40.0 %".into(),
        summary: "8 of 20 classified streams were poor.".into(),
        scope: "HQ".into(),
        late: false,
        alert_raised_at: Utc
            .with_ymd_and_hms(2026, 3, 12, 4, 0, 0)
            .single()
            .expect("time"),
        facts: vec![("Building".into(), "HQ".into())],
        details: json!({}),
        dedup_key: "k".into(),
    };
    let m = channels::teams_message(&alert);
    assert_eq!(m["type"], "message");
    let attachments = m["attachments"].as_array().expect("attachments");
    assert_eq!(attachments.len(), 1);
    assert_eq!(
        attachments[0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let card = &attachments[0]["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["version"], "1.4");
    assert_eq!(
        card["$schema"],
        "http://adaptivecards.io/schemas/adaptive-card.json"
    );
    let body = card["body"].as_array().expect("body");
    assert_eq!(body[0]["type"], "TextBlock");
    assert_eq!(body[0]["text"], alert.alert_title);
    let facts = body
        .iter()
        .find(|b| b["type"] == "FactSet")
        .expect("fact set");
    assert_eq!(
        facts["facts"][0],
        json!({"title": "Building", "value": "HQ"})
    );
    // Every element is a type Adaptive Cards 1.4 knows.
    for b in body {
        assert!(
            ["TextBlock", "FactSet"].contains(&b["type"].as_str().unwrap_or("")),
            "{b}"
        );
    }
}

const SCENARIO: &str = r#"
name = "one degraded building"
[[building]]
name = "Contoso HQ"
networks = ["10.50.0.0/16"]

[[incident]]
kind = "network"
building = "Contoso HQ"
start = "+12h"
duration = "1h"
calls = 20
packet_loss = 0.2
jitter_ms = 60
round_trip_ms = 700
"#;

#[tokio::test]
async fn a_staged_degraded_building_raises_exactly_its_alert_once_then_cools_down() {
    use callhook_sim::scenario::Scenario;
    let now = Utc
        .with_ymd_and_hms(2026, 3, 12, 15, 0, 0)
        .single()
        .expect("time");
    let scenario = Scenario::parse(SCENARIO).expect("scenario");
    let from = now - Duration::days(1);
    let staging = scenario.resolve(from, now, 5).expect("resolve");
    let mut cfg = callhook_sim::SimConfig::new("11111111-2222-3333-4444-555555555555", now);
    cfg.calls = 200;
    cfg.users = 30;
    cfg.days = 1;
    let plan = callhook_sim::generate_staged(&cfg, 0, Some(&staging));
    let dir = tempfile::tempdir().expect("tempdir");
    let buildings = dir.path().join("buildings.csv");
    let file = scenario
        .building_file()
        .expect("buildings")
        .expect("a building file");
    std::fs::write(&buildings, file.to_csv()).expect("write");
    let config = AlertsConfig::parse(&format!(
        r#"
building_file = "{}"
[[channel]]
name = "log"
kind = "log"
[[rule]]
name = "building-quality"
kind = "poor-stream-rate"
scope = "building"
threshold = 0.3
window = "1h"
min_samples = 20
cooldown = "3h"
"#,
        buildings.display()
    ))
    .expect("config");
    let store = Store::open(&dir.path().join("c.db").display().to_string(), 2)
        .await
        .expect("store");
    let alerter = Alerter::new(config, store).await.expect("alerter");
    for r in &plan.call_records {
        alerter.record(&cfg.tenant_id, r).await.expect("record");
    }
    let incident = &staging.incidents[0];
    let (start, end): (DateTime<Utc>, DateTime<Utc>) = (incident.start, incident.end);
    // Every evaluation interval over the day: only the incident's hour breaches, and the
    // cooldown holds back the breaches after the first.
    let mut raised = Vec::new();
    let mut t = from;
    while t <= now {
        if alerter.evaluate(t).await.expect("evaluate") > 0 {
            raised.push(t);
        }
        t += Duration::minutes(10);
    }
    assert_eq!(raised.len(), 1, "alerts at {raised:?}");
    assert!(
        raised[0] > start && raised[0] <= end + Duration::hours(1),
        "{raised:?} vs {start}..{end}"
    );
    let listed = alerter.outbox.list(from, 10).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].alert.scope, "Contoso HQ");
    assert_eq!(listed[0].alert.rule_type, "poor-stream-rate");
    let rate = listed[0].alert.details["poorStreamRate"]
        .as_f64()
        .expect("rate");
    assert!(rate > 0.3, "{rate}");
}

#[tokio::test]
async fn a_staged_poor_streak_raises_one_alert_for_its_user() {
    use callhook_sim::scenario::Scenario;
    let now = Utc
        .with_ymd_and_hms(2026, 3, 12, 15, 0, 0)
        .single()
        .expect("time");
    let scenario = Scenario::parse(
        "[[incident]]\nkind = \"poor-streak\"\ncalls = 6\n\
         start = \"+6h\"\nduration = \"6h\"\n",
    )
    .expect("scenario");
    let staging = scenario
        .resolve(now - Duration::days(1), now, 9)
        .expect("resolve");
    let mut cfg = callhook_sim::SimConfig::new("11111111-2222-3333-4444-555555555555", now);
    cfg.calls = 120;
    cfg.users = 20;
    cfg.days = 1;
    let plan = callhook_sim::generate_staged(&cfg, 0, Some(&staging));
    let dir = tempfile::tempdir().expect("tempdir");
    let config = AlertsConfig::parse(
        "[[channel]]\nname = \"log\"\nkind = \"log\"\n\
         [[rule]]\nname = \"streak\"\nkind = \"poor-streak\"\ncalls = 3\nwindow = \"8h\"\ncooldown = \"1d\"\n",
    )
    .expect("config");
    let store = Store::open(&dir.path().join("c.db").display().to_string(), 2)
        .await
        .expect("store");
    let alerter = Alerter::new(config, store).await.expect("alerter");
    for r in &plan.call_records {
        alerter.record(&cfg.tenant_id, r).await.expect("record");
    }
    let listed = alerter
        .outbox
        .list(Utc::now() - Duration::hours(1), 10)
        .await
        .expect("list");
    let user_id = plan
        .staged
        .iter()
        .find_map(|i| i.user_id.clone())
        .expect("the streak's user");
    let upn = plan
        .users
        .iter()
        .find(|u| u["id"] == user_id.as_str())
        .and_then(|u| u["userPrincipalName"].as_str())
        .expect("the user's UPN")
        .to_string();
    let scopes: Vec<&str> = listed.iter().map(|a| a.alert.scope.as_str()).collect();
    // Background traffic (about one poor call in ten) makes a few streaks of three of its own;
    // the staged user's streak is among them, once despite six poor calls (the cooldown).
    let mine: Vec<_> = listed.iter().filter(|a| a.alert.scope == upn).collect();
    assert_eq!(mine.len(), 1, "{scopes:?}");
    assert_eq!(mine[0].alert.details["userId"], user_id.as_str());
}
